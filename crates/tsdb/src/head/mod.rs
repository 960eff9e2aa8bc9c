//! The head: every series held in memory, its samples in XOR chunks, and the postings that find it.
//!
//! * [`Head`] owns the series (in lock stripes keyed by ref and by label hash), the [`Symbols`] and
//!   [`MemPostings`] index, head-wide time bounds and counters, and metric metadata.
//! * [`MemSeries`] is one series: its labels as interned ids and, behind its own mutex, a list of closed
//!   chunks (immutable, shared with readers as `Arc<Chunk>`) and one open chunk.
//! * `append.rs` is the transaction ([`HeadAppender`]), `read.rs` the querier, `replay.rs` rebuilds the head
//!   from the WAL.
//!
//! The head is designed for blocks to be cut from it later (not implemented yet):
//! * chunks carry their time range and never span a chunk-range boundary, so a block `[a, b)` takes whole
//!   closed chunks, which are immutable `Arc`s that a block writer can read without holding series locks;
//! * `min_valid_time` only moves forward: raising it to `b` makes the appender refuse samples that belong to
//!   the block (`OutOfBounds`), and appends never reach below `max_time - chunk_range/2` anyway;
//! * the WAL truncation point is a segment boundary: after the block is written, a checkpoint (the series
//!   records of live series) replaces the segments below the first one that holds samples newer than `b`.
//!
//! Concurrency: series lookups take one stripe lock (by ref, or by label hash); a series' samples are behind
//! its own mutex, held only to check or append one sample or to snapshot chunk handles. Commits are
//! serialised by the WAL lock, which also covers applying to the head, so the head's order of samples is the
//! WAL's order and replay reproduces it exactly.
//!
//! The `Db` in the crate root is the public face; see its docs for an example.

mod append;
mod read;
mod replay;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use diamond_model::{Labels, Metadata, Timestamp};
use parking_lot::{Mutex, RwLock};

pub(crate) use append::HeadAppender;
pub(crate) use read::HeadQuerier;
pub(crate) use replay::replay_wal;

mod checkpoint;
pub(crate) use checkpoint::checkpoint_records;

use crate::chunk::{ChunkEnd, SAMPLES_PER_CHUNK, XorAppender, XorCheckpoint, range_end};
use crate::index::{MemPostings, Symbols};

/// A hasher for keys that are already well spread (label hashes) or dense ids (refs): one multiply.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        // Fibonacci hashing: spreads dense ids over the high bits hashbrown uses for its control bytes.
        self.0 = (self.0 ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// An immutable chunk with its time range. Cloning shares the bytes (a reference count, no copy).
#[derive(Debug, Clone)]
pub struct Chunk {
    /// First sample's timestamp.
    pub min_time: Timestamp,
    /// Last sample's timestamp.
    pub max_time: Timestamp,
    /// XOR-encoded samples (docs/format/chunks.md); a closed head chunk's bytes sit in a [`ChunkPages`]
    /// page shared with the other chunks of its chunk range.
    pub data: Bytes,
}

/// The bytes of closed head chunks, packed into pages of [`PAGE_BYTES`], one run of pages per chunk
/// range.
///
/// Why: the head drops its chunks a whole chunk range at a time (`truncate_before` after a block is cut),
/// while newer chunks keep being closed. With one allocation per closed chunk (≈ 150 bytes), the chunks
/// of the range just cut were freed from among the newer ones in the same heap pages, so glibc could hand
/// almost none of that memory back (`malloc_trim` releases only whole free pages): resident memory stayed
/// at the head's largest size instead of its current one. Measured on a day of 20k node series
/// (BENCHMARKS.md, run of 2026-12-07 (node RSS)): 42 MB of live heap in 110 MB resident. A page holds
/// chunks of one range only, so it is freed whole, as one block, once the range is cut and the last
/// reader drops its chunks.
#[derive(Default)]
pub(crate) struct ChunkPages {
    /// The page being filled, by the end of its chunk range (`chunk::range_end` of a chunk's first sample).
    filling: Mutex<IdMap<i64, BytesMut>>,
}

/// Size of a chunk page: large against a chunk (≈ 150 bytes, at most a few KiB), small against a
/// range's chunks (20k series: ≈ 12 MB per 2 h).
pub(crate) const PAGE_BYTES: usize = 64 << 10;

impl ChunkPages {
    /// A copy of `bytes` in the current page of the chunk range ending at `range_end`.
    pub(crate) fn store(&self, range_end: Timestamp, bytes: &[u8]) -> Bytes {
        if bytes.len() > PAGE_BYTES / 8 {
            return Bytes::copy_from_slice(bytes);
        }
        let mut filling = self.filling.lock();
        let page = filling
            .entry(range_end)
            .or_insert_with(|| BytesMut::with_capacity(PAGE_BYTES));
        if page.capacity() < bytes.len() {
            // Never grown in place: the chunks already handed out keep the old page alive.
            *page = BytesMut::with_capacity(PAGE_BYTES);
        }
        page.extend_from_slice(bytes);
        page.split().freeze()
    }

    /// Stops filling the pages of chunk ranges that end at or before `b` (their chunks are being dropped;
    /// a page is freed when its last chunk goes).
    pub(crate) fn forget_before(&self, b: Timestamp) {
        self.filling.lock().retain(|&end, _| end > b);
    }
}

/// The open chunk of a series.
pub(crate) struct HeadChunk {
    app: XorAppender,
    /// When the chunk is cut: at the next chunk-range boundary, or earlier as predicted once it holds a
    /// quarter of [`SAMPLES_PER_CHUNK`] (Prometheus's `nextAt`).
    cut_at: ChunkEnd,
    /// Decoder states inside the newest chunks, so that a query over the last minutes decodes only the
    /// samples it reads and a few before (see [`Checkpoints`]). Kept when the chunk is cut: until the
    /// new chunk has its own, they serve the newest closed chunk. Boxed: 8 bytes in every series, 72
    /// more once it has a chunk of [`CHECKPOINT_EVERY`] samples.
    cps: Option<Box<Checkpoints>>,
}

/// The two newest decoder checkpoints of a series, taken every [`CHECKPOINT_EVERY`] samples of its open
/// chunk; they may belong to the open chunk or to the newest closed one (a checkpoint belongs to the
/// chunk whose time range holds its timestamp). A read starting at `mint` resumes at the newest one
/// before `mint` in its first chunk.
///
/// Why: an instant query reads the last few minutes of each series (`rate(x[5m])`: 20 samples at 15 s),
/// and decoding its chunk from the start was most of that query's CPU (BENCHMARKS.md). With one
/// checkpoint in the middle of the open chunk, what was decoded depended on where the query fell in the
/// chunk: 53 samples a series at 52 samples into it, 25 at 84, 120 + n when the window began in the
/// closed chunk before. With two, every 30 samples, a 20-sample window decodes at most 49.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checkpoints {
    pub(crate) newer: XorCheckpoint,
    pub(crate) older: Option<XorCheckpoint>,
}

impl Checkpoints {
    /// The newest checkpoint of the chunk `[min_time, max_time]` taken before `mint`.
    pub(crate) fn for_chunk(
        &self,
        min_time: Timestamp,
        max_time: Timestamp,
        mint: Timestamp,
    ) -> Option<&XorCheckpoint> {
        let fits = |cp: &&XorCheckpoint| cp.t() >= min_time && cp.t() <= max_time && cp.t() < mint;
        Some(&self.newer)
            .filter(fits)
            .or_else(|| self.older.as_ref().filter(fits))
    }
}

/// See [`Checkpoints`]: a quarter of [`SAMPLES_PER_CHUNK`].
pub(crate) const CHECKPOINT_EVERY: u16 = SAMPLES_PER_CHUNK / 4;

/// The mutable part of a series, behind its mutex.
#[derive(Default)]
pub(crate) struct SeriesState {
    closed: Vec<Chunk>,
    open: Option<HeadChunk>,
}

/// Why a sample cannot be appended to a series (in-order head only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appendable {
    /// A new, later sample.
    Yes,
    /// Same timestamp and bit-identical value as the newest: accepted as a no-op.
    Duplicate,
    /// Same timestamp, different value.
    DuplicateTimestamp,
    /// Older than the newest sample.
    OutOfOrder,
}

impl HeadChunk {
    pub(crate) fn min_time(&self) -> Timestamp {
        self.app.first_t()
    }
}

impl SeriesState {
    /// The newest sample, if any.
    pub(crate) fn last(&self) -> Option<(Timestamp, f64)> {
        self.open.as_ref().map(|h| (h.app.last_t(), h.app.last_v()))
    }

    pub(crate) fn appendable(&self, t: Timestamp, v: f64) -> Appendable {
        check_after(self.last(), t, v)
    }

    /// Appends a sample that passed [`SeriesState::appendable`]; cuts the open chunk first when it is full or
    /// `t` crosses the next chunk-range boundary (the closed chunk's bytes go to `pages`). Returns whether
    /// a sample was added.
    pub(crate) fn append(&mut self, t: Timestamp, v: f64, chunk_range: i64, pages: &ChunkPages) -> bool {
        if self.appendable(t, v) != Appendable::Yes {
            return false;
        }
        let must_cut = self.open.as_mut().is_some_and(|h| {
            h.cut_at
                .cut_before(h.app.num_samples(), h.app.first_t(), h.app.last_t(), t)
        });
        let mut cps = None;
        if must_cut && let Some(h) = self.open.take() {
            self.closed.push(Chunk {
                min_time: h.app.first_t(),
                max_time: h.app.last_t(),
                data: pages.store(range_end(h.app.first_t(), chunk_range), h.app.bytes()),
            });
            cps = h.cps;
        }
        let h = self.open.get_or_insert_with(|| HeadChunk {
            app: XorAppender::new(),
            cut_at: ChunkEnd::starting_at(t, chunk_range),
            cps,
        });
        h.app.append(t, v);
        if h.app.num_samples().is_multiple_of(CHECKPOINT_EVERY)
            && let Some(cp) = h.app.checkpoint()
        {
            match &mut h.cps {
                Some(c) => {
                    c.older = Some(c.newer);
                    c.newer = cp;
                }
                None => h.cps = Some(Box::new(Checkpoints { newer: cp, older: None })),
            }
        }
        true
    }

    /// The first and last sample's timestamps, `None` when the series has no sample.
    pub(crate) fn time_range(&self) -> Option<(Timestamp, Timestamp)> {
        let first = match self.closed.first() {
            Some(c) => c.min_time,
            None => self.open.as_ref()?.min_time(),
        };
        let last = match &self.open {
            Some(h) => h.app.last_t(),
            None => self.closed.last()?.max_time,
        };
        Some((first, last))
    }

    /// Rewrites the closed chunks that hold deleted samples without them (`clean_tombstones`), dropping
    /// chunks left empty. The open chunk is kept as it is: it holds the newest sample, which the in-order
    /// rule compares against, and readers still filter it through the tombstones. Returns the samples
    /// removed.
    pub(crate) fn drop_deleted(&mut self, deleted: &crate::tombstones::Intervals) -> u64 {
        let mut removed = 0u64;
        let mut out: Vec<Chunk> = Vec::with_capacity(self.closed.len());
        let mut rewritten = false;
        for c in self.closed.drain(..) {
            let touched = deleted
                .as_slice()
                .iter()
                .any(|&(a, b)| a <= c.max_time && b >= c.min_time);
            if !touched {
                out.push(c);
                continue;
            }
            let mut kept = Vec::new();
            let mut dropped = 0u64;
            let mut failed = false;
            for s in crate::chunk::XorIter::new(&c.data) {
                match s {
                    Ok((t, _)) if deleted.contains(t) => dropped += 1,
                    Ok(s) => kept.push(s),
                    // Head chunks are encoded by us in memory; a decode error would be a bug. Keep the
                    // chunk untouched rather than lose the samples after the error.
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                out.push(c);
                continue;
            }
            removed += dropped;
            rewritten = true;
            // One closed chunk never spans a chunk-range boundary, so neither do its pieces.
            for (min_time, max_time, data) in crate::chunk::encode_chunks(kept, i64::MAX) {
                out.push(Chunk {
                    min_time,
                    max_time,
                    data: data.into(),
                });
            }
        }
        self.closed = out;
        if rewritten {
            // A checkpoint into a rewritten closed chunk would resume in bytes that are no longer there.
            if let Some(h) = &mut self.open {
                let open_min = h.app.first_t();
                if let Some(c) = &mut h.cps {
                    if c.newer.t() < open_min {
                        h.cps = None;
                    } else if c.older.is_some_and(|o| o.t() < open_min) {
                        c.older = None;
                    }
                }
            }
        }
        removed
    }

    /// Number of chunks (closed + open).
    pub(crate) fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(self.open.is_some())
    }
}

/// Prometheus's in-order append rule against the newest sample `last`.
pub(crate) fn check_after(last: Option<(Timestamp, f64)>, t: Timestamp, v: f64) -> Appendable {
    match last {
        None => Appendable::Yes,
        Some((lt, _)) if t > lt => Appendable::Yes,
        Some((lt, lv)) if t == lt => {
            if lv.to_bits() == v.to_bits() {
                Appendable::Duplicate
            } else {
                Appendable::DuplicateTimestamp
            }
        }
        Some(_) => Appendable::OutOfOrder,
    }
}

/// A sorted label set seen as `(name, value)` pairs: [`Labels`] on the append path, borrowed slices of a
/// WAL record during replay (no `String` per label).
pub(crate) trait LabelPairs {
    fn count(&self) -> usize;
    fn pair(&self, i: usize) -> (&str, &str);
}

impl LabelPairs for Labels {
    fn count(&self) -> usize {
        self.len()
    }

    fn pair(&self, i: usize) -> (&str, &str) {
        let l = &self.as_slice()[i];
        (&l.name, &l.value)
    }
}

impl LabelPairs for [(&str, &str)] {
    fn count(&self) -> usize {
        self.len()
    }

    fn pair(&self, i: usize) -> (&str, &str) {
        self[i]
    }
}

/// FNV-1a over the pairs with separators (the same bytes as `Labels::stable_hash`; in memory only).
pub(crate) fn hash_pairs<P: LabelPairs + ?Sized>(p: &P) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for i in 0..p.count() {
        let (n, v) = p.pair(i);
        for b in n
            .bytes()
            .chain(std::iter::once(0xff))
            .chain(v.bytes())
            .chain(std::iter::once(0xff))
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// One series in the head.
pub(crate) struct MemSeries {
    pub(crate) sref: u32,
    /// Interned `name, value` ids, alternating, sorted by name.
    pub(crate) labels: Box<[u32]>,
    /// Whether the series record is in the WAL (set under the WAL lock).
    pub(crate) logged: AtomicBool,
    /// Set (under the WAL lock) when head truncation garbage-collected the series: a commit holding it
    /// re-resolves its labels to a live series with a new ref (refs are never reused).
    pub(crate) removed: AtomicBool,
    pub(crate) state: Mutex<SeriesState>,
}

impl MemSeries {
    /// The label pairs as `(name id, value id)`.
    pub(crate) fn pairs(&self) -> impl ExactSizeIterator<Item = (u32, u32)> + '_ {
        self.labels.chunks_exact(2).map(|p| (p[0], p[1]))
    }
}

/// Ref → series, one lock per stripe.
type RefStripe = RwLock<IdMap<u32, Arc<MemSeries>>>;

struct HashStripe {
    /// Label hash → ref, for the common case of no collision.
    one: IdMap<u64, u32>,
    /// Further refs sharing a hash with `one`.
    more: IdMap<u64, Vec<u32>>,
}

/// Head-wide counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) samples_appended: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    pub(crate) out_of_bounds: AtomicU64,
    pub(crate) duplicate_timestamp: AtomicU64,
    pub(crate) commit_dropped: AtomicU64,
    pub(crate) series_created: AtomicU64,
}

/// See the module docs.
pub(crate) struct Head {
    pub(crate) symbols: Symbols,
    pub(crate) postings: RwLock<MemPostings>,
    /// Where closed chunks' bytes live.
    pub(crate) pages: ChunkPages,
    by_ref: Box<[RefStripe]>,
    by_hash: Box<[RwLock<HashStripe>]>,
    mask: usize,
    next_ref: AtomicU32,
    num_series: AtomicU64,
    pub(crate) min_time: AtomicI64,
    pub(crate) max_time: AtomicI64,
    /// No sample older than this is accepted; only moves forward (advanced when blocks are cut).
    pub(crate) min_valid_time: AtomicI64,
    pub(crate) chunk_range: i64,
    pub(crate) counters: Counters,
    /// Latest metadata per metric family name.
    pub(crate) metadata: RwLock<HashMap<String, Metadata>>,
    /// Deleted intervals by series (`delete_series`; see `crate::tombstones`).
    pub(crate) tombstones: crate::tombstones::MemTombstones,
}

impl Head {
    pub(crate) fn new(stripes: usize, chunk_range: i64) -> Head {
        let n = stripes.max(1).next_power_of_two();
        Head {
            symbols: Symbols::new(),
            postings: RwLock::new(MemPostings::new()),
            pages: ChunkPages::default(),
            by_ref: (0..n).map(|_| RwLock::new(IdMap::default())).collect(),
            by_hash: (0..n)
                .map(|_| {
                    RwLock::new(HashStripe {
                        one: IdMap::default(),
                        more: IdMap::default(),
                    })
                })
                .collect(),
            mask: n - 1,
            next_ref: AtomicU32::new(1),
            num_series: AtomicU64::new(0),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(i64::MIN),
            chunk_range: chunk_range.max(1),
            counters: Counters::default(),
            metadata: RwLock::new(HashMap::new()),
            tombstones: crate::tombstones::MemTombstones::default(),
        }
    }

    pub(crate) fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Relaxed)
    }

    /// The series with ref `sref`.
    pub(crate) fn series(&self, sref: u64) -> Option<Arc<MemSeries>> {
        let r = u32::try_from(sref).ok()?;
        self.by_ref[r as usize & self.mask].read().get(&r).cloned()
    }

    /// Whether `s` has exactly the labels `l`.
    fn same_labels<P: LabelPairs + ?Sized>(&self, s: &MemSeries, l: &P) -> bool {
        if s.labels.len() != l.count() * 2 {
            return false;
        }
        let syms = self.symbols.read();
        s.pairs().enumerate().all(|(i, (n, v))| {
            let (ln, lv) = l.pair(i);
            syms.get(n) == ln && syms.get(v) == lv
        })
    }

    /// The series with labels `l`, if it exists.
    pub(crate) fn series_by_labels<P: LabelPairs + ?Sized>(&self, l: &P, hash: u64) -> Option<Arc<MemSeries>> {
        let stripe = self.by_hash[hash as usize & self.mask].read();
        let first = stripe.one.get(&hash).copied()?;
        let more = stripe.more.get(&hash);
        for r in std::iter::once(first).chain(more.into_iter().flatten().copied()) {
            if let Some(s) = self.series(u64::from(r))
                && self.same_labels(&s, l)
            {
                return Some(s);
            }
        }
        None
    }

    /// The series with labels `l`, created (with a new ref, or `want_ref` during replay) when missing.
    /// Returns the series and whether it was created.
    pub(crate) fn get_or_create<P: LabelPairs + ?Sized>(
        &self,
        l: &P,
        want_ref: Option<u32>,
    ) -> Result<(Arc<MemSeries>, bool), String> {
        let hash = hash_pairs(l);
        if let Some(s) = self.series_by_labels(l, hash) {
            return Ok((s, false));
        }
        // Intern before taking the stripe lock, so symbol-table contention does not extend it.
        let ids: Box<[u32]> = (0..l.count())
            .flat_map(|i| {
                let (n, v) = l.pair(i);
                [self.symbols.intern(n), self.symbols.intern(v)]
            })
            .collect();
        let mut stripe = self.by_hash[hash as usize & self.mask].write();
        // Re-check: another appender may have created it while we interned.
        if let Some(&first) = stripe.one.get(&hash) {
            let more = stripe.more.get(&hash);
            for r in std::iter::once(first).chain(more.into_iter().flatten().copied()) {
                if let Some(s) = self.series(u64::from(r))
                    && self.same_labels(&s, l)
                {
                    return Ok((s, false));
                }
            }
        }
        let sref = match want_ref {
            Some(r) => {
                self.next_ref.fetch_max(r.saturating_add(1), Ordering::Relaxed);
                r
            }
            None => {
                let r = self.next_ref.fetch_add(1, Ordering::Relaxed);
                if r == u32::MAX {
                    return Err("series ref space exhausted".into());
                }
                r
            }
        };
        let s = Arc::new(MemSeries {
            sref,
            labels: ids,
            logged: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            state: Mutex::new(SeriesState::default()),
        });
        // Insert by ref before publishing the hash entry, so a hash hit always finds the series.
        self.by_ref[sref as usize & self.mask]
            .write()
            .insert(sref, Arc::clone(&s));
        match stripe.one.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => stripe.more.entry(hash).or_default().push(sref),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(sref);
            }
        }
        drop(stripe);
        let pairs: Vec<(u32, u32)> = s.pairs().collect();
        self.postings.write().add(sref, &pairs);
        self.num_series.fetch_add(1, Ordering::Relaxed);
        self.counters.series_created.fetch_add(1, Ordering::Relaxed);
        Ok((s, true))
    }

    /// The series' labels as a [`Labels`].
    pub(crate) fn labels_of(&self, s: &MemSeries) -> Labels {
        let syms = self.symbols.read();
        labels_from_ids(&syms, s)
    }

    /// Calls `f` on every series (stripe by stripe; never holds more than one stripe lock).
    pub(crate) fn for_each_series(&self, mut f: impl FnMut(&Arc<MemSeries>)) {
        for stripe in self.by_ref.iter() {
            let g = stripe.read();
            for s in g.values() {
                f(s);
            }
        }
    }

    /// Widens the head's time range to include `[mint, maxt]`.
    pub(crate) fn update_time_range(&self, mint: Timestamp, maxt: Timestamp) {
        self.min_time.fetch_min(mint, Ordering::Relaxed);
        self.max_time.fetch_max(maxt, Ordering::Relaxed);
    }

    /// The lowest timestamp an appender created now accepts (Prometheus's `appendableMinValidTime`): never
    /// below `min_valid_time`, and, once the head has samples, not more than half a chunk range before its
    /// newest sample, so appends never race with cutting the oldest chunk range into a block.
    pub(crate) fn appendable_min_valid_time(&self) -> Timestamp {
        let floor = self.min_valid_time.load(Ordering::Relaxed);
        let maxt = self.max_time.load(Ordering::Relaxed);
        if maxt == i64::MIN {
            return floor;
        }
        floor.max(maxt.saturating_sub(self.chunk_range / 2))
    }
}

/// A chunk of the head handed to the block writer: shared closed chunks, or a copy of an open one.
pub(crate) type CutChunk = Chunk;

impl Head {
    /// Snapshot for a block `[.., b)`: every series' chunks that start before `b`, with its labels, sorted
    /// by labels, without the samples its tombstones delete (chunks touched by a tombstone are re-encoded).
    /// Call after `min_valid_time >= b`, when those chunks can no longer change.
    pub(crate) fn chunks_before(&self, b: Timestamp) -> Vec<(Labels, Vec<CutChunk>)> {
        let mut out = Vec::new();
        let mut series: Vec<Arc<MemSeries>> = Vec::new();
        self.for_each_series(|s| series.push(Arc::clone(s)));
        for s in series {
            let chunks: Vec<CutChunk> = {
                let st = s.state.lock();
                let mut v: Vec<CutChunk> = st.closed.iter().filter(|c| c.min_time < b).cloned().collect();
                if let Some(h) = &st.open
                    && h.min_time() < b
                {
                    v.push(Chunk {
                        min_time: h.min_time(),
                        max_time: h.app.last_t(),
                        data: Bytes::copy_from_slice(h.app.bytes()),
                    });
                }
                v
            };
            let chunks = match self.tombstones.get(s.sref) {
                Some(d) => without_deleted(chunks, &d),
                None => chunks,
            };
            if !chunks.is_empty() {
                out.push((self.labels_of(&s), chunks));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Drops every chunk that ends before `b` and garbage-collects series left without chunks (their refs
    /// are never handed out again). Must run under the WAL lock (no commit in flight). Returns the number
    /// of series removed.
    pub(crate) fn truncate_before(&self, b: Timestamp) -> u64 {
        self.min_valid_time.fetch_max(b, Ordering::Relaxed);
        self.pages.forget_before(b);
        // The block was written without the deleted samples; intervals reaching `b` still apply here.
        self.tombstones.truncate_before(b);
        let mut series: Vec<Arc<MemSeries>> = Vec::new();
        self.for_each_series(|s| series.push(Arc::clone(s)));
        let mut removed = 0u64;
        let mut new_min = i64::MAX;
        for s in series {
            let empty = {
                let mut st = s.state.lock();
                st.closed.retain(|c| c.max_time >= b);
                if st.open.as_ref().is_some_and(|h| h.app.last_t() < b) {
                    st.open = None;
                }
                if let Some(c) = st.closed.first() {
                    new_min = new_min.min(c.min_time);
                } else if let Some(h) = &st.open {
                    new_min = new_min.min(h.min_time());
                }
                st.num_chunks() == 0
            };
            if empty {
                self.remove_series(&s);
                removed += 1;
            }
        }
        if new_min == i64::MAX {
            // Empty head: the next sample sets both bounds again.
            self.min_time.store(i64::MAX, Ordering::Relaxed);
            self.max_time.store(i64::MIN, Ordering::Relaxed);
        } else {
            self.min_time.store(new_min.max(b), Ordering::Relaxed);
        }
        removed
    }

    fn remove_series(&self, s: &Arc<MemSeries>) {
        s.removed.store(true, Ordering::Release);
        let labels = self.labels_of(s);
        let hash = hash_pairs(&labels);
        {
            let mut stripe = self.by_hash[hash as usize & self.mask].write();
            let h = &mut *stripe;
            if h.one.get(&hash) == Some(&s.sref) {
                match h.more.get_mut(&hash).and_then(Vec::pop) {
                    Some(next) => {
                        h.one.insert(hash, next);
                    }
                    None => {
                        h.one.remove(&hash);
                    }
                }
            } else if let Some(v) = h.more.get_mut(&hash) {
                v.retain(|&r| r != s.sref);
            }
            if h.more.get(&hash).is_some_and(Vec::is_empty) {
                h.more.remove(&hash);
            }
        }
        self.by_ref[s.sref as usize & self.mask].write().remove(&s.sref);
        self.tombstones.remove(s.sref);
        let pairs: Vec<(u32, u32)> = s.pairs().collect();
        self.postings.write().remove(s.sref, &pairs);
        self.num_series.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `chunks` without the samples inside `deleted`: untouched chunks are kept as they are, touched ones are
/// decoded and re-encoded (empty ones dropped).
fn without_deleted(chunks: Vec<CutChunk>, deleted: &crate::tombstones::Intervals) -> Vec<CutChunk> {
    let mut out = Vec::with_capacity(chunks.len());
    for c in chunks {
        let touched = deleted
            .as_slice()
            .iter()
            .any(|&(a, z)| a <= c.max_time && z >= c.min_time);
        if !touched {
            out.push(c);
            continue;
        }
        let mut app: Option<XorAppender> = None;
        // Head chunks were encoded by this process; a decoding error cannot happen, and stopping at one
        // keeps the samples before it.
        for (t, v) in crate::chunk::XorIter::new(&c.data).map_while(Result::ok) {
            if !deleted.contains(t) {
                app.get_or_insert_with(XorAppender::new).append(t, v);
            }
        }
        if let Some(a) = app {
            out.push(Chunk {
                min_time: a.first_t(),
                max_time: a.last_t(),
                data: a.into_bytes().into(),
            });
        }
    }
    out
}

/// Builds [`Labels`] from a series' ids under an already-held symbols guard.
pub(crate) fn labels_from_ids(syms: &crate::index::SymbolsRead<'_>, s: &MemSeries) -> Labels {
    Labels::from_sorted(
        s.pairs()
            .map(|(n, v)| diamond_model::Label {
                name: syms.get(n).into(),
                value: syms.get(v).into(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-series memory is a product goal (≤ 0.5× Prometheus); keep the fixed part of a series small so
    /// that a field added carelessly shows up here.
    #[test]
    fn series_struct_stays_small() {
        let series = std::mem::size_of::<MemSeries>();
        let state = std::mem::size_of::<SeriesState>();
        // 136: 128 plus the open chunk's boxed decoder checkpoints (`HeadChunk::cps`), which cut the
        // decoding of an instant query.
        assert!(series <= 136, "MemSeries is {series} bytes");
        assert!(state <= 104, "SeriesState is {state} bytes");
    }

    #[test]
    fn hash_pairs_matches_labels_stable_hash() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        let pairs: Vec<(&str, &str)> = vec![("__name__", "up"), ("job", "a")];
        assert_eq!(hash_pairs(&l), l.stable_hash());
        assert_eq!(hash_pairs(pairs.as_slice()), l.stable_hash());
    }

    /// Chunks of one range share pages, other ranges get their own, and a page is never grown under
    /// chunks already handed out.
    #[test]
    fn chunk_pages_pack_by_range() {
        let pages = ChunkPages::default();
        let a = pages.store(1000, &[1, 2, 3]);
        let b = pages.store(1000, &[4, 5]);
        let c = pages.store(2000, &[6]);
        assert_eq!((&a[..], &b[..], &c[..]), (&[1u8, 2, 3][..], &[4u8, 5][..], &[6u8][..]));
        assert_eq!(b.as_ptr(), a.as_ptr().wrapping_add(3), "same page, packed");
        assert!(c.as_ptr() != b.as_ptr().wrapping_add(2), "another range, another page");
        // Filling a page starts the next one; earlier chunks are unchanged.
        let big = vec![7u8; PAGE_BYTES / 8];
        let mut kept = Vec::new();
        for _ in 0..10 {
            kept.push(pages.store(1000, &big));
        }
        assert_eq!((&a[..], &b[..]), (&[1u8, 2, 3][..], &[4u8, 5][..]));
        assert!(kept.iter().all(|k| k[..] == big[..]));
        pages.forget_before(1000);
        assert_eq!(
            pages.filling.lock().len(),
            1,
            "only the range ending at 2000 is still filled"
        );
    }

    #[test]
    fn append_cuts_and_checks_order() {
        let pages = ChunkPages::default();
        let mut st = SeriesState::default();
        assert!(st.append(10, 1.0, 1000, &pages));
        assert_eq!(st.appendable(10, 1.0), Appendable::Duplicate);
        assert_eq!(st.appendable(10, 2.0), Appendable::DuplicateTimestamp);
        assert_eq!(st.appendable(9, 2.0), Appendable::OutOfOrder);
        assert!(!st.append(9, 2.0, 1000, &pages), "refused at apply time too");
        // Crossing the range boundary at 1000 cuts the chunk.
        assert!(st.append(999, 1.0, 1000, &pages));
        assert!(st.append(1000, 1.0, 1000, &pages));
        assert_eq!(st.num_chunks(), 2);
        assert_eq!(st.closed[0].max_time, 999);
    }

    proptest::proptest! {
        /// The head cuts its chunks exactly where `encode_chunks` (backfill, rewrites) cuts the same samples,
        /// so both follow the one rule, Prometheus's (`chunk::ChunkEnd`), at any scrape interval and jitter.
        #[test]
        fn head_cuts_like_encode_chunks(
            gaps in proptest::collection::vec(1i64..90_000, 1..1500),
            start in 0i64..10_000_000,
            range in proptest::sample::select(vec![60_000i64, 3_600_000, 7_200_000]),
        ) {
            let pages = ChunkPages::default();
            let mut st = SeriesState::default();
            let mut t = start;
            let mut samples = Vec::new();
            for (i, g) in gaps.iter().enumerate() {
                t += g;
                samples.push((t, i as f64));
                proptest::prop_assert!(st.append(t, i as f64, range, &pages));
            }
            let mut head: Vec<(i64, i64)> = st.closed.iter().map(|c| (c.min_time, c.max_time)).collect();
            head.extend(st.open.as_ref().map(|h| (h.min_time(), h.app.last_t())));
            let encoded: Vec<(i64, i64)> = crate::chunk::encode_chunks(samples, range)
                .iter()
                .map(|c| (c.0, c.1))
                .collect();
            proptest::prop_assert_eq!(head, encoded);
        }
    }
}
