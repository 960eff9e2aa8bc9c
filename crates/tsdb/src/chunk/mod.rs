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

pub use xor::{XorAppender, XorIter};

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
