//! Reading the head: the querier and the lazy chunk iterator.

use std::sync::Arc;

use diamond_model::storage::{Querier, ReadError, SampleIter, Series, SeriesData};
use diamond_model::{Matcher, Timestamp};
use roaring::RoaringBitmap;
use smallvec::SmallVec;

use super::{Checkpoints, Chunk, MemSeries, SeriesState, labels_from_ids};
use crate::chunk::XorIter;
use crate::db::DbInner;
use crate::index::postings_for_matchers;
use crate::tombstones::{DeletedFilter, Intervals};

/// Below this many series a select runs on the caller's thread alone.
const PARALLEL_MIN: usize = 1024;

/// A series, its chunks in range and its deleted intervals.
type Snapshot = (Arc<MemSeries>, Chunks, Option<Arc<Intervals>>);

/// A series' chunks overlapping a range: the closed ones shared, a copy of the open one owned (its bytes
/// in the select's arena, see `copy_into`). A query over the last minutes that starts in the newest closed
/// chunk holds that one inline: no allocation for the list.
struct Chunks {
    closed: SmallVec<[Chunk; 1]>,
    open: Option<Chunk>,
    /// Decoder states in the newest chunks (see `head::Checkpoints`).
    cps: Option<Checkpoints>,
}

impl Chunks {
    fn iter(&self) -> impl Iterator<Item = &Chunk> {
        self.closed.iter().chain(self.open.as_ref())
    }
}

/// A reader over `[mint, maxt]` of the head. Holds no lock between calls.
pub(crate) struct HeadQuerier {
    db: Arc<DbInner>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl HeadQuerier {
    pub(crate) fn new(db: Arc<DbInner>, mint: Timestamp, maxt: Timestamp) -> Self {
        HeadQuerier { db, mint, maxt }
    }

    fn refs(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let p = self.db.head.postings.read();
        postings_for_matchers(&p, &self.db.head.symbols, matchers)
    }

    /// Series among `refs` with at least one (not deleted) sample in range, with their chunk snapshots and
    /// deleted intervals.
    fn snapshot(&self, refs: impl IntoIterator<Item = u32>) -> Vec<Snapshot> {
        let mut out = Vec::new();
        let mut arena = bytes::BytesMut::new();
        for r in refs {
            let Some(s) = self.db.head.series(u64::from(r)) else {
                continue;
            };
            // A delete running concurrently is seen or not, per series; it never changes the chunks.
            let deleted = self.db.head.tombstones.get(r);
            let chunks = snapshot_chunks(&s.state.lock(), self.mint, self.maxt, Some(&mut arena));
            let live = match &deleted {
                None => has_sample_in(&chunks, self.mint, self.maxt),
                Some(d) => has_live_sample_in(&chunks, d, self.mint, self.maxt),
            };
            if live {
                out.push((s, chunks, deleted));
            }
        }
        out
    }

    /// The series among `refs` with a sample in range, with their labels and chunk snapshots.
    fn series_of(&self, refs: impl IntoIterator<Item = u32>) -> Vec<Series> {
        let snaps = self.snapshot(refs);
        let syms = self.db.head.symbols.read();
        snaps
            .into_iter()
            .map(|(s, chunks, deleted)| Series {
                labels: labels_from_ids(&syms, &s),
                data: Arc::new(ChunkSeries {
                    chunks,
                    mint: self.mint,
                    maxt: self.maxt,
                    deleted,
                }),
            })
            .collect()
    }

    /// Whether the series has a sample in range, without copying chunks when the bounds already tell.
    fn in_range(&self, s: &MemSeries) -> bool {
        if let Some(d) = self.db.head.tombstones.get(s.sref) {
            let chunks = snapshot_chunks(&s.state.lock(), self.mint, self.maxt, None);
            return has_live_sample_in(&chunks, &d, self.mint, self.maxt);
        }
        let st = s.state.lock();
        let (mint, maxt) = (self.mint, self.maxt);
        let overlapping = st
            .closed
            .iter()
            .map(|c| (c.min_time, c.max_time))
            .chain(st.open.as_ref().map(|h| (h.min_time(), h.app.last_t())));
        let mut unsure = false;
        for (lo, hi) in overlapping {
            if hi < mint || lo > maxt {
                continue;
            }
            if (mint..=maxt).contains(&lo) || (mint..=maxt).contains(&hi) {
                return true;
            }
            unsure = true;
        }
        if !unsure {
            return false;
        }
        let chunks = snapshot_chunks(&st, mint, maxt, None);
        drop(st);
        has_sample_in(&chunks, mint, maxt)
    }
}

/// The chunks of a series overlapping `[mint, maxt]`: closed ones shared, the open one copied, into `arena`
/// when one is given (see [`copy_into`]).
///
/// Closed chunks are ascending and end before the open one starts, so when the open chunk already starts
/// at or before `mint` (the common case of a query over recent data) no closed chunk is looked at, and
/// otherwise they are scanned from the newest back only until one ends before `mint`. When closed chunks
/// were each behind their own `Arc`, a front-to-back scan of every series' chunks was 18 % of an instant
/// `sum by (rate)` over 10k series (profile in BENCHMARKS.md, run of 2026-12-07); they are inline in the
/// series' vector now, but the scan is still not needed.
fn snapshot_chunks(st: &SeriesState, mint: Timestamp, maxt: Timestamp, arena: Option<&mut bytes::BytesMut>) -> Chunks {
    // The open chunk's first timestamp is decoded from its bytes: once.
    let open_min = st.open.as_ref().map(|h| h.min_time());
    let open = st
        .open
        .as_ref()
        .zip(open_min)
        .filter(|(h, min)| h.app.last_t() >= mint && *min <= maxt);
    let open_covers_start = open_min.is_some_and(|min| min <= mint);
    let mut v: SmallVec<[Chunk; 1]> = SmallVec::new();
    if !open_covers_start {
        // Newest first, then reversed back to ascending order.
        for c in st.closed.iter().rev() {
            if c.max_time < mint {
                break;
            }
            if c.min_time <= maxt {
                v.push(c.clone());
            }
        }
        v.reverse();
    }
    Chunks {
        closed: v,
        cps: st.open.as_ref().and_then(|h| h.cps.as_deref().copied()),
        open: open.map(|(h, min_time)| Chunk {
            min_time,
            max_time: h.app.last_t(),
            // A single series' snapshot (`in_range`, its range check) copies on its own: a block would be
            // 16 KiB for one chunk.
            data: match arena {
                Some(a) => copy_into(a, h.app.bytes()),
                None => bytes::Bytes::copy_from_slice(h.app.bytes()),
            },
        }),
    }
}

/// Bytes of open chunks copied per arena block: about a hundred chunks of a series scraped every 15 s.
const ARENA_BYTES: usize = 16 << 10;

/// A copy of `bytes` in `arena`, which a select shares among the series it snapshots: one allocation per
/// hundred or so open chunks instead of one each (a malloc and a free per series were a visible part of an
/// instant query over 10k series). The block is freed when the last chunk copied into it is dropped.
fn copy_into(arena: &mut bytes::BytesMut, bytes: &[u8]) -> bytes::Bytes {
    if arena.capacity() < bytes.len() {
        // Never grown in place: the copies already handed out keep the old block alive.
        *arena = bytes::BytesMut::with_capacity(ARENA_BYTES.max(bytes.len()));
    }
    arena.extend_from_slice(bytes);
    arena.split().freeze()
}

/// Whether any chunk has a sample in `[mint, maxt]`, decoding only chunks that span the whole range.
fn has_sample_in(chunks: &Chunks, mint: Timestamp, maxt: Timestamp) -> bool {
    chunks.iter().any(|c| {
        if (mint..=maxt).contains(&c.min_time) || (mint..=maxt).contains(&c.max_time) {
            return true;
        }
        XorIter::new(&c.data).any(|s| s.is_ok_and(|(t, _)| t >= mint && t <= maxt))
    })
}

/// Whether any sample in `[mint, maxt]` is outside the deleted intervals.
fn has_live_sample_in(chunks: &Chunks, deleted: &Intervals, mint: Timestamp, maxt: Timestamp) -> bool {
    if deleted.covers(mint, maxt) {
        return false;
    }
    DeletedFilter::new(ChunksIter::new(chunks, mint, maxt), deleted.as_slice())
        .next()
        .is_some()
}

impl Querier for HeadQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, ReadError> {
        let mut out = self.select_unsorted(matchers)?;
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Series in ref order, i.e. creation order, like Prometheus's head postings.
    ///
    /// Many series are snapshotted in parallel (rayon's pool), in runs of refs whose results are joined
    /// in order: taking each series' lock, copying its open chunk and its labels was, after the decode
    /// went parallel, the largest serial part of an instant query over 10k series (16 %).
    fn select_unsorted(&self, matchers: &[Matcher]) -> Result<Vec<Series>, ReadError> {
        use rayon::prelude::*;
        let refs = self.refs(matchers);
        if refs.len() < PARALLEL_MIN as u64 || rayon::current_num_threads() < 2 {
            return Ok(self.series_of(&refs));
        }
        let refs: Vec<u32> = refs.iter().collect();
        let parts: Vec<Vec<Series>> = refs
            .par_chunks(PARALLEL_MIN / 2)
            .map(|run| self.series_of(run.iter().copied()))
            .collect();
        Ok(parts.into_iter().flatten().collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
        let refs = self.refs(matchers);
        let mut ids: Vec<u32> = Vec::new();
        for r in &refs {
            let Some(s) = self.db.head.series(u64::from(r)) else {
                continue;
            };
            if self.in_range(&s) {
                ids.extend(s.pairs().map(|(n, _)| n));
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let syms = self.db.head.symbols.read();
        let mut names: Vec<String> = ids.iter().map(|&i| syms.get(i).to_owned()).collect();
        names.sort();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
        let Some(name_id) = self.db.head.symbols.lookup(name) else {
            return Ok(Vec::new());
        };
        let mut refs = self.refs(matchers);
        {
            // Only series that have the label can contribute a value.
            let p = self.db.head.postings.read();
            let mut with_name = RoaringBitmap::new();
            for (_, b) in p.values(name_id) {
                with_name |= b;
            }
            refs &= with_name;
        }
        let mut ids: Vec<u32> = Vec::new();
        for r in &refs {
            let Some(s) = self.db.head.series(u64::from(r)) else {
                continue;
            };
            if let Some((_, v)) = s.pairs().find(|&(n, _)| n == name_id)
                && self.in_range(&s)
            {
                ids.push(v);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let syms = self.db.head.symbols.read();
        let mut vals: Vec<String> = ids.iter().map(|&i| syms.get(i).to_owned()).collect();
        vals.sort();
        Ok(vals)
    }
}

/// A series' chunk snapshot, readable any number of times.
pub(crate) struct ChunkSeries {
    chunks: Chunks,
    mint: Timestamp,
    maxt: Timestamp,
    /// Deleted intervals (tombstones), skipped by the iterator.
    deleted: Option<Arc<Intervals>>,
}

impl SeriesData for ChunkSeries {
    fn iter(&self, mint: Timestamp, maxt: Timestamp) -> Box<dyn SampleIter + '_> {
        let it = ChunksIter::new(&self.chunks, mint.max(self.mint), maxt.min(self.maxt));
        match &self.deleted {
            None => Box::new(it),
            Some(d) => Box::new(DeletedFilter::new(it, d.as_slice())),
        }
    }
}

/// Iterates samples of consecutive chunks in `[mint, maxt]`, decoding lazily.
struct ChunksIter<'a> {
    chunks: &'a Chunks,
    next_chunk: usize,
    cur: Option<(XorIter<'a>, Timestamp)>,
    mint: Timestamp,
    maxt: Timestamp,
    done: bool,
}

impl<'a> ChunksIter<'a> {
    /// An iterator over `chunks` (ascending, non-overlapping) restricted to `[mint, maxt]`.
    fn new(chunks: &'a Chunks, mint: Timestamp, maxt: Timestamp) -> Self {
        ChunksIter {
            chunks,
            next_chunk: 0,
            cur: None,
            mint,
            maxt,
            done: mint > maxt,
        }
    }
}

impl<'a> ChunksIter<'a> {
    /// The `i`-th chunk: the closed ones, then the open one.
    fn chunk(&self, i: usize) -> Option<&'a Chunk> {
        let closed = &self.chunks.closed;
        match closed.get(i) {
            Some(c) => Some(c),
            None if i == closed.len() => self.chunks.open.as_ref(),
            None => None,
        }
    }
}

impl ChunksIter<'_> {
    /// Moves to the next chunk overlapping the range; false when there is none.
    fn open_next(&mut self) -> bool {
        while !self.done {
            let Some(c) = self.chunk(self.next_chunk) else {
                self.done = true;
                return false;
            };
            self.next_chunk += 1;
            if c.max_time < self.mint {
                continue;
            }
            if c.min_time > self.maxt {
                self.done = true;
                return false;
            }
            // A newest chunk is decoded from its last checkpoint before the range starts.
            let cp = self
                .chunks
                .cps
                .as_ref()
                .and_then(|cps| cps.for_chunk(c.min_time, c.max_time, self.mint));
            let it = match cp {
                Some(cp) => XorIter::resume(&c.data, cp),
                None => XorIter::new(&c.data),
            };
            self.cur = Some((it, c.max_time));
            return true;
        }
        false
    }
}

impl SampleIter for ChunksIter<'_> {
    fn next(&mut self) -> Option<(Timestamp, f64)> {
        while !self.done {
            if let Some((it, _)) = &mut self.cur {
                match it.next_sample() {
                    Ok(Some((t, v))) => {
                        if t < self.mint {
                            continue;
                        }
                        if t > self.maxt {
                            self.done = true;
                            return None;
                        }
                        return Some((t, v));
                    }
                    // Head chunks are written by us; a decode error cannot happen short of memory
                    // corruption, and ends the chunk rather than the process.
                    Ok(None) | Err(_) => self.cur = None,
                }
                continue;
            }
            if !self.open_next() {
                return None;
            }
        }
        None
    }

    fn fill(&mut self, out: &mut Vec<(Timestamp, f64)>) {
        while !self.done {
            if self.cur.is_some() {
                self.done = crate::chunk::xor::drain_chunk(&mut self.cur, self.mint, self.maxt, out);
            } else if !self.open_next() {
                return;
            }
        }
    }

    fn seek(&mut self, target: Timestamp) -> Option<(Timestamp, f64)> {
        if target > self.mint {
            self.mint = target;
        }
        // Skip whole chunks that end before the target without decoding them.
        if self.cur.as_ref().is_some_and(|(_, max)| *max < self.mint) {
            self.cur = None;
        }
        if self.cur.is_none() {
            while self.chunk(self.next_chunk).is_some_and(|c| c.max_time < self.mint) {
                self.next_chunk += 1;
            }
        }
        self.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The early exits of `snapshot_chunks` (open chunk covers the start; newest-first scan) pick exactly
    /// the chunks a plain overlap filter picks, in the same order.
    #[test]
    fn snapshot_picks_the_overlapping_chunks_in_order() {
        let pages = super::super::ChunkPages::default();
        let mut st = SeriesState::default();
        // 200 samples 10 ms apart, chunk range 500 ms: closed chunks cut by time, one open chunk.
        for i in 0..200 {
            assert!(st.append(i * 10, i as f64, 500, &pages));
        }
        assert!(st.closed.len() >= 3, "{} closed chunks", st.closed.len());
        let open = st.open.as_ref().map(|h| (h.min_time(), h.app.last_t()));
        let all: Vec<(i64, i64)> = st.closed.iter().map(|c| (c.min_time, c.max_time)).chain(open).collect();
        for mint in (-20..2020).step_by(35) {
            for len in [0, 5, 10, 240, 700, 3000] {
                let maxt = mint + len;
                let want: Vec<(i64, i64)> = all
                    .iter()
                    .copied()
                    .filter(|&(lo, hi)| hi >= mint && lo <= maxt)
                    .collect();
                let got: Vec<(i64, i64)> = snapshot_chunks(&st, mint, maxt, None)
                    .iter()
                    .map(|c| (c.min_time, c.max_time))
                    .collect();
                assert_eq!(got, want, "[{mint}, {maxt}]");
            }
        }
    }

    /// Reading from the checkpoints (when the range starts after one, in the open chunk or in the newest
    /// closed one) gives the samples a plain filter gives, for ranges starting before, at and after each
    /// checkpoint, and with seeks; the checkpoints are where they should be, and a read through them
    /// decodes no more than a checkpoint's spacing before its start.
    #[test]
    fn reads_from_checkpoints_like_from_the_start() {
        use super::super::CHECKPOINT_EVERY;
        let pages = super::super::ChunkPages::default();
        for n in [1i64, 10, 29, 30, 31, 59, 60, 61, 89, 90, 100, 119] {
            let mut st = SeriesState::default();
            // 120 + n samples 10 ms apart in chunk ranges of 1200 ms: one closed chunk of 120 samples,
            // then an open one of n.
            let all: Vec<(i64, f64)> = (0..120 + n).map(|i| (i * 10, (i * i) as f64 * 0.5 - 3.0)).collect();
            for &(t, v) in &all {
                assert!(st.append(t, v, 1200, &pages));
            }
            let open = st.open.as_ref().unwrap();
            assert_eq!(i64::from(open.app.num_samples()), n);
            // Checkpoints after sample 90 and 120 of the closed chunk (indexes 89, 119), then every 30 of
            // the open one: the newest two.
            let every = i64::from(CHECKPOINT_EVERY);
            let taken: Vec<i64> = (1..=(120 + n) / every)
                .map(|k| k * every)
                .filter(|&k| k <= 120 || (k - 120) % every == 0)
                .collect();
            let cps = open.cps.as_deref().unwrap();
            let want_newer = (taken[taken.len() - 1] - 1) * 10;
            let want_older = (taken[taken.len() - 2] - 1) * 10;
            assert_eq!(
                (cps.newer.t(), cps.older.map(|o| o.t())),
                (want_newer, Some(want_older)),
                "n = {n}"
            );
            for mint in (800..(120 + n) * 10 + 20).step_by(7) {
                for maxt in [mint, mint + 35, mint + 400, i64::MAX] {
                    let chunks = snapshot_chunks(&st, mint, maxt, None);
                    let want: Vec<(i64, f64)> = all.iter().copied().filter(|&(t, _)| t >= mint && t <= maxt).collect();
                    let got: Vec<(i64, f64)> = {
                        let mut it = ChunksIter::new(&chunks, mint, maxt);
                        std::iter::from_fn(|| it.next()).collect()
                    };
                    assert_eq!(got, want, "n {n} [{mint}, {maxt}]");
                    // The batch read agrees, from the start and after a first sample taken one by one.
                    let mut filled = Vec::new();
                    ChunksIter::new(&chunks, mint, maxt).fill(&mut filled);
                    assert_eq!(filled, want, "fill n {n} [{mint}, {maxt}]");
                    let mut it = ChunksIter::new(&chunks, mint, maxt);
                    let mut filled: Vec<(i64, f64)> = it.next().into_iter().collect();
                    it.fill(&mut filled);
                    assert_eq!(filled, want, "next then fill n {n} [{mint}, {maxt}]");
                    // A seek into the range from an earlier start reads the same.
                    let mut it = ChunksIter::new(&chunks, 0, maxt);
                    let first = it.seek(mint);
                    assert_eq!(first, want.first().copied(), "seek n {n} [{mint}, {maxt}]");
                }
            }
            // A window of 20 samples ending at the newest decodes from a checkpoint at most 49 before it,
            // or from the open chunk's start.
            let newest = (120 + n - 1) * 10;
            let mint = newest - 190;
            let chunks = snapshot_chunks(&st, mint, newest, None);
            let first = chunks.iter().find(|c| c.max_time >= mint).unwrap();
            let start = chunks
                .cps
                .as_ref()
                .and_then(|c| c.for_chunk(first.min_time, first.max_time, mint))
                .map_or(first.min_time, |cp| cp.t() + 10);
            assert!(
                mint - start <= 29 * 10 || start == 1200,
                "n {n}: decodes from {start} for {mint}"
            );
        }
    }

    /// Cleaning tombstones out of the newest closed chunk drops the checkpoints into it, and reads stay
    /// right.
    #[test]
    fn rewriting_a_closed_chunk_drops_its_checkpoints() {
        let pages = super::super::ChunkPages::default();
        let mut st = SeriesState::default();
        let mut all: Vec<(i64, f64)> = (0..130).map(|i| (i * 10, i as f64 * 1.5)).collect();
        for &(t, v) in &all {
            assert!(st.append(t, v, 1200, &pages));
        }
        assert!(st.open.as_ref().unwrap().cps.as_deref().unwrap().newer.t() < 1200);
        let mut deleted = crate::tombstones::Intervals::default();
        deleted.add(500, 1000);
        assert_eq!(st.drop_deleted(&deleted), 51);
        assert!(st.open.as_ref().unwrap().cps.is_none());
        all.retain(|&(t, _)| !(500..=1000).contains(&t));
        for mint in (0..1300).step_by(13) {
            let chunks = snapshot_chunks(&st, mint, i64::MAX, None);
            let mut it = ChunksIter::new(&chunks, mint, i64::MAX);
            let got: Vec<(i64, f64)> = std::iter::from_fn(|| it.next()).collect();
            let want: Vec<(i64, f64)> = all.iter().copied().filter(|&(t, _)| t >= mint).collect();
            assert_eq!(got, want, "[{mint}, ..]");
        }
    }
}
