//! [`Db`]: the WAL, the head and the exemplar store wired together, plus options and statistics.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diamond_exemplars::{CircularStore, ExemplarStats, ExemplarStore, FairStore, Policy};
use diamond_model::storage::{AppendError, Appender, Querier, Queryable, ReadError, Series};
use diamond_model::{Matcher, Metadata, Timestamp};
use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

use crate::block::{self, Block, BlockMeta};
use crate::fs::{Dir, DiskDir};
use crate::head::{Head, HeadAppender, HeadQuerier, replay_wal};
use crate::querier::merge_selected;
use crate::wal::{self, WalWriter};

/// When the WAL is fsynced. See docs/format/wal.md "Durability and fsync policy" for the guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Fsync after every commit, before it returns: survives power loss.
    Always,
    /// Fsync from a background thread at this interval (and on segment rotation and close): commits
    /// survive a process crash at once, and a power loss once the next fsync has run.
    Interval(Duration),
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// How to open a [`Db`]. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct Options {
    /// WAL segment size in bytes (rounded up to 32 KiB pages). Default 128 MiB, as Prometheus.
    pub wal_segment_size: usize,
    /// Exemplar store capacity. Default 100 000; 0 disables exemplar storage.
    pub max_exemplars: usize,
    /// Exemplar retention policy. Default [`diamond_exemplars::Policy::Fair`].
    pub exemplar_policy: diamond_exemplars::Policy,
    /// Exemplar retention in ms (fair store only; 0 keeps them until the budget needs the room). Default
    /// 15 days, the series retention's default.
    pub exemplar_retention_ms: i64,
    /// Fair store only: at a flush, windows that ended this many ms before the newest exemplar move to a
    /// sealed segment on disk (0 never seals). Default [`diamond_exemplars::DEFAULT_SEAL_AGE_MS`], one hour.
    pub exemplar_seal_age_ms: i64,
    /// Where the fair exemplar store keeps its files. Default `None`: [`Db::open`] uses `<dir>/exemplars`;
    /// the other constructors keep exemplars in memory only.
    pub exemplar_dir: Option<std::path::PathBuf>,
    /// Out-of-order window. Default 0: an out-of-order sample is refused with `OutOfOrder`, as Prometheus
    /// does. Out-of-order *ingestion* is not implemented yet: with a window > 0, samples older than the head's
    /// newest sample minus the window get `TooOldSample`, others still `OutOfOrder`.
    pub out_of_order_time_window_ms: i64,
    /// WAL fsync policy. Default `Interval(1s)`.
    pub wal_fsync: FsyncPolicy,
    /// Chunk (and future block) range in ms: chunks never cross a multiple of it, and samples older than
    /// half of it before the head's newest sample are out of bounds. Default 2 h, as Prometheus.
    pub chunk_range_ms: i64,
    /// Lock stripes of the series maps (rounded up to a power of two). Default 4096.
    pub stripes: usize,
    /// Largest block compaction produces (`--storage.tsdb.max-block-duration`), ms. Default 31 d; the
    /// server lowers it to 10% of the time retention, as Prometheus does. `chunk_range_ms` is the minimum
    /// block duration (`--storage.tsdb.min-block-duration`).
    pub max_block_duration_ms: i64,
    /// Time retention: blocks whose end is older than the newest block's end minus this are deleted.
    /// Default 15 d; `None` keeps blocks forever (unless `retention_bytes`).
    pub retention_ms: Option<i64>,
    /// Size retention: oldest blocks are deleted while blocks + WAL exceed this many bytes. Default none.
    pub retention_bytes: Option<u64>,
    /// How often the background thread cuts the head, compacts and applies retention. Default 1 min;
    /// `None`: never in the background (call [`Db::compact`]). Only for databases with a data directory
    /// ([`Db::open`], [`Db::open_with_root`]).
    pub compaction_interval: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wal_segment_size: 128 << 20,
            max_exemplars: 100_000,
            exemplar_policy: diamond_exemplars::Policy::Fair,
            exemplar_retention_ms: 15 * 86_400_000,
            exemplar_seal_age_ms: diamond_exemplars::DEFAULT_SEAL_AGE_MS,
            exemplar_dir: None,
            out_of_order_time_window_ms: 0,
            wal_fsync: FsyncPolicy::default(),
            chunk_range_ms: 2 * 3600 * 1000,
            stripes: 4096,
            max_block_duration_ms: 31 * 24 * 3600 * 1000,
            retention_ms: Some(15 * 24 * 3600 * 1000),
            retention_bytes: None,
            compaction_interval: Some(Duration::from_secs(60)),
        }
    }
}

/// Failures of [`Db`] operations other than appends.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The WAL failed (I/O, or poisoned by an earlier failure).
    #[error("write-ahead log operation failed")]
    Wal(#[from] wal::Error),
    /// Writing, reading or compacting a block failed.
    #[error("block operation failed")]
    Block(#[from] block::Error),
    /// Another process (or another `Db` in this one) has the data directory open.
    #[error("data directory {path} is locked by another open database")]
    Locked {
        /// The directory.
        path: String,
    },
    /// Creating or opening the data directory failed.
    #[error("opening data directory {path}")]
    Open {
        /// The directory.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Counters and gauges of a [`Db`], for `/metrics` and the status API.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Series in the head.
    pub num_series: u64,
    /// Oldest sample timestamp in the head (`None` when empty).
    pub min_time: Option<Timestamp>,
    /// Newest sample timestamp in the head (`None` when empty).
    pub max_time: Option<Timestamp>,
    /// Chunks in the head (closed + open).
    pub chunks: u64,
    /// Interned label strings (distinct names and values).
    pub symbols: u64,
    /// Bytes of the interned label strings.
    pub symbol_bytes: u64,
    /// WAL segment files on disk.
    pub wal_segments: u64,
    /// WAL bytes on disk.
    pub wal_bytes: u64,
    /// Fsyncs of WAL segments since open.
    pub wal_fsyncs: u64,
    /// Why the WAL refuses writes, if it does.
    pub wal_poisoned: Option<String>,
    /// How long the WAL replay on open took.
    pub replay_duration: Duration,
    /// WAL records replayed on open.
    pub replay_records: u64,
    /// Damage found and repaired on open.
    pub replay_corruption: Option<String>,
    /// Samples appended (committed, or replayed) since open.
    pub samples_appended: u64,
    /// Samples refused as out of order.
    pub out_of_order_rejected: u64,
    /// Samples refused as out of bounds.
    pub out_of_bounds_rejected: u64,
    /// Samples refused for a duplicate timestamp with a different value.
    pub duplicate_rejected: u64,
    /// Samples dropped at commit because a concurrent commit appended a newer sample first.
    pub commit_dropped: u64,
    /// Series created since open (including replay).
    pub series_created: u64,
    /// The exemplar store's statistics.
    pub exemplars: ExemplarStats,
    /// Blocks, compactions, retention and head truncation.
    pub blocks: BlockStats,
}

/// Block lifecycle statistics (exported as Prometheus's `prometheus_tsdb_*` metrics of the same meaning).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Blocks open (`prometheus_tsdb_blocks_loaded`).
    pub loaded: u64,
    /// Bytes of the open blocks (`prometheus_tsdb_storage_blocks_bytes`).
    pub bytes: u64,
    /// Oldest sample time in blocks or head (`prometheus_tsdb_lowest_timestamp`), `None` when empty.
    pub lowest_timestamp: Option<Timestamp>,
    /// Blocks cut from the head (`prometheus_tsdb_compactions_total` counts these plus `compactions`,
    /// as Prometheus's head compaction is a compaction too).
    pub head_blocks_written: u64,
    /// Compactions of blocks into one.
    pub compactions: u64,
    /// Failed rounds of cutting/compaction (`prometheus_tsdb_compactions_failed_total`).
    pub compactions_failed: u64,
    /// Head truncations (`prometheus_tsdb_head_truncations_total`).
    pub head_truncations: u64,
    /// Series garbage-collected from the head (`prometheus_tsdb_head_series_removed_total`).
    pub head_series_removed: u64,
    /// WAL checkpoints written (`prometheus_tsdb_checkpoint_creations_total`).
    pub checkpoints: u64,
    /// Failed WAL checkpoints (`prometheus_tsdb_checkpoint_creations_failed_total`).
    pub checkpoints_failed: u64,
    /// Blocks deleted by time retention (`prometheus_tsdb_time_retentions_total`).
    pub time_retentions: u64,
    /// Blocks deleted by size retention (`prometheus_tsdb_size_retentions_total`).
    pub size_retentions: u64,
}

/// The head statistics of the TSDB status API (`headStats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadStats {
    /// Series in the head.
    pub num_series: u64,
    /// Distinct label pairs.
    pub num_label_pairs: u64,
    /// Chunks in the head.
    pub chunk_count: u64,
    /// Oldest sample (ms), `None` when empty.
    pub min_time: Option<Timestamp>,
    /// Newest sample (ms), `None` when empty.
    pub max_time: Option<Timestamp>,
}

/// `/api/v1/status/tsdb`: each list is sorted by count descending (then name) and cut to the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cardinality {
    /// `headStats`.
    pub head_stats: HeadStats,
    /// `seriesCountByMetricName`.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// `labelValueCountByLabelName`.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// `memoryInBytesByLabelName`: per label name, the bytes of its values summed over series.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// `seriesCountByLabelValuePair` (`name=value`).
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

pub(crate) struct WalState {
    pub(crate) writer: WalWriter,
    pub(crate) closed: bool,
}

pub(crate) struct DbInner {
    pub(crate) head: Head,
    pub(crate) wal: Mutex<WalState>,
    pub(crate) exemplars: Arc<dyn ExemplarStore>,
    /// The store's capacity, kept here so appends can check "disabled" without asking the store.
    pub(crate) exemplars_max: std::sync::atomic::AtomicUsize,
    /// Stored exemplars whose trace label is unparsable, counted at commit (issue 6).
    pub(crate) trace_ids: diamond_model::traceid::TraceIdStats,
    pub(crate) opts: Options,
    /// Set on the first WAL failure or on close: appends are refused without taking the WAL lock.
    refusing: AtomicBool,
    wal_base_segments: u64,
    wal_base_bytes: u64,
    replay_duration: Duration,
    replay_records: u64,
    replay_corruption: Option<String>,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    /// Wakes the compaction thread early (with `stop`'s mutex): set by a commit that left the head
    /// compactable (see [`DbInner::kick_compaction_if_due`]), cleared by the thread before its round.
    compact_kicked: AtomicBool,
    compact_cv: Condvar,
    /// Persistent blocks, sorted by time (see `compact.rs`); empty without a data directory.
    pub(crate) blocks: RwLock<Vec<Arc<Block>>>,
    /// The data directory (`None` for a WAL-only database opened with [`Db::open_with_dir`]).
    pub(crate) root: Option<Arc<dyn Dir>>,
    pub(crate) wal_dir: Arc<dyn Dir>,
    /// Serialises head cuts, compactions and retention.
    pub(crate) compacting: Mutex<()>,
    pub(crate) block_counters: crate::compact::Counters,
}

impl DbInner {
    /// Wakes the compaction thread when the head spans more than 1.5 × the block range (what
    /// [`crate::compact`] cuts), instead of leaving it to the next interval, as Prometheus's appender does
    /// on commit. Under fast ingest (remote write of old data, a catch-up after an outage) a 1-minute
    /// interval would otherwise let the head hold many block ranges of samples at once. Two atomic loads
    /// when nothing is due.
    pub(crate) fn kick_compaction_if_due(&self) {
        if self.root.is_none() || self.opts.compaction_interval.is_none() {
            return;
        }
        let (mint, maxt) = (
            self.head.min_time.load(Ordering::Relaxed),
            self.head.max_time.load(Ordering::Relaxed),
        );
        let range = self.opts.chunk_range_ms.max(1);
        if mint > maxt || maxt.saturating_sub(mint) <= range / 2 * 3 {
            return;
        }
        if !self.compact_kicked.swap(true, Ordering::AcqRel) {
            // Notified under the mutex the thread checks `compact_kicked` under: no lost wake-up.
            let _g = self.stop.lock();
            self.compact_cv.notify_one();
        }
    }

    pub(crate) fn check_writable(&self) -> Result<(), AppendError> {
        if self.refusing.load(Ordering::Acquire) {
            let g = self.wal.lock();
            return self.check_writable_locked(&g);
        }
        Ok(())
    }

    pub(crate) fn check_writable_locked(&self, wal: &MutexGuard<'_, WalState>) -> Result<(), AppendError> {
        if wal.closed {
            return Err(AppendError::Storage("tsdb is closed".into()));
        }
        if let Some(p) = wal.writer.poisoned() {
            return Err(AppendError::Storage(format!("wal poisoned: {p}")));
        }
        Ok(())
    }

    /// Records a WAL failure (the writer has already poisoned itself) and converts it for the caller.
    pub(crate) fn poison(&self, e: &wal::Error) -> AppendError {
        self.refusing.store(true, Ordering::Release);
        tracing::error!(error = %crate::error_chain(e), "wal write failed; refusing further appends");
        AppendError::Storage(crate::error_chain(e))
    }
}

// `Db` is shared as `Arc<Db>` across the server's threads; keep it that way at compile time.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Db>();
};

/// The storage engine. Cheap to share as `Arc<Db>`; all methods take `&self`.
pub struct Db {
    pub(crate) inner: Arc<DbInner>,
    syncer: Mutex<Option<JoinHandle<()>>>,
    compactor: Mutex<Option<JoinHandle<()>>>,
    /// Holds an exclusive lock on `<dir>/lock` while open (released when dropped).
    _lock: Option<std::fs::File>,
    /// The data directory on disk ([`Db::open`]), where snapshots are written.
    pub(crate) path: Option<std::path::PathBuf>,
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: replays the WAL in `dir/wal`, repairing a damaged
    /// tail, and starts a new WAL segment.
    /// Takes an exclusive lock on `dir/lock`: two writers on one WAL would interleave segments.
    pub fn open(dir: &Path, opts: Options) -> Result<Db, Error> {
        let open_err = |source| Error::Open {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(open_err)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(open_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: dir.display().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(open_err(e)),
        }
        let root = DiskDir::open(dir).map_err(open_err)?;
        let mut opts = opts;
        if opts.exemplar_dir.is_none() {
            opts.exemplar_dir = Some(dir.join("exemplars"));
        }
        let mut db = Self::open_with_root(Arc::new(root), opts)?;
        db._lock = Some(lock);
        db.path = Some(dir.to_path_buf());
        Ok(db)
    }

    /// Opens a database whose WAL lives in `wal_dir`, without blocks (the head keeps everything; the
    /// WAL fault-injection seam: pass a [`crate::fs::FaultyDir`]).
    pub fn open_with_dir(wal_dir: Arc<dyn Dir>, opts: Options) -> Result<Db, Error> {
        Self::open_inner(wal_dir, None, opts)
    }

    /// Opens a database in the data directory `root` (`wal/` and blocks; docs/format/block-meta.md), without
    /// taking the lock file ([`Db::open`] does). The fault-injection seam for blocks and WAL together.
    pub fn open_with_root(root: Arc<dyn Dir>, opts: Options) -> Result<Db, Error> {
        let wal_dir = root.subdir("wal").map_err(|e| Error::Open {
            path: "wal".into(),
            source: e,
        })?;
        Self::open_inner(wal_dir, Some(root), opts)
    }

    /// A head-only database replayed from `wal_dir`, ignoring samples below `blocks_end` (the end of the
    /// data directory's newest block, as [`Db::open`] does): for the read-only tools ([`crate::tools`]).
    pub(crate) fn open_read_only_head(
        wal_dir: Arc<dyn Dir>,
        blocks_end: Option<Timestamp>,
        opts: Options,
    ) -> Result<Db, Error> {
        Self::open_inner_with(wal_dir, None, blocks_end, opts)
    }

    fn open_inner(wal_dir: Arc<dyn Dir>, root: Option<Arc<dyn Dir>>, opts: Options) -> Result<Db, Error> {
        Self::open_inner_with(wal_dir, root, None, opts)
    }

    fn open_inner_with(
        wal_dir: Arc<dyn Dir>,
        root: Option<Arc<dyn Dir>>,
        blocks_end: Option<Timestamp>,
        opts: Options,
    ) -> Result<Db, Error> {
        let started = Instant::now();
        let head = Head::new(opts.stripes, opts.chunk_range_ms);
        let blocks = match &root {
            Some(r) => crate::compact::open_blocks(r)?,
            None => Vec::new(),
        };
        // Samples the blocks hold are not replayed into the head again, nor accepted anew.
        if let Some(end) = blocks.iter().map(|b| b.meta().max_time).max().max(blocks_end) {
            head.min_valid_time.store(end, Ordering::Relaxed);
        }
        let exemplars: Arc<dyn ExemplarStore> = match opts.exemplar_policy {
            Policy::Fair => match &opts.exemplar_dir {
                Some(d) => {
                    let s = FairStore::open(d, opts.max_exemplars, opts.exemplar_retention_ms).map_err(|source| {
                        Error::Open {
                            path: d.display().to_string(),
                            source,
                        }
                    })?;
                    s.set_seal_age_ms(opts.exemplar_seal_age_ms);
                    Arc::new(s)
                }
                None => {
                    let s = FairStore::new(opts.max_exemplars);
                    s.set_retention_ms(opts.exemplar_retention_ms);
                    s.set_seal_age_ms(opts.exemplar_seal_age_ms);
                    Arc::new(s)
                }
            },
            Policy::Circular => Arc::new(CircularStore::new(opts.max_exemplars)),
        };
        let replay = replay_wal(&head, wal_dir.as_ref(), exemplars.as_ref())?;
        let writer = WalWriter::create(Arc::clone(&wal_dir), replay.wal.next_segment(), opts.wal_segment_size)?;
        let replay_duration = started.elapsed();
        let kept_segments = replay.wal.segments.len() - replay.wal.dropped_segments.len();
        tracing::info!(
            series = head.num_series(),
            samples = replay.samples,
            records = replay.wal.records,
            unknown_refs = replay.unknown_refs,
            bad_records = replay.bad_records,
            duration_ms = replay_duration.as_millis() as u64,
            "wal replay done"
        );
        let inner = Arc::new(DbInner {
            head,
            wal: Mutex::new(WalState { writer, closed: false }),
            exemplars,
            exemplars_max: std::sync::atomic::AtomicUsize::new(opts.max_exemplars),
            trace_ids: diamond_model::traceid::TraceIdStats::default(),
            refusing: AtomicBool::new(false),
            wal_base_segments: kept_segments as u64,
            wal_base_bytes: replay.wal.bytes - replay.wal.dropped_bytes,
            replay_duration,
            replay_records: replay.wal.records,
            replay_corruption: replay.wal.corruption.clone(),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            compact_kicked: AtomicBool::new(false),
            compact_cv: Condvar::new(),
            blocks: RwLock::new(blocks),
            root,
            wal_dir,
            compacting: Mutex::new(()),
            block_counters: Default::default(),
            opts,
        });
        let compactor = match (inner.root.is_some(), inner.opts.compaction_interval) {
            (true, Some(every)) => Some(spawn_compactor(
                Arc::downgrade(&inner),
                every.max(Duration::from_millis(1)),
            )),
            _ => None,
        };
        let syncer = match inner.opts.wal_fsync {
            // At least 1 ms, so a zero interval does not spin.
            FsyncPolicy::Interval(every) => Some(spawn_syncer(
                Arc::downgrade(&inner),
                every.max(Duration::from_millis(1)),
            )),
            FsyncPolicy::Always => None,
        };
        Ok(Db {
            inner,
            syncer: Mutex::new(syncer),
            compactor: Mutex::new(compactor),
            _lock: None,
            path: None,
        })
    }

    /// A new write transaction.
    pub fn appender(&self) -> Box<dyn Appender> {
        Box::new(HeadAppender::new(Arc::clone(&self.inner)))
    }

    /// The exemplar store (read it for `query_exemplars`; the Db writes to it).
    pub fn exemplars(&self) -> Arc<dyn ExemplarStore> {
        Arc::clone(&self.inner.exemplars)
    }

    /// Counts of stored exemplars whose trace label holds no parsable trace ID, by label name (since open;
    /// exemplars replayed from the WAL are not counted again).
    pub fn trace_id_stats(&self) -> &diamond_model::traceid::TraceIdStats {
        &self.inner.trace_ids
    }

    /// Changes the exemplar store's capacity (config reload); 0 disables it.
    pub fn resize_exemplars(&self, max: usize) {
        self.inner.exemplars.resize(max);
        self.inner.exemplars_max.store(max, Ordering::Relaxed);
    }

    /// Latest metadata per metric family name, sorted by name.
    pub fn metadata(&self) -> Vec<(String, Metadata)> {
        let mut v: Vec<(String, Metadata)> = self
            .inner
            .head
            .metadata
            .read()
            .iter()
            .map(|(k, m)| (k.clone(), m.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn time_bounds(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        let h = &self.inner.head;
        let (mint, maxt) = (h.min_time.load(Ordering::Relaxed), h.max_time.load(Ordering::Relaxed));
        if mint > maxt {
            (None, None)
        } else {
            (Some(mint), Some(maxt))
        }
    }

    fn num_chunks(&self) -> u64 {
        let mut n = 0u64;
        self.inner
            .head
            .for_each_series(|s| n += s.state.lock().num_chunks() as u64);
        n
    }

    /// Current statistics. Counts chunks by visiting every series: call it at scrape rate, not per request.
    pub fn stats(&self) -> Stats {
        let i = &self.inner;
        let h = &i.head;
        let (min_time, max_time) = self.time_bounds();
        let (mut wal_segments, mut wal_bytes, wal_fsyncs, wal_poisoned) = {
            let w = i.wal.lock();
            (
                i.wal_base_segments + w.writer.segments_created,
                i.wal_base_bytes + w.writer.bytes_written,
                w.writer.fsyncs,
                w.writer.poisoned().map(str::to_owned),
            )
        };
        // Once checkpoints have removed segments, the counters above overstate: ask the directory.
        if i.block_counters.checkpoints.load(Ordering::Relaxed) > 0
            && let Ok((segs, bytes)) = crate::compact::wal_disk_usage(i.wal_dir.as_ref())
        {
            (wal_segments, wal_bytes) = (segs, bytes);
        }
        let blocks = crate::compact::block_stats(i, min_time);
        let c = &h.counters;
        Stats {
            num_series: h.num_series(),
            min_time,
            max_time,
            chunks: self.num_chunks(),
            symbols: h.symbols.len() as u64,
            symbol_bytes: h.symbols.bytes() as u64,
            wal_segments,
            wal_bytes,
            wal_fsyncs,
            wal_poisoned,
            replay_duration: i.replay_duration,
            replay_records: i.replay_records,
            replay_corruption: i.replay_corruption.clone(),
            samples_appended: c.samples_appended.load(Ordering::Relaxed),
            out_of_order_rejected: c.out_of_order.load(Ordering::Relaxed),
            out_of_bounds_rejected: c.out_of_bounds.load(Ordering::Relaxed),
            duplicate_rejected: c.duplicate_timestamp.load(Ordering::Relaxed),
            commit_dropped: c.commit_dropped.load(Ordering::Relaxed),
            series_created: c.series_created.load(Ordering::Relaxed),
            exemplars: i.exemplars.stats(),
            blocks,
        }
    }

    /// The cardinality statistics of `/api/v1/status/tsdb`, each list cut to its top `limit` entries.
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        let h = &self.inner.head;
        let (min_time, max_time) = self.time_bounds();
        let mut by_metric = Vec::new();
        let mut value_count = Vec::new();
        let mut memory = Vec::new();
        let mut pairs = Vec::new();
        let num_label_pairs;
        {
            let p = h.postings.read();
            let syms = h.symbols.read();
            num_label_pairs = p.num_pairs() as u64;
            let metric_name = syms.lookup(diamond_model::METRIC_NAME);
            for n in p.names() {
                let name = syms.get(n);
                let mut values = 0u64;
                let mut bytes = 0u64;
                for (v, b) in p.values(n) {
                    let value = syms.get(v);
                    let count = b.len();
                    values += 1;
                    bytes += value.len() as u64 * count;
                    if Some(n) == metric_name {
                        by_metric.push((value.to_owned(), count));
                    }
                    pairs.push((format!("{name}={value}"), count));
                }
                value_count.push((name.to_owned(), values));
                memory.push((name.to_owned(), bytes));
            }
        }
        Cardinality {
            head_stats: HeadStats {
                num_series: h.num_series(),
                num_label_pairs,
                chunk_count: self.num_chunks(),
                min_time,
                max_time,
            },
            series_count_by_metric_name: top(by_metric, limit),
            label_value_count_by_label_name: top(value_count, limit),
            memory_in_bytes_by_label_name: top(memory, limit),
            series_count_by_label_value_pair: top(pairs, limit),
        }
    }

    /// Fsyncs the active WAL segment now (for example before acknowledging something that must survive
    /// power loss under `FsyncPolicy::Interval`). A failure poisons the WAL, as any fsync failure does.
    pub fn sync_wal(&self) -> Result<(), Error> {
        let mut w = self.inner.wal.lock();
        if let Err(e) = w.writer.sync() {
            drop(w);
            let _ = self.inner.poison(&e);
            return Err(e.into());
        }
        Ok(())
    }

    /// Flushes and fsyncs the WAL, refuses further appends, then flushes the exemplar store (its snapshot
    /// then holds everything, docs/exemplars.md; the WAL keeps the exemplar records, which the next open
    /// replays as duplicates). Idempotent.
    pub fn close(&self) -> Result<(), Error> {
        self.stop_syncer();
        let mut w = self.inner.wal.lock();
        if w.closed {
            return Ok(());
        }
        w.closed = true;
        self.inner.refusing.store(true, Ordering::Release);
        w.writer.sync()?;
        drop(w);
        if let Err(e) = self.inner.exemplars.flush() {
            // Nothing is lost: the WAL still holds every exemplar record since the last checkpoint.
            tracing::warn!(error = %e, "exemplar store flush at close failed");
        }
        Ok(())
    }

    fn stop_syncer(&self) {
        *self.inner.stop.lock() = true;
        self.inner.stop_cv.notify_all();
        self.inner.compact_cv.notify_all();
        if let Some(h) = self.syncer.lock().take() {
            let _ = h.join();
        }
        if let Some(h) = self.compactor.lock().take() {
            let _ = h.join();
        }
    }

    /// Cuts the head into blocks where it spans more than 1.5 × the block range, compacts blocks and
    /// applies retention, once (the background thread does this every `Options::compaction_interval`).
    /// A no-op without a data directory.
    pub fn compact(&self) -> Result<(), Error> {
        crate::compact::run_once(&self.inner)
    }

    /// The metas of the open blocks, oldest first.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.inner.blocks.read().iter().map(|b| b.meta().clone()).collect()
    }
}

/// Dropping a `Db` without [`Db::close`] behaves like a crash of the process: every committed transaction is
/// already in the WAL files (so it is replayed on the next open), but the last interval is not fsynced.
impl Drop for Db {
    fn drop(&mut self) {
        self.stop_syncer();
    }
}

fn spawn_syncer(db: std::sync::Weak<DbInner>, every: Duration) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("tsdb-wal-fsync".into())
        .spawn(move || {
            loop {
                let Some(db) = db.upgrade() else { return };
                {
                    let mut stop = db.stop.lock();
                    if !*stop {
                        db.stop_cv.wait_for(&mut stop, every);
                    }
                    if *stop {
                        return;
                    }
                }
                let mut w = db.wal.lock();
                if !w.closed
                    && w.writer.poisoned().is_none()
                    && w.writer.is_dirty()
                    && let Err(e) = w.writer.sync()
                {
                    drop(w);
                    let _ = db.poison(&e);
                }
            }
        })
        .expect("spawning the WAL fsync thread (only fails when the OS is out of threads)")
}

fn top(mut v: Vec<(String, u64)>, limit: usize) -> Vec<(String, u64)> {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

impl Queryable for Db {
    /// The head, merged with every block overlapping `[mint, maxt]` (ARCHITECTURE.md "Blocks behind the
    /// read seam").
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, ReadError> {
        Ok(Box::new(DbQuerier {
            inner: Arc::clone(&self.inner),
            mint,
            maxt,
        }))
    }
}

/// Head and blocks, read in that order on every call. A head cut opens its block before it truncates the
/// head, so reading the head first and then taking the list of blocks sees every sample in one of the two:
/// a cut between the two reads left the samples in the head snapshot, a cut before the head read put its
/// block in the list. Taking the block list when the querier was made (the old way) lost a whole block
/// range from a query that raced a cut (the kill -9 test saw it: the samples were on disk, the answer
/// lacked them). Blocks that compaction or retention remove meanwhile stay readable through their `Arc`.
struct DbQuerier {
    inner: Arc<DbInner>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl DbQuerier {
    fn head(&self) -> HeadQuerier {
        HeadQuerier::new(Arc::clone(&self.inner), self.mint, self.maxt)
    }

    /// Queriers of the blocks overlapping the range now, oldest first.
    fn blocks(&self) -> Vec<Box<dyn Querier>> {
        let (mint, maxt) = (self.mint, self.maxt);
        self.inner
            .blocks
            .read()
            .iter()
            .filter(|b| b.meta().min_time <= maxt && b.meta().max_time > mint)
            .map(|b| Box::new(Block::querier(b, mint, maxt)) as Box<dyn Querier>)
            .collect()
    }

    /// The head's series alone when no block overlaps the range (in creation order unless `sorted`), else
    /// the sorted merge of the blocks' and the head's.
    fn select_parts(&self, matchers: &[Matcher], sorted: bool) -> Result<Vec<Series>, ReadError> {
        // The head is read before the block list: a block cut in between then shows up in both (merged
        // away) instead of in neither (its samples already truncated from the head, the block not yet
        // listed), which lost acknowledged samples from queries during compaction.
        let h = self.head();
        let head = if sorted {
            h.select(matchers)?
        } else {
            h.select_unsorted(matchers)?
        };
        let blocks = self.blocks();
        if blocks.is_empty() {
            return Ok(head);
        }
        let mut lists = Vec::with_capacity(blocks.len() + 1);
        for q in &blocks {
            lists.push(q.select(matchers)?);
        }
        // The head last: on equal timestamps its sample wins. The merge sorts, so its own order is free.
        lists.push(head);
        Ok(merge_selected(lists))
    }

    /// Head values first, then blocks', sorted and deduplicated.
    fn union(&self, f: impl Fn(&dyn Querier) -> Result<Vec<String>, ReadError>) -> Result<Vec<String>, ReadError> {
        let mut v = f(&self.head())?;
        for q in self.blocks() {
            v.extend(f(q.as_ref())?);
        }
        v.sort();
        v.dedup();
        Ok(v)
    }
}

impl Querier for DbQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, ReadError> {
        self.select_parts(matchers, true)
    }

    fn select_unsorted(&self, matchers: &[Matcher]) -> Result<Vec<Series>, ReadError> {
        self.select_parts(matchers, false)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
        self.union(|q| q.label_names(matchers))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
        self.union(|q| q.label_values(name, matchers))
    }
}

fn spawn_compactor(db: std::sync::Weak<DbInner>, every: Duration) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("tsdb-compact".into())
        .spawn(move || {
            loop {
                let Some(db) = db.upgrade() else { return };
                {
                    let mut stop = db.stop.lock();
                    if !*stop && !db.compact_kicked.load(Ordering::Acquire) {
                        db.compact_cv.wait_for(&mut stop, every);
                    }
                    if *stop {
                        return;
                    }
                }
                db.compact_kicked.store(false, Ordering::Release);
                // Failures are logged and retried next round; a WAL failure has poisoned appends already.
                if let Err(e) = crate::compact::run_once(&db) {
                    tracing::error!(error = %crate::error_chain(&e), "block cut/compaction/retention failed");
                }
                diamond_model::mem::release_free_memory();
            }
        })
        .expect("spawning the compaction thread (only fails when the OS is out of threads)")
}
