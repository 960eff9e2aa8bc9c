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

/// Samples per chunk before the head cuts a new one (Prometheus's `samplesPerChunk`).
pub const SAMPLES_PER_CHUNK: u16 = 120;

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

/// Encodes ascending samples into XOR chunks of at most [`SAMPLES_PER_CHUNK`] samples, also cutting a new
/// chunk where a sample crosses a multiple of `range` ms (so a chunk never spans a block boundary). Used
/// where data is rewritten: `clean_tombstones`, snapshots, backfill.
pub fn encode_chunks(samples: impl IntoIterator<Item = (i64, f64)>, range: i64) -> Vec<EncodedChunk> {
    let range = range.max(1);
    let mut out = Vec::new();
    let mut app: Option<(XorAppender, i64)> = None;
    for (t, v) in samples {
        let full = app
            .as_ref()
            .is_some_and(|(a, end)| a.num_samples() >= SAMPLES_PER_CHUNK || t >= *end);
        if full && let Some((a, _)) = app.take() {
            out.push((a.first_t(), a.last_t(), a.into_bytes()));
        }
        let (a, _) = app.get_or_insert_with(|| {
            let end = t.div_euclid(range).saturating_add(1).saturating_mul(range);
            (XorAppender::new(), end)
        });
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

    #[test]
    fn encode_chunks_cuts_by_count_and_range() {
        let samples: Vec<(i64, f64)> = (0..300).map(|i| (i * 10, i as f64)).collect();
        let c = encode_chunks(samples.iter().copied(), 1000);
        // 100 samples per 1000 ms range, under the 120 limit.
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].0, c[0].1), (0, 990));
        assert_eq!((c[2].0, c[2].1), (2000, 2990));
        let c = encode_chunks(samples.iter().copied(), i64::MAX);
        assert_eq!(
            c.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
            vec![(0, 1190), (1200, 2390), (2400, 2990)]
        );
        let back: Vec<(i64, f64)> = c
            .iter()
            .flat_map(|x| XorIter::new(&x.2).map(|s| s.unwrap()).collect::<Vec<_>>())
            .collect();
        assert_eq!(back, samples);
        assert!(encode_chunks(std::iter::empty(), 10).is_empty());
    }
}
