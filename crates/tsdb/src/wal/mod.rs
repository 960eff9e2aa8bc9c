//! The write-ahead log: numbered segment files of 32 KiB pages holding CRC-checked record fragments.
//! Spec: `docs/format/wal.md`.
//!
//! This layer moves opaque byte records; [`crate::record`] gives them meaning. [`WalWriter`] appends records
//! (one `write(2)` per call) and fsyncs on request; [`SegmentReader`] decodes one segment's bytes and stops at
//! the first damage; [`replay`] reads every segment in order and repairs a damaged tail.
//!
//! ```
//! use std::sync::Arc;
//! use diamond_tsdb::fs::{Dir, DiskDir};
//! use diamond_tsdb::wal::{self, WalWriter};
//! let tmp = tempfile::tempdir().unwrap();
//! let dir: Arc<dyn Dir> = Arc::new(DiskDir::open(tmp.path()).unwrap());
//! let mut w = WalWriter::create(Arc::clone(&dir), 0, 1 << 20).unwrap();
//! w.log(&[b"hello".to_vec()]).unwrap();
//! let mut got = Vec::new();
//! wal::replay(dir.as_ref(), |rec| got.push(rec.to_vec())).unwrap();
//! assert_eq!(got, vec![b"hello".to_vec()]);
//! ```

mod reader;
mod writer;

use std::io;

pub use reader::{ReplayOutcome, SegmentReader, replay};
pub use writer::WalWriter;

/// Page size: fragments never cross a page boundary.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Fragment header: type (1), length (2), CRC32C (4).
pub const HEADER_SIZE: usize = 7;

/// Fragment types (low 3 bits of the type byte).
pub(crate) const FRAG_PADDING: u8 = 0;
pub(crate) const FRAG_FULL: u8 = 1;
pub(crate) const FRAG_FIRST: u8 = 2;
pub(crate) const FRAG_MIDDLE: u8 = 3;
pub(crate) const FRAG_LAST: u8 = 4;

/// WAL failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("wal i/o failed while {op}")]
    Io {
        /// What was being done.
        op: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A segment is damaged at `offset`.
    #[error("wal segment {segment} corrupted at offset {offset}: {reason}")]
    Corrupted {
        /// Segment index.
        segment: u32,
        /// Byte offset of the first fragment of the damaged record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An earlier write or fsync failed; nothing more is written.
    #[error("wal poisoned by an earlier failure: {0}")]
    Poisoned(String),
}

impl Error {
    pub(crate) fn io(op: impl Into<String>, source: io::Error) -> Error {
        Error::Io { op: op.into(), source }
    }
}

/// The file name of segment `index`.
pub fn segment_name(index: u32) -> String {
    format!("{index:08}")
}

/// The index of a segment file name, `None` for other files.
pub fn parse_segment_name(name: &str) -> Option<u32> {
    if name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

/// The file name of checkpoint `n` (it replaces segments `0..=n`).
pub fn checkpoint_name(n: u32) -> String {
    format!("checkpoint.{n:08}")
}

/// The number of a checkpoint file name, `None` for other files.
pub fn parse_checkpoint_name(name: &str) -> Option<u32> {
    parse_segment_name(name.strip_prefix("checkpoint.")?)
}

/// Writes checkpoint `n` holding `records` (temp name, fsync, rename, directory fsync), then deletes
/// segments up to `n` and older checkpoints. See docs/format/wal.md "Checkpoints".
pub fn write_checkpoint(dir: &dyn crate::fs::Dir, n: u32, records: &[Vec<u8>]) -> Result<(), Error> {
    // Encode in the page format through a writer over memory with one segment large enough for all.
    let mem = crate::fs::MemDir::new();
    let total: usize = records
        .iter()
        .map(|r| r.len() + HEADER_SIZE * (r.len() / PAGE_SIZE + 2))
        .sum();
    let size = total + 2 * PAGE_SIZE;
    {
        let mut w = WalWriter::create(std::sync::Arc::new(mem.clone()), 0, size)?;
        for batch in records.chunks(1024) {
            w.log(batch)?;
        }
    }
    let bytes = crate::fs::Dir::read(&mem, &segment_name(0)).map_err(|e| Error::io("encoding checkpoint", e))?;
    let name = checkpoint_name(n);
    let tmp = format!("{name}.tmp");
    let mut f = dir.create(&tmp).map_err(|e| Error::io(format!("creating {tmp}"), e))?;
    f.write_all(&bytes)
        .map_err(|e| Error::io(format!("writing {tmp}"), e))?;
    f.sync().map_err(|e| Error::io(format!("fsync {tmp}"), e))?;
    drop(f);
    dir.rename(&tmp, &name)
        .map_err(|e| Error::io(format!("renaming {tmp}"), e))?;
    dir.sync_dir().map_err(|e| Error::io("syncing wal directory", e))?;
    // Only now is it safe to drop what the checkpoint replaces.
    for f in dir.list().map_err(|e| Error::io("listing wal", e))? {
        let old = parse_segment_name(&f).is_some_and(|s| s <= n) || parse_checkpoint_name(&f).is_some_and(|c| c < n);
        if old {
            dir.remove(&f).map_err(|e| Error::io(format!("removing {f}"), e))?;
        }
    }
    dir.sync_dir().map_err(|e| Error::io("syncing wal directory", e))?;
    Ok(())
}

/// Sorted segment indexes found in `dir`.
pub fn list_segments(dir: &dyn crate::fs::Dir) -> Result<Vec<u32>, Error> {
    let mut v: Vec<u32> = dir
        .list()
        .map_err(|e| Error::io("listing segments", e))?
        .iter()
        .filter_map(|n| parse_segment_name(n))
        .collect();
    v.sort_unstable();
    Ok(v)
}
