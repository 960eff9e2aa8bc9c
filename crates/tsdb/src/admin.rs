//! The admin operations of [`Db`] (Prometheus's `/api/v1/admin/tsdb/*`): deleting series data
//! (tombstones), cleaning tombstones, and snapshots.
//!
//! Semantics are Prometheus's `delete_series`: the samples of the matching series in `[mint, maxt]` are
//! hidden from every query at once and removed from memory and files later (by `clean_tombstones`, and
//! when a block is cut from the head). See `crate::tombstones` and docs/format/wal.md "Tombstones".

use std::path::Path;
use std::sync::Arc;

use diamond_model::storage::Querier;
use diamond_model::{Matcher, Timestamp};

use crate::block::{self, Block, BlockWriter, ChunkData, TMP_CREATION, TMP_DELETION};
use crate::chunk::encode_chunks;
use crate::compact;
use crate::db::{Db, Error};
use crate::fs::{Dir, DiskDir};
use crate::head::HeadQuerier;
use crate::index::postings_for_matchers;
use crate::record::{self, RefTombstone};
use crate::wal;

/// What [`Db::clean_tombstones`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Samples removed from the head's closed chunks.
    pub head_samples_removed: u64,
    /// Blocks rewritten without their deleted samples.
    pub blocks_rewritten: u64,
}

impl Db {
    /// Deletes the samples with `mint <= t <= maxt` of every series matching all `matchers`, and returns
    /// how many series got a tombstone. An empty matcher list deletes nothing (as Prometheus, whose
    /// postings for no matchers are empty).
    ///
    /// The tombstones are logged to the WAL and fsynced before they apply, whatever the fsync policy: a
    /// deletion that was acknowledged does not come back after a crash or a power loss.
    ///
    /// Blocks overlapping the interval get the interval in their tombstones file ([`crate::block::Block::delete`])
    /// first, then the head; the count is summed over blocks and head. Serialised with block cuts and
    /// compactions, which would otherwise replace a block after it got its tombstones.
    pub fn delete(&self, mint: Timestamp, maxt: Timestamp, matchers: &[Matcher]) -> Result<u64, Error> {
        if matchers.is_empty() || mint > maxt {
            return Ok(0);
        }
        let _no_compaction = self.inner.compacting.lock();
        let blocks: Vec<_> = self.inner.blocks.read().clone();
        let mut n = 0;
        for b in &blocks {
            n += b.delete(mint, maxt, matchers)?;
        }
        Ok(n + self.delete_head(mint, maxt, matchers)?)
    }

    fn delete_head(&self, mint: Timestamp, maxt: Timestamp, matchers: &[Matcher]) -> Result<u64, Error> {
        let inner = &self.inner;
        let head = &inner.head;
        // Under the WAL lock, like a commit: the head's order of samples and tombstones is the WAL's.
        let mut w = inner.wal.lock();
        if let Err(e) = inner.check_writable_locked(&w) {
            return Err(Error::Wal(wal::Error::Poisoned(e.to_string())));
        }
        let refs = {
            let p = head.postings.read();
            postings_for_matchers(&p, &head.symbols, matchers)
        };
        let mut stones = Vec::new();
        for r in &refs {
            let Some(s) = head.series(u64::from(r)) else {
                continue;
            };
            // Clamp to the series' samples, as Prometheus does: the tombstone then never reaches samples
            // appended later (appends are in order), so replay and the live head agree.
            let Some((first, last)) = s.state.lock().time_range() else {
                continue;
            };
            let (lo, hi) = (mint.max(first), maxt.min(last));
            if lo <= hi {
                stones.push(RefTombstone {
                    sref: u64::from(r),
                    mint: lo,
                    maxt: hi,
                });
            }
        }
        if stones.is_empty() {
            return Ok(0);
        }
        let mut buf = Vec::with_capacity(1 + stones.len() * 12);
        record::encode_tombstones(&stones, &mut buf);
        let logged = w.writer.log(&[buf]).and_then(|()| w.writer.sync());
        if let Err(e) = logged {
            drop(w);
            let _ = inner.poison(&e);
            return Err(Error::Wal(e));
        }
        for s in &stones {
            // Refs come from a u32 bitmap.
            head.tombstones.add(s.sref as u32, s.mint, s.maxt);
        }
        drop(w);
        tracing::info!(series = stones.len(), mint, maxt, "deleted series data (tombstones)");
        Ok(stones.len() as u64)
    }
}

impl Db {
    /// Removes deleted data (`/api/v1/admin/tsdb/clean_tombstones`).
    ///
    /// Every block with tombstones is rewritten without the samples they delete
    /// ([`block::rewrite_without_tombstones`]) and replaced, as a compaction replaces its parents: the new
    /// block is written (tmp dir, fsyncs, rename, fsync) and opened, swapped in for queries, and only then
    /// the old directory is deleted (rename to `.tmp-for-deletion`, fsync, remove). The new block names the
    /// old one in `compaction.parents`, so after a crash between the two steps open deletes the old one
    /// (docs/format/block-meta.md "Opening"). A block left with no sample is just deleted.
    ///
    /// In the head, the closed chunks that hold deleted samples are re-encoded without them (the open
    /// chunk keeps its samples, since the newest sample decides the in-order rule; readers still hide
    /// them). The head's tombstones stay in memory and in the WAL, so a replay shows the same data.
    pub fn clean_tombstones(&self) -> Result<CleanStats, Error> {
        let mut stats = CleanStats {
            blocks_rewritten: self.clean_block_tombstones()?,
            ..CleanStats::default()
        };
        let head = &self.inner.head;
        for t in head.tombstones.refs() {
            let Some(ivs) = head.tombstones.get(t) else { continue };
            let Some(s) = head.series(u64::from(t)) else { continue };
            stats.head_samples_removed += s.state.lock().drop_deleted(&ivs);
        }
        tracing::info!(
            head_samples_removed = stats.head_samples_removed,
            blocks_rewritten = stats.blocks_rewritten,
            "tombstones cleaned"
        );
        Ok(stats)
    }

    /// Rewrites every block that has tombstones; returns how many were replaced (or deleted, when empty).
    fn clean_block_tombstones(&self) -> Result<u64, Error> {
        let Some(root) = self.inner.root.clone() else {
            return Ok(0);
        };
        // No cut, compaction, retention or delete while blocks are swapped: a delete landing in the old
        // block after it was copied would be lost, and a compaction could merge a block being replaced.
        let _quiet = self.inner.compacting.lock();
        let blocks: Vec<Arc<Block>> = self.inner.blocks.read().clone();
        let mut n = 0;
        for old in blocks.iter().filter(|b| !b.tombstones().is_empty()) {
            let ulid = old.meta().ulid.clone();
            let meta = block::rewrite_without_tombstones(&root, old)?;
            let new = match &meta {
                Some(m) => Some(Arc::new(Block::open(&root, &m.ulid)?)),
                None => None,
            };
            {
                let mut bl = self.inner.blocks.write();
                bl.retain(|b| b.meta().ulid != ulid);
                bl.extend(new);
                bl.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
            }
            // Queriers still holding the old block keep reading its (unlinked) maps.
            compact::delete_block(&root, &ulid)?;
            root.sync_dir()
                .map_err(|e| Error::Block(block::Error::io("fsync data dir", e)))?;
            tracing::info!(old = %ulid, new = ?meta.as_ref().map(|m| &m.ulid), "block rewritten without its tombstones");
            n += 1;
        }
        Ok(n)
    }

    /// Writes a snapshot of the database into `dest` (created; must not exist): a hard link of every
    /// block's files, and, when `with_head`, the head's data (without deleted samples) as one more block.
    /// The result is a data directory that Diamond and Prometheus open as it is
    /// (`/api/v1/admin/tsdb/snapshot`). Only for a database opened on disk with [`Db::open`].
    pub fn snapshot(&self, dest: &Path, with_head: bool) -> Result<(), Error> {
        let io = |op: String, e| Error::Block(block::Error::io(op, e));
        let Some(src) = &self.path else {
            return Err(io(
                "snapshotting a database without a data directory".into(),
                std::io::Error::from(std::io::ErrorKind::Unsupported),
            ));
        };
        std::fs::create_dir_all(dest).map_err(|e| io(format!("creating {}", dest.display()), e))?;
        // No block is cut, compacted or deleted while its files are linked.
        let _quiet = self.inner.compacting.lock();
        for name in snapshot_block_names(src).map_err(|e| io(format!("listing {}", src.display()), e))? {
            link_tree(&src.join(&name), &dest.join(&name))
                .map_err(|e| io(format!("hard-linking block {name} into {}", dest.display()), e))?;
        }
        if with_head {
            let root: Arc<dyn Dir> =
                Arc::new(DiskDir::open(dest).map_err(|e| io(format!("opening {}", dest.display()), e))?);
            write_head_block(self, root)?;
        }
        sync_dir(dest).map_err(|e| io(format!("fsync {}", dest.display()), e))?;
        Ok(())
    }
}

/// The complete blocks of a data directory: `<ULID>/meta.json` present, not a temporary directory.
fn snapshot_block_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type()?.is_dir() || name.ends_with(TMP_CREATION) || name.ends_with(TMP_DELETION) {
            continue;
        }
        if block::is_ulid(&name) && e.path().join("meta.json").is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Recreates the directory tree `src` at `dst` with every file hard-linked (blocks are immutable, and the
/// tombstones file is replaced by rename, never written in place, so a link never sees a change).
fn link_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        if e.file_type()?.is_dir() {
            link_tree(&e.path(), &to)?;
        } else {
            std::fs::hard_link(e.path(), &to)?;
        }
    }
    sync_dir(dst)
}

fn sync_dir(p: &Path) -> std::io::Result<()> {
    std::fs::File::open(p)?.sync_all()
}

/// Writes the head's samples (deleted ones left out) as one block in `root` covering
/// `[first sample, last sample + 1)`. Writes nothing when the head is empty.
fn write_head_block(db: &Db, root: Arc<dyn Dir>) -> Result<(), Error> {
    let q = HeadQuerier::new(Arc::clone(&db.inner), i64::MIN, i64::MAX);
    let series = q
        .select(&[])
        .map_err(|e| Error::Block(block::Error::Invalid(e.to_string())))?;
    let mut encoded = Vec::with_capacity(series.len());
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    for s in &series {
        let mut it = s.data.iter(i64::MIN, i64::MAX);
        let mut samples = Vec::new();
        while let Some(x) = it.next() {
            samples.push(x);
        }
        if let (Some(f), Some(l)) = (samples.first(), samples.last()) {
            mint = mint.min(f.0);
            maxt = maxt.max(l.0);
        }
        encoded.push(encode_chunks(samples, i64::MAX));
    }
    if mint > maxt {
        return Ok(());
    }
    let mut symbols: Vec<String> = series
        .iter()
        .flat_map(|s| s.labels.iter().flat_map(|l| [l.name.to_string(), l.value.to_string()]))
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    let mut w = BlockWriter::new(root, mint, maxt.saturating_add(1), symbols)?;
    for (s, chunks) in series.iter().zip(&encoded) {
        let cd: Vec<ChunkData<'_>> = chunks
            .iter()
            .map(|(min_time, max_time, data)| ChunkData {
                min_time: *min_time,
                max_time: *max_time,
                data,
            })
            .collect();
        w.add_series(&s.labels, &cd)?;
    }
    w.finish(1, Vec::new(), Vec::new())?;
    Ok(())
}
