//! Chunks: the compressed sample encoding of the head (and, later, of blocks).
//!
//! [`xor`] holds the Prometheus-compatible XOR float codec ([`XorAppender`] to encode, [`XorIter`] to decode),
//! built on the bit stream of [`bstream`]. Byte layout: `docs/format/chunks.md`. The codecs are pure: they know
//! nothing about series, files or locks.
//!
//! ```
//! use diamond_tsdb::chunk::{XorAppender, XorIter};
//! let mut a = XorAppender::new();
//! a.append(1000, 1.0);
//! a.append(2000, 2.0);
//! let got: Vec<_> = XorIter::new(a.bytes()).collect::<Result<_, _>>().unwrap();
//! assert_eq!(got, vec![(1000, 1.0), (2000, 2.0)]);
//! ```

pub mod bstream;
pub mod xor;

pub use xor::{XorAppender, XorCheckpoint, XorIter};

/// The number of samples a chunk aims at (Prometheus's `samplesPerChunk`). A chunk may hold up to twice as
/// many: see [`ChunkEnd`].
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// When the chunk being filled is cut, as Prometheus's head decides it (`appendPreprocessor` and
/// `computeChunkEndTime` in its `head_append.go`), so that chunks, and therefore bytes per sample and
/// the index's chunk count, come out the same as Prometheus's from the same samples.
///
/// A chunk starts with its end at the next chunk-range boundary. When it holds a quarter of
/// [`SAMPLES_PER_CHUNK`], the time those samples took predicts how many chunks of about
/// [`SAMPLES_PER_CHUNK`] the rest of the range needs, rounded down, and the end moves so those chunks
/// come out the same length. Rounding down means chunks of up to twice the target rather than a short
/// last one (324 samples left in a range: two chunks of 162, not 120 + 120 + 84), which is what made
/// Diamond's blocks 0.3 % larger than Prometheus's before this rule (BENCHMARKS.md). A chunk is cut
/// regardless at twice the target, for a rate that rises after the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkEnd(i64);

impl ChunkEnd {
    /// The end of a chunk whose first sample is at `t`: the next multiple of `range` ms.
    pub fn starting_at(t: i64, range: i64) -> ChunkEnd {
        ChunkEnd(range_end(t, range))
    }

    /// Whether the chunk (`num_samples` samples from `first_t` to `last_t`) is cut before a sample at
    /// `t`, updating the predicted end when the chunk has reached a quarter of the target.
    pub fn cut_before(&mut self, num_samples: u16, first_t: i64, last_t: i64, t: i64) -> bool {
        if num_samples == SAMPLES_PER_CHUNK / 4 {
            self.0 = predicted_end(first_t, last_t, self.0);
        }
        t >= self.0 || num_samples >= 2 * SAMPLES_PER_CHUNK
    }
}

/// The next multiple of `range` ms after `t` (the end of `t`'s chunk range).
pub fn range_end(t: i64, range: i64) -> i64 {
    t.div_euclid(range.max(1))
        .saturating_add(1)
        .saturating_mul(range.max(1))
}

/// Prometheus's `computeChunkEndTime(start, cur, maxT, 4)`: the samples from `start` to `cur` are a
/// quarter of a chunk; the end that splits the rest of the time to `max_t` into equal chunks.
fn predicted_end(start: i64, cur: i64, max_t: i64) -> i64 {
    let n = (max_t as f64 - start as f64) / ((cur as f64 - start as f64 + 1.0) * 4.0);
    if n <= 1.0 {
        return max_t;
    }
    (start as f64 + (max_t as f64 - start as f64) / n.floor()) as i64
}

/// Why a chunk could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The chunk is shorter than its header says.
    #[error("chunk truncated at sample {sample}")]
    Truncated {
        /// Index of the sample that could not be read.
        sample: u16,
    },
    /// A varint is malformed or overflows.
    #[error("bad varint at sample {sample}")]
    BadVarint {
        /// Index of the sample that could not be read.
        sample: u16,
    },
}

/// An encoded chunk with its first and last timestamps.
pub type EncodedChunk = (i64, i64, Box<[u8]>);

/// Encodes ascending samples into XOR chunks cut as the head cuts them ([`ChunkEnd`]), so a chunk never
/// spans a multiple of `range` ms (a block boundary). Used where data is rewritten: `clean_tombstones`,
/// snapshots, backfill (promtool's backfill appends through a head, so its chunks follow the same rule).
pub fn encode_chunks(samples: impl IntoIterator<Item = (i64, f64)>, range: i64) -> Vec<EncodedChunk> {
    let mut out = Vec::new();
    let mut app: Option<(XorAppender, ChunkEnd)> = None;
    for (t, v) in samples {
        let full = app
            .as_mut()
            .is_some_and(|(a, end)| end.cut_before(a.num_samples(), a.first_t(), a.last_t(), t));
        if full && let Some((a, _)) = app.take() {
            out.push((a.first_t(), a.last_t(), a.into_bytes()));
        }
        let (a, _) = app.get_or_insert_with(|| (XorAppender::new(), ChunkEnd::starting_at(t, range)));
        a.append(t, v);
    }
    if let Some((a, _)) = app {
        out.push((a.first_t(), a.last_t(), a.into_bytes()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(samples: &[(i64, f64)], range: i64) -> Vec<usize> {
        encode_chunks(samples.iter().copied(), range)
            .iter()
            .map(|c| XorIter::new(&c.2).count())
            .collect()
    }

    const TWO_HOURS: i64 = 2 * 3600 * 1000;

    #[test]
    fn encode_chunks_cuts_as_prometheus_head() {
        // A full 2 h range at 15 s: four chunks of 120.
        let s: Vec<(i64, f64)> = (0..480).map(|i| (i * 15_000, i as f64)).collect();
        assert_eq!(counts(&s, TWO_HOURS), vec![120; 4]);
        // 81 minutes left in the range (324 samples): the prediction rounds 2.79 chunks down to two of 162,
        // where a hard cut at 120 made 120 + 120 + 84.
        let start = TWO_HOURS - 324 * 15_000;
        let s: Vec<(i64, f64)> = (0..324).map(|i| (start + i * 15_000, i as f64)).collect();
        assert_eq!(counts(&s, TWO_HOURS), vec![162, 162]);
        // 25 s over a range: 288 samples, 2.48 predicted chunks, two of 144.
        let s: Vec<(i64, f64)> = (0..288).map(|i| (i * 25_000, i as f64)).collect();
        assert_eq!(counts(&s, TWO_HOURS), vec![144, 144]);
        // 60 s: the range is one chunk of 120.
        let s: Vec<(i64, f64)> = (0..120).map(|i| (i * 60_000, i as f64)).collect();
        assert_eq!(counts(&s, TWO_HOURS), vec![120]);
        // Samples that speed up after the prediction: cut at twice the target.
        let mut s: Vec<(i64, f64)> = (0..30).map(|i| (i * 60_000, i as f64)).collect();
        s.extend((0..400).map(|i| (30 * 60_000 + i * 100, i as f64)));
        // The next chunk predicts again from its own first 30 samples.
        assert_eq!(counts(&s, TWO_HOURS), vec![240, 117, 73]);
        // A chunk never spans a range boundary.
        let s: Vec<(i64, f64)> = (0..300).map(|i| (i * 10, i as f64)).collect();
        let c = encode_chunks(s.iter().copied(), 1000);
        assert_eq!(
            c.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
            vec![(0, 990), (1000, 1990), (2000, 2990)]
        );
        let back: Vec<(i64, f64)> = c
            .iter()
            .flat_map(|x| XorIter::new(&x.2).map(|s| s.unwrap()).collect::<Vec<_>>())
            .collect();
        assert_eq!(back, s);
        assert!(encode_chunks(std::iter::empty(), 10).is_empty());
    }
}
