//! Backfill: OpenMetrics text with timestamps → blocks (`diamond tsdb create-blocks-from openmetrics`),
//! as promtool's `tsdb create-blocks-from openmetrics` does.
//!
//! [`parse_openmetrics`] reads the whole input with the exposition crate's parser (the same one the scrape
//! loop uses) into series, checking what a block needs: every sample has a timestamp, and the samples of a
//! series come in increasing time order (an identical repeated sample is skipped; the same timestamp
//! with another value is an error, as Prometheus's appender rejects it). Every failure names the line.
//! [`write_blocks`] cuts the series into blocks aligned to the block duration (2 h by default; see
//! [`block_duration`]) and writes each with [`crate::block::BlockWriter`] (temporary directory, fsyncs,
//! rename). Exemplars and metadata lines are read and dropped: blocks hold samples only (promtool drops
//! them too).
//!
//! ```
//! use std::sync::Arc;
//! use diamond_tsdb::backfill::{parse_openmetrics, write_blocks, DEFAULT_BLOCK_DURATION};
//! use diamond_tsdb::fs::{Dir, MemDir};
//!
//! let input = b"# TYPE up gauge\nup{job=\"a\"} 1 1700000000\nup{job=\"a\"} 0 1700000015.5\n# EOF\n";
//! let series = parse_openmetrics(input).unwrap();
//! assert_eq!(series.num_samples(), 2);
//! let root: Arc<dyn Dir> = Arc::new(MemDir::new());
//! let metas = write_blocks(&root, &series, DEFAULT_BLOCK_DURATION).unwrap();
//! assert_eq!(metas.len(), 1);
//! assert_eq!(metas[0].min_time % DEFAULT_BLOCK_DURATION, 0);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use diamond_exposition::{Entry, Format, Parser};
use diamond_model::{Labels, Timestamp};

use crate::block::{self, BlockMeta, BlockWriter, ChunkData};
use crate::chunk::encode_chunks;
use crate::fs::Dir;

/// Prometheus's default block duration, 2 h in ms.
pub const DEFAULT_BLOCK_DURATION: i64 = 2 * 3600 * 1000;

/// Why the input cannot be backfilled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The exposition parser refused a line.
    #[error("line {line}:{column}: {message}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A sample has no timestamp (a block needs one on every sample).
    #[error("line {line}: sample {series} has no timestamp; every sample to backfill needs one")]
    NoTimestamp {
        /// 1-based line.
        line: usize,
        /// The series.
        series: String,
    },
    /// A series' samples go back in time.
    #[error("line {line}: sample of {series} at {t} ms is older than its previous sample at {prev} ms (out of order)")]
    OutOfOrder {
        /// 1-based line.
        line: usize,
        /// The series.
        series: String,
        /// This sample's time.
        t: Timestamp,
        /// The previous sample's time.
        prev: Timestamp,
    },
    /// The same series and timestamp with another value.
    #[error("line {line}: sample of {series} at {t} ms repeats a timestamp with a different value")]
    Duplicate {
        /// 1-based line.
        line: usize,
        /// The series.
        series: String,
        /// The timestamp.
        t: Timestamp,
    },
    /// The input has no sample at all.
    #[error("no samples found")]
    Empty,
}

/// Parsed input: series in label order, each with samples in increasing time order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Series {
    /// Samples by series.
    pub by_labels: BTreeMap<Labels, Vec<(Timestamp, f64)>>,
}

impl Series {
    /// Samples in total.
    pub fn num_samples(&self) -> usize {
        self.by_labels.values().map(Vec::len).sum()
    }

    /// First and last timestamp, `None` when empty.
    pub fn time_range(&self) -> Option<(Timestamp, Timestamp)> {
        let min = self.by_labels.values().filter_map(|v| v.first()).map(|s| s.0).min()?;
        let max = self.by_labels.values().filter_map(|v| v.last()).map(|s| s.0).max()?;
        Some((min, max))
    }
}

/// Parses OpenMetrics text (ending in `# EOF`) whose samples all carry timestamps. See the module docs.
pub fn parse_openmetrics(input: &[u8]) -> Result<Series, Error> {
    let mut p = Parser::new(input, Format::OpenMetrics);
    let mut out = Series::default();
    // Series text → labels, so a repeated series is not re-parsed.
    let mut known: std::collections::HashMap<&[u8], Labels> = std::collections::HashMap::new();
    while let Some(e) = p.next() {
        let e = e.map_err(|e| Error::Parse {
            line: e.line,
            column: e.column,
            message: e.kind.to_string(),
        })?;
        let Entry::Sample(s) = e else { continue };
        let line = p.entry_line();
        let labels = match known.get(s.series().as_bytes()) {
            Some(l) => l.clone(),
            None => {
                let l = s.labels();
                known.insert(s.series().as_bytes(), l.clone());
                l
            }
        };
        let Some(t) = s.timestamp_ms() else {
            return Err(Error::NoTimestamp {
                line,
                series: labels.to_string(),
            });
        };
        let v = s.value();
        let samples = match out.by_labels.get_mut(&labels) {
            Some(v) => v,
            None => out.by_labels.entry(labels.clone()).or_default(),
        };
        if let Some(&(pt, pv)) = samples.last() {
            if t < pt {
                return Err(Error::OutOfOrder {
                    line,
                    series: labels.to_string(),
                    t,
                    prev: pt,
                });
            }
            if t == pt {
                if pv.to_bits() == v.to_bits() {
                    continue;
                }
                return Err(Error::Duplicate {
                    line,
                    series: labels.to_string(),
                    t,
                });
            }
        }
        samples.push((t, v));
    }
    if out.num_samples() == 0 {
        return Err(Error::Empty);
    }
    Ok(out)
}

/// The block duration for `--max-block-duration`, as promtool picks it: the largest of 2 h × 3^k
/// (k < 10) that is at most `max`, and 2 h when `max` is below that.
pub fn block_duration(max: i64) -> i64 {
    let mut d = DEFAULT_BLOCK_DURATION;
    for _ in 0..9 {
        match d.checked_mul(3) {
            Some(n) if n <= max => d = n,
            _ => break,
        }
    }
    d
}

/// Writes `series` as blocks of `duration` ms aligned to multiples of it, oldest first, into `root`.
/// Returns their metas. Empty ranges get no block.
pub fn write_blocks(root: &Arc<dyn Dir>, series: &Series, duration: i64) -> Result<Vec<BlockMeta>, block::Error> {
    let duration = duration.max(1);
    let mut out = Vec::new();
    let Some((min, max)) = series.time_range() else {
        return Ok(out);
    };
    let mut start = min.div_euclid(duration).saturating_mul(duration);
    loop {
        let end = start.saturating_add(duration);
        let mut parts: Vec<(&Labels, Vec<crate::chunk::EncodedChunk>)> = Vec::new();
        for (l, samples) in &series.by_labels {
            let lo = samples.partition_point(|s| s.0 < start);
            let hi = samples.partition_point(|s| s.0 < end);
            if lo < hi {
                parts.push((l, encode_chunks(samples[lo..hi].iter().copied(), i64::MAX)));
            }
        }
        if !parts.is_empty() {
            let mut symbols: Vec<String> = parts
                .iter()
                .flat_map(|(l, _)| l.iter().flat_map(|x| [x.name.to_string(), x.value.to_string()]))
                .collect();
            symbols.sort_unstable();
            symbols.dedup();
            let mut w = BlockWriter::new(Arc::clone(root), start, end, symbols)?;
            for (l, chunks) in &parts {
                let cd: Vec<ChunkData<'_>> = chunks
                    .iter()
                    .map(|(a, b, d)| ChunkData {
                        min_time: *a,
                        max_time: *b,
                        data: d,
                    })
                    .collect();
                w.add_series(l, &cd)?;
            }
            if let Some(m) = w.finish(1, Vec::new(), Vec::new())? {
                out.push(m);
            }
        }
        if end > max || end == i64::MAX {
            return Ok(out);
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_promtool() {
        assert_eq!(block_duration(0), DEFAULT_BLOCK_DURATION);
        assert_eq!(block_duration(DEFAULT_BLOCK_DURATION * 3 - 1), DEFAULT_BLOCK_DURATION);
        assert_eq!(block_duration(DEFAULT_BLOCK_DURATION * 3), DEFAULT_BLOCK_DURATION * 3);
        assert_eq!(block_duration(31 * 24 * 3600 * 1000), DEFAULT_BLOCK_DURATION * 243);
        assert_eq!(block_duration(i64::MAX), DEFAULT_BLOCK_DURATION * 3i64.pow(9));
    }

    #[test]
    fn errors_name_the_line() {
        let e = |s: &str| parse_openmetrics(s.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            e("a 1 10\na 2\n# EOF\n"),
            "line 2: sample {__name__=\"a\"} has no timestamp; every sample to backfill needs one"
        );
        assert_eq!(
            e("a 1 10\nb 1 5\na 2 9\n# EOF\n"),
            "line 3: sample of {__name__=\"a\"} at 9000 ms is older than its previous sample at 10000 ms (out of order)"
        );
        assert_eq!(
            e("a 1 10\na 2 10\n# EOF\n"),
            "line 2: sample of {__name__=\"a\"} at 10000 ms repeats a timestamp with a different value"
        );
        assert_eq!(e("a 1 10\n"), "line 2:1: data does not end with # EOF");
        assert!(e("a{ 1 10\n# EOF\n").starts_with("line 1:"));
        assert_eq!(e("# TYPE a gauge\n# EOF\n"), "no samples found");
        // An identical repeated sample is skipped.
        let s = parse_openmetrics(b"a 1 10\na 1 10\na 2 11\n# EOF\n").unwrap();
        assert_eq!(s.num_samples(), 2);
    }
}
