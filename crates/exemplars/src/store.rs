//! [`FairStore`]: the fair in-memory store of [`crate::fair`] behind the [`ExemplarStore`] seam, with a lock,
//! retention and (when opened on a directory) segment files on disk.

use std::sync::atomic::{AtomicI64, Ordering};

use diamond_model::storage::{ExemplarError, SeriesRef};
use diamond_model::{Exemplar, Labels, Matcher, Timestamp};
use parking_lot::RwLock;

use crate::fair::Mem;

const SNAPSHOT: &str = "head.snapshot";
use crate::{ExemplarStats, ExemplarStore, SeriesExemplars, SeriesSummary, validate};

/// Diamond's default exemplar store: the retention policy of `docs/exemplars.md`.
///
/// ```
/// use diamond_exemplars::{ExemplarStore, FairStore};
/// use diamond_model::{Exemplar, Labels, Matcher};
/// let store = FairStore::new(1);
/// let a = Labels::from_pairs(&[("__name__", "a")]);
/// let b = Labels::from_pairs(&[("__name__", "b")]);
/// let e = |ts| Exemplar { labels: Labels::from_pairs(&[("trace_id", "abc")]), value: 1.0, ts, has_ts: true };
/// store.append(1, &a, &e(1000)).unwrap();
/// store.append(2, &b, &e(2000)).unwrap(); // over budget: one series loses its only exemplar
/// assert_eq!(store.stats().stored, 1);
/// ```
pub struct FairStore {
    pub(crate) mem: RwLock<Mem>,
    /// `<data>/exemplars/` when persistent (docs/format/exemplars.md).
    dir: Option<std::path::PathBuf>,
    /// Serialises flushes (the snapshot's tmp file).
    flushing: parking_lot::Mutex<()>,
    /// Retention in ms (0: none).
    retention_ms: AtomicI64,
}

impl FairStore {
    /// A memory-only store holding at most `max` exemplars (0 disables it), without retention.
    pub fn new(max: usize) -> FairStore {
        FairStore {
            mem: RwLock::new(Mem::new(max)),
            dir: None,
            flushing: parking_lot::Mutex::new(()),
            retention_ms: AtomicI64::new(0),
        }
    }

    /// A store persisted in `dir` (`head.snapshot`, docs/format/exemplars.md): loads the snapshot if there
    /// is one. A snapshot that does not decode is renamed to `head.snapshot.corrupt` and logged; the store
    /// then opens empty (the WAL replay restores what came after the last checkpoint).
    pub fn open(dir: &std::path::Path, max: usize, retention_ms: i64) -> std::io::Result<FairStore> {
        std::fs::create_dir_all(dir)?;
        let mut s = FairStore::new(max);
        s.set_retention_ms(retention_ms);
        s.dir = Some(dir.to_path_buf());
        let path = dir.join(SNAPSHOT);
        match std::fs::read(&path) {
            Ok(bytes) => match crate::snapshot::decode(&bytes) {
                Ok(series) => {
                    let mut g = s.mem.write();
                    for (labels, ex) in series {
                        for e in ex {
                            let _ = g.append(None, &labels, &e, 0);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "exemplar snapshot unreadable; set aside");
                    std::fs::rename(&path, dir.join(format!("{SNAPSHOT}.corrupt")))?;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(s)
    }

    /// Sets the retention (ms; 0 keeps exemplars until the budget needs the room). Exemplars older than
    /// the newest exemplar seen minus the retention are dropped at the next flush and refused on append.
    pub fn set_retention_ms(&self, ms: i64) {
        self.retention_ms.store(ms.max(0), Ordering::Relaxed);
    }

    /// The retention in ms (0: none).
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms.load(Ordering::Relaxed)
    }

    /// Estimated heap bytes held by the in-memory part.
    pub fn memory_bytes(&self) -> usize {
        self.mem.read().heap_bytes()
    }
}

impl ExemplarStore for FairStore {
    fn append(&self, sref: SeriesRef, series: &Labels, e: &Exemplar) -> Result<(), ExemplarError> {
        let mut g = self.mem.write();
        if g.max == 0 {
            return Err(ExemplarError::Disabled);
        }
        if let Err(err) = validate(e) {
            g.counters.label_length += 1;
            return Err(err);
        }
        g.append(Some(sref), series, e, self.retention_ms())
    }

    fn select(&self, start: Timestamp, end: Timestamp, matcher_sets: &[Vec<Matcher>]) -> Vec<SeriesExemplars> {
        self.mem
            .read()
            .select(start, end, matcher_sets)
            .into_iter()
            .map(|(series_labels, exemplars)| SeriesExemplars {
                series_labels,
                exemplars,
            })
            .collect()
    }

    fn resize(&self, max: usize) {
        self.mem.write().resize(max);
    }

    fn stats(&self) -> ExemplarStats {
        let g = self.mem.read();
        let c = g.counters;
        ExemplarStats {
            stored: g.total as u64,
            series: g.num_series() as u64,
            max: g.max as u64,
            appended_total: c.appended,
            out_of_order_total: 0,
            label_length_total: c.label_length,
            duplicate_total: c.duplicate,
            evicted_total: c.thinned + c.coarsened + c.evicted_series,
            oldest_ts: g.oldest().unwrap_or(0),
            too_old_total: c.too_old,
            thinned_total: c.thinned,
            coarsened_total: c.coarsened,
            evicted_series_total: c.evicted_series,
            expired_total: c.expired,
            memory_bytes: g.heap_bytes() as u64,
            ..Default::default()
        }
    }

    fn series_summary(&self) -> Vec<SeriesSummary> {
        let g = self.mem.read();
        let mut out: Vec<SeriesSummary> = g
            .live()
            .filter_map(|s| {
                Some(SeriesSummary {
                    labels: s.labels.clone(),
                    exemplars: s.ex.len() as u64,
                    oldest: s.ex.first()?.ts(),
                    newest: s.ex.last()?.ts(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    fn flush(&self) -> std::io::Result<bool> {
        let floor = {
            let g = self.mem.read();
            let r = self.retention_ms();
            (r > 0 && g.newest != i64::MIN).then(|| g.newest.saturating_sub(r))
        };
        if let Some(floor) = floor {
            self.mem.write().expire(floor);
        }
        let Some(dir) = &self.dir else {
            return Ok(false);
        };
        let _one = self.flushing.lock();
        let all = [vec![
            Matcher::new(diamond_model::MatchOp::Regex, "__name__", ".*").expect("`.*` is a valid regex"),
        ]];
        let series = self.mem.read().select(i64::MIN, i64::MAX, &all);
        crate::snapshot::write_atomic(dir, SNAPSHOT, &crate::snapshot::encode(&series))?;
        Ok(true)
    }
}
