//! Immutable on-disk blocks: a time range of series with their chunks, in Prometheus's block format
//! (docs/format/block-meta.md, index.md, chunks.md, tombstones.md).
//!
//! * [`BlockWriter`] writes one block from any source of series given in label order (the head, a
//!   compaction's merge of blocks, or a backfill tool): chunk segment files, index, tombstones and
//!   `meta.json`, each fsynced, in a temporary directory renamed into place at the end.
//! * [`Block`] opens a block read-only through [`crate::fs::Dir::map`] (memory maps on disk), verifying
//!   what it can cheaply verify at open; [`BlockQuerier`] reads it behind the storage seam's `Querier`.
//! * [`BlockMeta`] is `meta.json`; [`Tombstones`] the deletion marks.
//!
//! ```
//! use std::sync::Arc;
//! use diamond_model::{Labels, Matcher};
//! use diamond_model::storage::Querier;
//! use diamond_tsdb::block::{Block, BlockWriter, ChunkData};
//! use diamond_tsdb::chunk::XorAppender;
//! use diamond_tsdb::fs::{Dir, MemDir};
//!
//! let root: Arc<dyn Dir> = Arc::new(MemDir::new());
//! let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
//! let mut c = XorAppender::new();
//! c.append(1000, 1.0);
//! c.append(2000, 0.0);
//! let mut w = BlockWriter::new(Arc::clone(&root), 0, 7_200_000, vec!["__name__".into(), "up".into(), "job".into(), "a".into()]).unwrap();
//! w.add_series(&l, &[ChunkData { min_time: 1000, max_time: 2000, data: c.bytes() }]).unwrap();
//! let meta = w.finish(1, Vec::new(), Vec::new()).unwrap().unwrap();
//! let block = Arc::new(Block::open(&root, &meta.ulid).unwrap());
//! let q = Block::querier(&block, 0, 10_000);
//! let s = q.select(&[Matcher::equal("job", "a")]).unwrap();
//! let mut it = s[0].data.iter(0, 10_000);
//! assert_eq!(it.next(), Some((1000, 1.0)));
//! ```

mod chunks;
mod clean;
mod enc;
mod index;
mod reader;
mod tombstones;
mod ulid;
mod writer;

pub use clean::rewrite_without_tombstones;
pub use index::ChunkMeta;
pub use reader::{Block, BlockQuerier};
pub use tombstones::Tombstones;
pub use writer::{BlockWriter, ChunkData};

pub(crate) use ulid::{is_ulid, new_ulid};

use serde::{Deserialize, Serialize};

/// Suffix of a block directory being written.
pub const TMP_CREATION: &str = ".tmp-for-creation";
/// Suffix of a block directory being deleted.
pub const TMP_DELETION: &str = ".tmp-for-deletion";
/// Suffix given to a block that failed verification at open.
pub const CORRUPTED: &str = ".corrupted";

/// Block failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("block i/o failed while {op}")]
    Io {
        /// What was being done.
        op: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A block file is damaged or not in the expected format.
    #[error("block corrupted: {0}")]
    Corrupted(String),
    /// The writer was fed something the format cannot hold (series out of order, overlapping chunks).
    #[error("invalid block input: {0}")]
    Invalid(String),
    /// A limit of the format (4 GiB sections, 64 GiB of series entries) was exceeded.
    #[error("block too large: {0}")]
    TooLarge(String),
}

impl Error {
    pub(crate) fn io(op: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { op: op.into(), source }
    }
}

/// `meta.json` (docs/format/block-meta.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block's ULID (its directory name).
    pub ulid: String,
    /// Lowest timestamp the block may hold (ms, inclusive).
    pub min_time: i64,
    /// End of the block's range (ms, exclusive).
    pub max_time: i64,
    /// What it holds.
    #[serde(default)]
    pub stats: BlockStats,
    /// Where it came from.
    pub compaction: Compaction,
    /// Always 1.
    pub version: u32,
    /// Diamond's own fields (ignored by Prometheus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diamond: Option<DiamondMeta>,
}

/// `meta.json` `stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples.
    #[serde(default)]
    pub num_samples: u64,
    /// Series.
    #[serde(default)]
    pub num_series: u64,
    /// Chunks.
    #[serde(default)]
    pub num_chunks: u64,
}

/// `meta.json` `compaction`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compaction {
    /// 1 for blocks cut from the head, the highest parent level + 1 for compacted blocks.
    pub level: u32,
    /// The level-1 blocks whose data this block holds.
    #[serde(default)]
    pub sources: Vec<String>,
    /// The blocks merged into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
}

/// A parent block in `compaction.parents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    /// Its ULID.
    pub ulid: String,
    /// Its `minTime`.
    pub min_time: i64,
    /// Its `maxTime`.
    pub max_time: i64,
}

/// `meta.json` `diamond`: exact file sizes, checked at open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiamondMeta {
    /// Size of `index`.
    pub index_bytes: u64,
    /// Sizes of `chunks/000001`, … in order.
    pub chunk_file_bytes: Vec<u64>,
}
