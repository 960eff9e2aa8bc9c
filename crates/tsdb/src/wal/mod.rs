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
use std::sync::Arc;

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

/// Writes checkpoint `n` holding `records`; see [`write_checkpoint_streamed`].
pub fn write_checkpoint(dir: &Arc<dyn crate::fs::Dir>, n: u32, records: &[Vec<u8>]) -> Result<(), Error> {
    write_checkpoint_streamed(dir, n, |emit| {
        for r in records {
            emit(r.clone())?;
        }
        Ok(())
    })
    .map(|_| ())
}

/// Writes checkpoint `n` with the records `fill` emits, streamed in the page format to a temporary name
/// as they come (so a checkpoint never sits in memory whole), then fsync, rename, directory fsync, and
/// only then deletes segments up to `n` and older checkpoints. Returns the number of records. On any
/// failure the temporary file is removed and nothing else changes. See docs/format/wal.md "Checkpoints".
pub fn write_checkpoint_streamed(
    dir: &Arc<dyn crate::fs::Dir>,
    n: u32,
    fill: impl FnOnce(&mut dyn FnMut(Vec<u8>) -> Result<(), Error>) -> Result<(), Error>,
) -> Result<u64, Error> {
    let name = checkpoint_name(n);
    let tmp = format!("{name}.tmp");
    let written = (|| -> Result<u64, Error> {
        let mut w = WalWriter::create_single(Arc::clone(dir), &tmp)?;
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut batch_bytes = 0usize;
        let mut count = 0u64;
        {
            let mut emit = |rec: Vec<u8>| -> Result<(), Error> {
                count += 1;
                batch_bytes += rec.len();
                batch.push(rec);
                // Flush every MiB or so: bounded memory, few writes.
                if batch_bytes >= 1 << 20 || batch.len() >= 1024 {
                    w.log(&batch)?;
                    batch.clear();
                    batch_bytes = 0;
                }
                Ok(())
            };
            fill(&mut emit)?;
        }
        if !batch.is_empty() {
            w.log(&batch)?;
        }
        w.sync()?;
        Ok(count)
    })();
    let count = match written {
        Ok(c) => c,
        Err(e) => {
            let _ = dir.remove(&tmp);
            return Err(e);
        }
    };
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
    Ok(count)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{Dir, MemDir};

    fn wal_with_segments(n: u32) -> (MemDir, Arc<dyn Dir>) {
        let mem = MemDir::new();
        for i in 0..=n {
            mem.put(&segment_name(i), Vec::new());
        }
        let dir: Arc<dyn Dir> = Arc::new(mem.clone());
        (mem, dir)
    }

    /// Streamed records read back in order, across pages (records larger than a page too), and the
    /// checkpoint replaces the segments it covers.
    #[test]
    fn streamed_checkpoint_reads_back_and_replaces_segments() {
        let (mem, dir) = wal_with_segments(3);
        let records: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| {
                let len = if i % 500 == 7 {
                    3 * PAGE_SIZE + 11
                } else {
                    (i % 97) as usize + 1
                };
                (0..len).map(|k| (i as usize + k) as u8).collect()
            })
            .collect();
        let count = write_checkpoint_streamed(&dir, 2, |emit| {
            for r in &records {
                emit(r.clone())?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(count, 3000);
        let mut names = mem.list().unwrap();
        names.sort();
        assert_eq!(names, vec![segment_name(3), checkpoint_name(2)]);
        let data = mem.read(&checkpoint_name(2)).unwrap();
        let mut rd = SegmentReader::new(&data, 0);
        let mut got = Vec::new();
        while let Some(r) = rd.next_record().unwrap() {
            got.push(r.into_owned());
        }
        assert_eq!(got, records);
    }

    /// A failure while the records are produced leaves no checkpoint, no temporary file, and every
    /// segment in place.
    #[test]
    fn failed_checkpoint_changes_nothing() {
        let (mem, dir) = wal_with_segments(2);
        let r = write_checkpoint_streamed(&dir, 2, |emit| {
            emit(vec![1, 2, 3])?;
            Err(Error::Poisoned("reading a source segment failed".into()))
        });
        assert!(matches!(r, Err(Error::Poisoned(_))), "{r:?}");
        let mut names = mem.list().unwrap();
        names.sort();
        assert_eq!(names, (0..=2).map(segment_name).collect::<Vec<_>>());
    }
}
