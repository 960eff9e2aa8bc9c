//! Everything that turns the head into blocks and keeps blocks in shape: opening the blocks of a data
//! directory (removing partial artifacts), cutting the head into a block and checkpointing the WAL, the
//! compaction planner (a pure function of block metas), the compactor, and retention.
//!
//! Order of one [`run_once`] (the background thread calls it every `Options::compaction_interval`):
//! 1. while the head spans more than 1.5 × the block range, cut its oldest range `[a, b)`:
//!    raise `min_valid_time` to `b` (under the WAL lock, so no later commit adds samples below it), write
//!    the block from the head's chunks, open it, then under the WAL lock drop those chunks and
//!    garbage-collect empty series and close the active WAL segment `n`; then `ExemplarStore::flush()` and
//!    write checkpoint `n` (docs/format/wal.md "Checkpoints"), deleting segments `..=n`;
//! 2. compact while the planner finds something (overlapping blocks first, then level ranges);
//! 3. apply retention (time, then size), oldest blocks first.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use diamond_model::{Labels, Timestamp};

use crate::block::{
    self, Block, BlockDesc, BlockMeta, BlockWriter, CORRUPTED, ChunkData, ChunkMeta, TMP_CREATION, TMP_DELETION,
};
use crate::chunk::{SAMPLES_PER_CHUNK, XorAppender, XorIter};
use crate::db::{DbInner, Error};
use crate::fs::Dir;
use crate::head::checkpoint_records;
use crate::wal;

/// Opens every block of the data directory `root` (docs/format/block-meta.md "Opening"): removes
/// temporary directories, sets aside blocks that fail verification as `<ULID>.corrupted`, deletes blocks
/// made obsolete by a compacted block. Returns the blocks sorted by `min_time`.
pub(crate) fn open_blocks(root: &Arc<dyn Dir>) -> Result<Vec<Arc<Block>>, Error> {
    let io = |op: &str, e| Error::Block(block::Error::io(op.to_owned(), e));
    let mut blocks = Vec::new();
    for d in root.list_dirs().map_err(|e| io("listing data dir", e))? {
        if d.ends_with(TMP_CREATION) || d.ends_with(TMP_DELETION) {
            tracing::info!(dir = %d, "removing partial block directory");
            root.remove_dir_all(&d).map_err(|e| io("removing partial block", e))?;
            continue;
        }
        if !block::is_ulid(&d) {
            continue;
        }
        match Block::open(root, &d) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(e @ (block::Error::Corrupted(_) | block::Error::Io { .. })) => {
                let not_found =
                    matches!(&e, block::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
                if !matches!(e, block::Error::Corrupted(_)) && !not_found {
                    return Err(e.into());
                }
                tracing::error!(block = %d, error = %crate::error_chain(&e), "block not opened; set aside as {d}{CORRUPTED}");
                root.rename(&d, &format!("{d}{CORRUPTED}"))
                    .map_err(|e| io("setting aside a bad block", e))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    // A crash between writing a compacted (or tombstone-cleaned) block and deleting its parents leaves
    // the parents behind: a block named as another's parent, or whose sources a higher level covers.
    let obsolete: Vec<String> = blocks
        .iter()
        .filter(|b| {
            blocks.iter().any(|o| {
                o.meta().ulid != b.meta().ulid
                    && (o.meta().compaction.parents.iter().any(|p| p.ulid == b.meta().ulid)
                        || o.meta().compaction.level > b.meta().compaction.level
                            && b.meta()
                                .compaction
                                .sources
                                .iter()
                                .all(|s| o.meta().compaction.sources.contains(s)))
            })
        })
        .map(|b| b.meta().ulid.clone())
        .collect();
    blocks.retain(|b| !obsolete.contains(&b.meta().ulid));
    for u in &obsolete {
        delete_block(root, u)?;
    }
    root.sync_dir().map_err(|e| io("fsync data dir", e))?;
    blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    Ok(blocks)
}

/// Deletes a block directory: rename first so a half-deleted block is never opened.
pub(crate) fn delete_block(root: &Arc<dyn Dir>, ulid: &str) -> Result<(), Error> {
    let io = |op: &str, e| Error::Block(block::Error::io(format!("{op} {ulid}"), e));
    let tmp = format!("{ulid}{TMP_DELETION}");
    root.rename(ulid, &tmp).map_err(|e| io("renaming for deletion", e))?;
    root.sync_dir().map_err(|e| io("fsync data dir after renaming", e))?;
    root.remove_dir_all(&tmp).map_err(|e| io("removing", e))?;
    Ok(())
}

fn symbols_of<'a>(labels: impl Iterator<Item = &'a Labels>) -> Vec<String> {
    let mut s: Vec<String> = labels
        .flat_map(|l| l.iter().flat_map(|x| [x.name.to_string(), x.value.to_string()]))
        .collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// Cuts the head's oldest block range while the head spans more than 1.5 × the range. Returns how many
/// blocks were written.
pub(crate) fn cut_head(db: &DbInner, root: &Arc<dyn Dir>) -> Result<usize, Error> {
    let range = db.opts.chunk_range_ms.max(1);
    let mut written = 0;
    // Only what the head held when the round began: under very fast ingest (backfill through remote
    // write) the loop would otherwise never end, and compaction and retention would starve.
    let maxt_at_start = db.head.max_time.load(Relaxed);
    // The WAL is checkpointed once, after the last block of the round (as Prometheus truncates its WAL once
    // per compaction): a checkpoint per block rewrote the whole remaining head each time, so cutting a head
    // that spans many blocks (after a long outage or a backfill) was quadratic and starved compaction. A
    // crash between blocks leaves the WAL longer than needed, never shorter: replay is unchanged.
    let mut truncated_to = None;
    let res = loop {
        let head = &db.head;
        let (mint, maxt) = (
            head.min_time.load(Relaxed),
            head.max_time.load(Relaxed).min(maxt_at_start),
        );
        if mint > maxt || maxt.saturating_sub(mint) <= range / 2 * 3 {
            break Ok(written);
        }
        let a = mint.div_euclid(range) * range;
        let b = a + range;
        {
            let w = db.wal.lock();
            if w.closed {
                break Ok(written);
            }
            head.min_valid_time.fetch_max(b, std::sync::atomic::Ordering::Relaxed);
        }
        match write_head_block(db, root, a, b) {
            Ok(true) => written += 1,
            Ok(false) => {}
            Err(e) => break Err(e),
        }
        truncate_head(db, b);
        truncated_to = Some(b);
    };
    // Even when a later block of the round failed, the blocks already written are durable and the head was
    // truncated to them: checkpoint up to there, then report the failure.
    if let Some(b) = truncated_to {
        checkpoint_wal(db, b)?;
    }
    res
}

/// Writes the head's chunks before `b` as the level-1 block `[a, b)` and opens it (nothing is opened when the
/// range holds no sample). Answers whether a block was written.
fn write_head_block(db: &DbInner, root: &Arc<dyn Dir>, a: Timestamp, b: Timestamp) -> Result<bool, Error> {
    let series = db.head.chunks_before(b);
    let mut w = BlockWriter::new(Arc::clone(root), a, b, symbols_of(series.iter().map(|s| &s.0)))?;
    for (labels, chunks) in &series {
        let cd: Vec<ChunkData<'_>> = chunks
            .iter()
            .map(|c| ChunkData {
                min_time: c.min_time,
                max_time: c.max_time,
                data: &c.data,
            })
            .collect();
        w.add_series(labels, &cd)?;
    }
    drop(series);
    if let Some(meta) = w.finish(1, Vec::new(), Vec::new())? {
        let blk = Arc::new(Block::open(root, &meta.ulid)?);
        let mut bl = db.blocks.write();
        bl.push(blk);
        bl.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        db.block_counters.head_blocks_written.fetch_add(1, Relaxed);
        tracing::info!(block = %meta.ulid, min_time = a, max_time = b, series = meta.stats.num_series, samples = meta.stats.num_samples, "head block written");
        return Ok(true);
    }
    Ok(false)
}

/// Drops the head's data before `b` (now in a block) and its series left empty.
fn truncate_head(db: &DbInner, b: Timestamp) {
    let _w = db.wal.lock();
    let removed = db.head.truncate_before(b);
    let c = &db.block_counters;
    c.head_truncations.fetch_add(1, Relaxed);
    c.head_series_removed.fetch_add(removed, Relaxed);
}

/// Cuts a new WAL segment and checkpoints the older ones: the records still needed for data at or after `b`
/// (series of the head, samples and exemplars at or after `b`), then deletes the segments the checkpoint
/// covers.
fn checkpoint_wal(db: &DbInner, b: Timestamp) -> Result<(), Error> {
    let n = {
        let mut w = db.wal.lock();
        if w.closed {
            return Ok(());
        }
        match w.writer.cut_segment() {
            Ok(n) => n,
            Err(e) => {
                drop(w);
                let _ = db.poison(&e);
                return Err(e.into());
            }
        }
    };
    // The seam of ARCHITECTURE.md "Exemplar persistence and the WAL checkpoint": a store that persists
    // (Ok(true)) lets the checkpoint drop exemplar records; a memory-only one (Ok(false)) keeps those with
    // `ts >= b`, as Prometheus does; a persistent store whose flush failed keeps them all (its files do
    // not hold them, and dropping those below `b` would lose acknowledged exemplars at the next restart).
    let exemplar_floor = match db.exemplars.flush() {
        Ok(true) => None,
        Ok(false) => Some(b),
        Err(e) => {
            tracing::warn!(error = %e, "exemplar store flush failed; keeping every exemplar record in the checkpoint");
            Some(Timestamp::MIN)
        }
    };
    let c = &db.block_counters;
    let written = wal::write_checkpoint_streamed(&db.wal_dir, n, |emit| {
        checkpoint_records(&db.head, db.wal_dir.as_ref(), n, b, exemplar_floor, emit)
    });
    let records = match written {
        Ok(r) => {
            c.checkpoints.fetch_add(1, Relaxed);
            r
        }
        Err(e) => {
            // The segments stay; the next truncation writes a checkpoint covering them too.
            c.checkpoints_failed.fetch_add(1, Relaxed);
            return Err(e.into());
        }
    };
    tracing::info!(segment = n, records, "wal checkpoint written");
    Ok(())
}

/// Block ranges of the compaction levels: `min`, `3·min`, `9·min`, … (at most 10), none above `max`.
pub fn block_ranges(min: i64, max: i64) -> Vec<i64> {
    let mut v = vec![min.max(1)];
    while v.len() < 10 {
        let next = v[v.len() - 1].saturating_mul(3);
        if next > max {
            break;
        }
        v.push(next);
    }
    v
}

/// The compaction planner, a pure function of the blocks' metas (Prometheus's leveled planner): the ULIDs
/// of the blocks to merge next, or nothing. Overlapping blocks come first; otherwise, leaving out the
/// newest block, the first aligned range of a level above the first (`ranges[1..]`) that holds more than
/// one block and either is complete or lies before the newest block.
pub fn plan(metas: &[BlockMeta], ranges: &[i64]) -> Vec<String> {
    let mut ms: Vec<&BlockMeta> = metas.iter().collect();
    ms.sort_by_key(|m| (m.min_time, m.max_time));
    // Overlaps.
    let mut group: Vec<&BlockMeta> = Vec::new();
    let mut group_max = i64::MIN;
    for m in &ms {
        if !group.is_empty() && m.min_time < group_max {
            group.push(m);
            group_max = group_max.max(m.max_time);
            continue;
        }
        if group.len() > 1 {
            break;
        }
        group = vec![m];
        group_max = m.max_time;
    }
    if group.len() > 1 {
        return group.iter().map(|m| m.ulid.clone()).collect();
    }
    if ms.len() < 2 || ranges.len() < 2 {
        return Vec::new();
    }
    ms.pop();
    let Some(high) = ms.last().map(|m| m.min_time) else {
        return Vec::new();
    };
    for &r in &ranges[1..] {
        for part in split_by_range(&ms, r) {
            let (mint, maxt) = (part[0].min_time, part[part.len() - 1].max_time);
            if part.len() > 1 && (maxt - mint == r || maxt <= high) {
                return part.iter().map(|m| m.ulid.clone()).collect();
            }
        }
    }
    Vec::new()
}

/// Groups of consecutive blocks that fit entirely in one aligned window of size `r`.
fn split_by_range<'a>(ms: &[&'a BlockMeta], r: i64) -> Vec<Vec<&'a BlockMeta>> {
    let mut out: Vec<Vec<&BlockMeta>> = Vec::new();
    let mut i = 0;
    while i < ms.len() {
        let m = ms[i];
        let t0 = m.min_time.div_euclid(r) * r;
        if m.max_time > t0 + r {
            i += 1;
            continue;
        }
        let mut g = Vec::new();
        while i < ms.len() && ms[i].min_time >= t0 && ms[i].max_time <= t0 + r {
            g.push(ms[i]);
            i += 1;
        }
        if !g.is_empty() {
            out.push(g);
        } else {
            i += 1;
        }
    }
    out
}

/// A chunk of one source block in a merge: (block index, chunk meta, the series' deleted intervals).
type Part = (usize, ChunkMeta, Vec<(i64, i64)>);

/// Merges `blocks` into one new block (written, fsynced and renamed before returning). Series are merged
/// by labels; chunks that overlap in time, or that tombstones touch, are decoded and re-encoded with
/// duplicate timestamps removed (the later block in `blocks` wins).
pub fn compact_blocks(root: &Arc<dyn Dir>, blocks: &[Arc<Block>]) -> Result<Option<BlockMeta>, block::Error> {
    let mint = blocks.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
    let maxt = blocks.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
    let mut symbols: Vec<String> = Vec::new();
    for b in blocks {
        symbols.extend(b.symbols().map(str::to_owned));
    }
    symbols.sort_unstable();
    symbols.dedup();
    let mut w = BlockWriter::new(Arc::clone(root), mint, maxt, symbols)?;
    // One cursor per block over its series in label order.
    struct Cursor {
        ids: std::vec::IntoIter<u32>,
        cur: Option<(u32, Labels, Vec<ChunkMeta>)>,
    }
    let mut cursors: Vec<Cursor> = Vec::with_capacity(blocks.len());
    for b in blocks {
        let mut c = Cursor {
            ids: b.series_ids()?.into_iter(),
            cur: None,
        };
        advance(b, &mut c.ids, &mut c.cur)?;
        cursors.push(c);
    }
    fn advance(
        b: &Block,
        ids: &mut std::vec::IntoIter<u32>,
        cur: &mut Option<(u32, Labels, Vec<ChunkMeta>)>,
    ) -> Result<(), block::Error> {
        *cur = match ids.next() {
            Some(id) => {
                let mut m = Vec::new();
                let l = b.series(id, &mut m)?;
                Some((id, l, m))
            }
            None => None,
        };
        Ok(())
    }
    while let Some(next) = cursors
        .iter()
        .filter_map(|c| c.cur.as_ref().map(|x| &x.1))
        .min()
        .cloned()
    {
        // (block index, chunk meta, deleted intervals)
        let mut parts: Vec<Part> = Vec::new();
        for (i, c) in cursors.iter_mut().enumerate() {
            if c.cur.as_ref().is_some_and(|x| x.1 == next) {
                if let Some((id, _, metas)) = c.cur.take() {
                    let tomb = blocks[i].tombstones().get(id).to_vec();
                    parts.extend(metas.into_iter().map(|m| (i, m, tomb.clone())));
                }
                advance(&blocks[i], &mut c.ids, &mut c.cur)?;
            }
        }
        parts.sort_by_key(|p| (p.1.min_time, p.0));
        let clean = parts.windows(2).all(|w| w[0].1.max_time < w[1].1.min_time) && parts.iter().all(|p| p.2.is_empty());
        if clean {
            let datas: Vec<&[u8]> = parts
                .iter()
                .map(|p| blocks[p.0].chunk(p.1.chunk_ref))
                .collect::<Result<_, _>>()?;
            let cd: Vec<ChunkData<'_>> = parts
                .iter()
                .zip(&datas)
                .map(|(p, d)| ChunkData {
                    min_time: p.1.min_time,
                    max_time: p.1.max_time,
                    data: d,
                })
                .collect();
            w.add_series(&next, &cd)?;
            continue;
        }
        // Decode, merge by timestamp (later block wins), re-encode.
        let mut samples: std::collections::BTreeMap<i64, (usize, f64)> = std::collections::BTreeMap::new();
        for (bi, m, tomb) in &parts {
            let data = blocks[*bi].chunk(m.chunk_ref)?;
            for s in XorIter::new(data) {
                let (t, v) = s.map_err(|e| block::Error::Corrupted(format!("{}: {e}", blocks[*bi].meta().ulid)))?;
                if tomb.iter().any(|&(a, z)| a <= t && t <= z) {
                    continue;
                }
                match samples.get(&t) {
                    Some(&(prev, _)) if prev > *bi => {}
                    _ => {
                        samples.insert(t, (*bi, v));
                    }
                }
            }
        }
        let mut encoded: Vec<(i64, i64, Box<[u8]>)> = Vec::new();
        let mut app: Option<XorAppender> = None;
        for (&t, &(_, v)) in &samples {
            if app.as_ref().is_some_and(|a| a.num_samples() >= SAMPLES_PER_CHUNK)
                && let Some(a) = app.take()
            {
                encoded.push((a.first_t(), a.last_t(), a.into_bytes()));
            }
            app.get_or_insert_with(XorAppender::new).append(t, v);
        }
        if let Some(a) = app {
            encoded.push((a.first_t(), a.last_t(), a.into_bytes()));
        }
        let cd: Vec<ChunkData<'_>> = encoded
            .iter()
            .map(|(a, z, d)| ChunkData {
                min_time: *a,
                max_time: *z,
                data: d,
            })
            .collect();
        w.add_series(&next, &cd)?;
    }
    let level = blocks.iter().map(|b| b.meta().compaction.level).max().unwrap_or(1) + 1;
    let mut sources: Vec<String> = blocks
        .iter()
        .flat_map(|b| b.meta().compaction.sources.clone())
        .collect();
    sources.sort();
    sources.dedup();
    let parents = blocks
        .iter()
        .map(|b| BlockDesc {
            ulid: b.meta().ulid.clone(),
            min_time: b.meta().min_time,
            max_time: b.meta().max_time,
        })
        .collect();
    w.finish(level, sources, parents)
}

/// Runs the planner and compactor until there is nothing to do. Returns how many compactions ran.
pub(crate) fn compact(db: &DbInner, root: &Arc<dyn Dir>) -> Result<usize, Error> {
    let ranges = block_ranges(db.opts.chunk_range_ms, db.opts.max_block_duration_ms);
    let mut n = 0;
    loop {
        let current: Vec<Arc<Block>> = db.blocks.read().clone();
        let metas: Vec<BlockMeta> = current.iter().map(|b| b.meta().clone()).collect();
        let chosen = plan(&metas, &ranges);
        if chosen.is_empty() {
            return Ok(n);
        }
        // In ULID (creation) order so that, among overlapping blocks, the newer data wins.
        let mut parts: Vec<Arc<Block>> = current
            .into_iter()
            .filter(|b| chosen.contains(&b.meta().ulid))
            .collect();
        parts.sort_by(|a, b| a.meta().ulid.cmp(&b.meta().ulid));
        let meta = compact_blocks(root, &parts)?;
        {
            let mut bl = db.blocks.write();
            bl.retain(|b| !chosen.contains(&b.meta().ulid));
            if let Some(m) = &meta {
                bl.push(Arc::new(Block::open(root, &m.ulid)?));
            }
            bl.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        // Sources are deleted only now that the new block is durable under its final name.
        for u in &chosen {
            delete_block(root, u)?;
        }
        root.sync_dir()
            .map_err(|e| Error::Block(block::Error::io("fsync data dir", e)))?;
        db.block_counters.compactions.fetch_add(1, Relaxed);
        tracing::info!(sources = ?chosen, result = ?meta.as_ref().map(|m| &m.ulid), "blocks compacted");
        n += 1;
    }
}

/// Which blocks retention deletes (pure): by time, those whose end is more than `retention_ms` before the
/// newest block's end; by size, then the oldest until `blocks + other_bytes <= max_bytes`.
pub fn retention_plan(
    metas: &[(BlockMeta, u64)],
    retention_ms: Option<i64>,
    max_bytes: Option<u64>,
    other_bytes: u64,
) -> Vec<String> {
    let mut ms: Vec<&(BlockMeta, u64)> = metas.iter().collect();
    ms.sort_by_key(|(m, _)| (m.min_time, m.max_time));
    let mut out = Vec::new();
    let newest = ms.iter().map(|(m, _)| m.max_time).max().unwrap_or(i64::MIN);
    let mut keep: Vec<&(BlockMeta, u64)> = Vec::new();
    for x in ms {
        if retention_ms.is_some_and(|r| r > 0 && newest - x.0.max_time > r) {
            out.push(x.0.ulid.clone());
        } else {
            keep.push(x);
        }
    }
    if let Some(limit) = max_bytes.filter(|&l| l > 0) {
        let mut total: u64 = other_bytes + keep.iter().map(|x| x.1).sum::<u64>();
        for x in keep {
            if total <= limit {
                break;
            }
            total -= x.1;
            out.push(x.0.ulid.clone());
        }
    }
    out
}

/// Applies retention. Returns how many blocks were deleted.
pub(crate) fn apply_retention(db: &DbInner, root: &Arc<dyn Dir>, wal_bytes: u64) -> Result<usize, Error> {
    let metas: Vec<(BlockMeta, u64)> = db
        .blocks
        .read()
        .iter()
        .map(|b| (b.meta().clone(), b.size_bytes()))
        .collect();
    let del = retention_plan(&metas, db.opts.retention_ms, db.opts.retention_bytes, wal_bytes);
    if del.is_empty() {
        return Ok(0);
    }
    // The plan lists the time-retention victims first.
    let by_time = retention_plan(&metas, db.opts.retention_ms, None, 0).len();
    let c = &db.block_counters;
    c.time_retentions.fetch_add(by_time as u64, Relaxed);
    c.size_retentions.fetch_add((del.len() - by_time) as u64, Relaxed);
    db.blocks.write().retain(|b| !del.contains(&b.meta().ulid));
    for u in &del {
        delete_block(root, u)?;
    }
    root.sync_dir()
        .map_err(|e| Error::Block(block::Error::io("fsync data dir", e)))?;
    tracing::info!(blocks = ?del, "retention deleted blocks");
    Ok(del.len())
}

/// One round of head cutting, compaction and retention.
pub(crate) fn run_once(db: &DbInner) -> Result<(), Error> {
    let Some(root) = db.root.clone() else {
        return Ok(());
    };
    let _one_at_a_time = db.compacting.lock();
    let res = cut_head(db, &root).and_then(|_| compact(db, &root));
    if res.is_err() {
        db.block_counters.compactions_failed.fetch_add(1, Relaxed);
    }
    res?;
    let (_, wal_bytes) = wal_disk_usage(db.wal_dir.as_ref())?;
    apply_retention(db, &root, wal_bytes)?;
    Ok(())
}

/// Counters of the block lifecycle (see [`crate::BlockStats`]).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) head_blocks_written: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) compactions_failed: AtomicU64,
    pub(crate) head_truncations: AtomicU64,
    pub(crate) head_series_removed: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) checkpoints_failed: AtomicU64,
    pub(crate) time_retentions: AtomicU64,
    pub(crate) size_retentions: AtomicU64,
}

/// WAL segment and checkpoint files, and their bytes.
pub(crate) fn wal_disk_usage(dir: &dyn Dir) -> Result<(u64, u64), Error> {
    let io = |e| Error::Wal(wal::Error::io("listing wal", e));
    let mut n = 0;
    let mut bytes = 0;
    for f in dir.list().map_err(io)? {
        if wal::parse_segment_name(&f).is_some() || wal::parse_checkpoint_name(&f).is_some() {
            n += 1;
            bytes += dir.file_len(&f).unwrap_or(0);
        }
    }
    Ok((n, bytes))
}

pub(crate) fn block_stats(db: &DbInner, head_min: Option<Timestamp>) -> crate::BlockStats {
    let c = &db.block_counters;
    let bl = db.blocks.read();
    let block_min = bl.iter().map(|b| b.meta().min_time).min();
    crate::BlockStats {
        loaded: bl.len() as u64,
        bytes: bl.iter().map(|b| b.size_bytes()).sum(),
        lowest_timestamp: match (block_min, head_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        head_blocks_written: c.head_blocks_written.load(Relaxed),
        compactions: c.compactions.load(Relaxed),
        compactions_failed: c.compactions_failed.load(Relaxed),
        head_truncations: c.head_truncations.load(Relaxed),
        head_series_removed: c.head_series_removed.load(Relaxed),
        checkpoints: c.checkpoints.load(Relaxed),
        checkpoints_failed: c.checkpoints_failed.load(Relaxed),
        time_retentions: c.time_retentions.load(Relaxed),
        size_retentions: c.size_retentions.load(Relaxed),
    }
}
