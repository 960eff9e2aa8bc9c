//! Reading the head: the querier and the lazy chunk iterator.

use std::sync::Arc;

use diamond_model::storage::{Querier, ReadError, SampleIter, Series, SeriesData};
use diamond_model::{Matcher, Timestamp};
use roaring::RoaringBitmap;

use super::{Chunk, MemSeries, SeriesState, labels_from_ids};
use crate::chunk::{XorCheckpoint, XorIter};
use crate::db::DbInner;
use crate::index::postings_for_matchers;
use crate::tombstones::{DeletedFilter, Intervals};

/// Below this many series a select runs on the caller's thread alone.
const PARALLEL_MIN: usize = 1024;

/// A series, its chunks in range and its deleted intervals.
type Snapshot = (Arc<MemSeries>, Chunks, Option<Arc<Intervals>>);

/// A series' chunks overlapping a range: the closed ones shared, a copy of the open one owned (one
/// allocation for its bytes, none for the list when no closed chunk is in range, the common case of a
/// query over recent data).
struct Chunks {
    closed: Vec<Chunk>,
    open: Option<Chunk>,
    /// The open chunk's mid-chunk decoder state (see `HeadChunk::mid`).
    open_mid: Option<XorCheckpoint>,
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
        for r in refs {
            let Some(s) = self.db.head.series(u64::from(r)) else {
                continue;
            };
            // A delete running concurrently is seen or not, per series; it never changes the chunks.
            let deleted = self.db.head.tombstones.get(r);
            let chunks = snapshot_chunks(&s.state.lock(), self.mint, self.maxt);
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
            let chunks = snapshot_chunks(&s.state.lock(), self.mint, self.maxt);
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
        let chunks = snapshot_chunks(&st, mint, maxt);
        drop(st);
        has_sample_in(&chunks, mint, maxt)
    }
}

/// The chunks of a series overlapping `[mint, maxt]`: closed ones shared, the open one copied.
///
/// Closed chunks are ascending and end before the open one starts, so when the open chunk already starts
/// at or before `mint` (the common case of a query over recent data) no closed chunk is looked at, and
/// otherwise they are scanned from the newest back only until one ends before `mint`. When closed chunks
/// were each behind their own `Arc`, a front-to-back scan of every series' chunks was 18 % of an instant
/// `sum by (rate)` over 10k series (profile in BENCHMARKS.md, run of 2026-12-07); they are inline in the
/// series' vector now, but the scan is still not needed.
fn snapshot_chunks(st: &SeriesState, mint: Timestamp, maxt: Timestamp) -> Chunks {
    // The open chunk's first timestamp is decoded from its bytes: once.
    let open_min = st.open.as_ref().map(|h| h.min_time());
    let open = st
        .open
        .as_ref()
        .zip(open_min)
        .filter(|(h, min)| h.app.last_t() >= mint && *min <= maxt);
    let open_covers_start = open_min.is_some_and(|min| min <= mint);
    let mut v: Vec<Chunk> = Vec::new();
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
        open_mid: open.and_then(|(h, _)| h.mid.as_deref().copied()),
        open: open.map(|(h, min_time)| Chunk {
            min_time,
            max_time: h.app.last_t(),
            data: bytes::Bytes::copy_from_slice(h.app.bytes()),
        }),
    }
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
            let c = self.chunk(self.next_chunk)?;
            self.next_chunk += 1;
            if c.max_time < self.mint {
                continue;
            }
            if c.min_time > self.maxt {
                self.done = true;
                return None;
            }
            // The open chunk is decoded from its middle when the range starts after it.
            let it = match self.chunks.open_mid {
                Some(cp) if self.next_chunk > self.chunks.closed.len() && cp.t() < self.mint => {
                    XorIter::resume(&c.data, &cp)
                }
                _ => XorIter::new(&c.data),
            };
            self.cur = Some((it, c.max_time));
        }
        None
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
                let got: Vec<(i64, i64)> = snapshot_chunks(&st, mint, maxt)
                    .iter()
                    .map(|c| (c.min_time, c.max_time))
                    .collect();
                assert_eq!(got, want, "[{mint}, {maxt}]");
            }
        }
    }

    /// Reading the open chunk from its mid-chunk checkpoint (when the range starts after it) gives the
    /// samples a plain filter gives, for ranges starting before, at and after the checkpoint, and with
    /// seeks; a chunk too young for a checkpoint reads as before.
    #[test]
    fn open_chunk_reads_from_its_checkpoint_like_from_its_start() {
        let pages = super::super::ChunkPages::default();
        for n in [10i64, 59, 60, 61, 100, 119] {
            let mut st = SeriesState::default();
            // 120 + n samples 10 ms apart in chunk ranges of 1200 ms: one closed chunk of 120 samples,
            // then an open one of n.
            let all: Vec<(i64, f64)> = (0..120 + n).map(|i| (i * 10, (i * i) as f64 * 0.5 - 3.0)).collect();
            for &(t, v) in &all {
                assert!(st.append(t, v, 1200, &pages));
            }
            let open = st.open.as_ref().unwrap();
            assert_eq!(i64::from(open.app.num_samples()), n);
            assert_eq!(
                open.mid.is_some(),
                n >= i64::from(super::super::CHECKPOINT_AT),
                "n = {n}"
            );
            for mint in (1100..(120 + n) * 10 + 20).step_by(7) {
                for maxt in [mint, mint + 35, mint + 400, i64::MAX] {
                    let chunks = snapshot_chunks(&st, mint, maxt);
                    let want: Vec<(i64, f64)> = all.iter().copied().filter(|&(t, _)| t >= mint && t <= maxt).collect();
                    let got: Vec<(i64, f64)> = {
                        let mut it = ChunksIter::new(&chunks, mint, maxt);
                        std::iter::from_fn(|| it.next()).collect()
                    };
                    assert_eq!(got, want, "n {n} [{mint}, {maxt}]");
                    // A seek into the range from an earlier start reads the same.
                    let mut it = ChunksIter::new(&chunks, 0, maxt);
                    let first = it.seek(mint);
                    assert_eq!(first, want.first().copied(), "seek n {n} [{mint}, {maxt}]");
                }
            }
        }
    }
}
