//! The storage seams: how ingest writes ([`Appender`]) and how queries read ([`Queryable`], [`Querier`]).
//!
//! The TSDB implements both. Scrape and remote write depend only on [`Appender`]; the PromQL engine and the
//! read API depend only on [`Queryable`]. Tests of either side use [`memory::MemStorage`], a deliberately
//! naive implementation that is obviously correct.
//!
//! Reading is lazy and chunk-friendly: [`Querier::select`] returns [`Series`] whose samples are produced
//! by a [`SampleIter`] that the storage backs with its compressed chunks, so the engine decodes each chunk at
//! most once per query by iterating each series once.

use std::fmt;
use std::sync::Arc;

use crate::{Exemplar, Labels, Matcher, Metadata, Timestamp};

/// A handle to a stored series, stable for the life of the series in the head. `0` means "no hint".
pub type SeriesRef = u64;

/// Why an append was refused. The sample/series variants map to HTTP 400 in remote write (no retry);
/// [`AppendError::Storage`] maps to 500.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    /// Older than the newest sample of the series (and outside any out-of-order window).
    #[error("out of order sample")]
    OutOfOrder,
    /// Older than the head's lower bound (would belong to a block already written).
    #[error("out of bounds")]
    OutOfBounds,
    /// Same timestamp as the newest sample but a different value.
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    /// Older than the out-of-order window allows.
    #[error("too old sample")]
    TooOldSample,
    /// The label set is not valid (empty, bad name, duplicate name, …).
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// The exemplar was refused; never fails a scrape or a write request.
    #[error("{0}")]
    Exemplar(ExemplarError),
    /// The store cannot write (disk full, failed fsync, closed). Retrying later may succeed.
    #[error("storage: {0}")]
    Storage(String),
}

impl AppendError {
    /// Whether a client should be told not to retry (HTTP 400 rather than 5xx).
    pub fn is_bad_data(&self) -> bool {
        !matches!(self, AppendError::Storage(_))
    }
}

/// Why an exemplar was refused (Prometheus's errors, plus ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ExemplarError {
    /// Storage disabled (`max_exemplars <= 0`).
    #[error("exemplar storage is disabled")]
    Disabled,
    /// Label set over 128 runes.
    #[error("label length for exemplar exceeds maximum of 128 UTF-8 characters")]
    LabelLength,
    /// Older than the series' newest exemplar (outside the accepted window).
    #[error("out of order exemplar")]
    OutOfOrder,
    /// Equal to a stored exemplar; silently ignored by callers.
    #[error("duplicate exemplar")]
    Duplicate,
    /// The exemplar names a series that does not exist.
    #[error("exemplar for unknown series")]
    UnknownSeries,
}

/// A write transaction. Nothing is visible to readers or durable before [`Appender::commit`] returns `Ok`;
/// after it returns `Ok`, the data survives a crash of the process (see docs/format/wal.md).
pub trait Appender: Send {
    /// Appends one sample. `hint` is a ref from an earlier append of the same label set (or 0); the return
    /// value is the series' ref, to pass as `hint` next time. `labels` must be sorted and valid.
    ///
    /// Contract the remote-write series cache relies on: when `hint` names a live series, implementations
    /// use it and do not read `labels` (which may then be empty); when it does not, they fall back to
    /// `labels` and refuse an empty set with [`AppendError::InvalidLabels`]. Refs are never reused for a
    /// different label set, so a stale hint can only miss, never hit the wrong series.
    fn append(&mut self, hint: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef, AppendError>;

    /// Attaches an exemplar to a series appended in this transaction (or earlier).
    fn append_exemplar(&mut self, sref: SeriesRef, labels: &Labels, e: &Exemplar) -> Result<(), AppendError>;

    /// [`Appender::append_exemplar`] with an exemplar the caller gives away, so that an implementation that
    /// keeps it until commit need not copy its labels. The default borrows it.
    fn append_exemplar_owned(&mut self, sref: SeriesRef, labels: &Labels, e: Exemplar) -> Result<(), AppendError> {
        self.append_exemplar(sref, labels, &e)
    }

    /// Records `m` as the metadata of the metric family named by `labels`' `__name__` (the family name,
    /// e.g. `http_requests` for an OpenMetrics counter, not the sample name `http_requests_total`).
    /// `sref` may be 0: metadata needs no series (remote-write 1.0 sends it per family).
    fn update_metadata(&mut self, sref: SeriesRef, labels: &Labels, m: &Metadata) -> Result<(), AppendError>;

    /// Makes the transaction durable and visible.
    fn commit(self: Box<Self>) -> Result<(), AppendError>;

    /// Drops the transaction.
    fn rollback(self: Box<Self>);
}

/// A failure while reading.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// A data file is damaged.
    #[error("corrupted data: {0}")]
    Corrupted(String),
    /// The read was cancelled or ran out of time.
    #[error("canceled")]
    Canceled,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Something that can be read over a time range.
pub trait Queryable: Send + Sync {
    /// A reader over `[mint, maxt]` (inclusive, ms).
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, ReadError>;
}

/// A reader over a fixed time range.
pub trait Querier: Send + Sync {
    /// Series matching *all* matchers that have at least one sample in the range, sorted by labels. A
    /// matcher that matches the empty string also matches series without that label.
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, ReadError>;

    /// [`Querier::select`] without the promise of order: the series may come in any order (the head gives
    /// them in creation order, as Prometheus's head postings do). PromQL selectors use this, as Prometheus's
    /// engine selects with `sortSeries=false`; a querier that merges several parts still sorts, because the
    /// merge needs it, which is also what Prometheus does. The default sorts.
    fn select_unsorted(&self, matchers: &[Matcher]) -> Result<Vec<Series>, ReadError> {
        self.select(matchers)
    }

    /// Sorted label names of the series matching `matchers` (all series when empty).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, ReadError>;

    /// Sorted values of `name` among the series matching `matchers` (all series when empty).
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, ReadError>;
}

/// One selected series: its labels and a way to iterate its samples within the querier's range.
#[derive(Clone)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// Its samples.
    pub data: Arc<dyn SeriesData>,
}

impl fmt::Debug for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Series")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// The samples of one series, readable any number of times.
pub trait SeriesData: Send + Sync {
    /// Samples with `mint <= t <= maxt`, in ascending time order. Staleness markers are included (the
    /// engine needs them).
    fn iter(&self, mint: Timestamp, maxt: Timestamp) -> Box<dyn SampleIter + '_>;
}

/// A forward iterator over `(t, v)` samples.
pub trait SampleIter {
    /// The next sample, or `None` at the end.
    fn next(&mut self) -> Option<(Timestamp, f64)>;

    /// Advances to the first sample with `t >= target` and returns it. The default walks forward;
    /// storages override it to skip whole chunks.
    fn seek(&mut self, target: Timestamp) -> Option<(Timestamp, f64)> {
        loop {
            let s = self.next()?;
            if s.0 >= target {
                return Some(s);
            }
        }
    }

    /// Appends every remaining sample to `out`, as calling [`Self::next`] until `None` would. Storages
    /// override it with a loop that is not a dynamic call per sample (a selector reads whole series this
    /// way, and the call per sample cost more than the XOR decoding it wrapped).
    fn fill(&mut self, out: &mut Vec<(Timestamp, f64)>) {
        while let Some(s) = self.next() {
            out.push(s);
        }
    }
}

/// A [`SampleIter`] over an in-memory slice.
pub struct SliceIter<'a> {
    samples: &'a [(Timestamp, f64)],
    pos: usize,
}

impl<'a> SliceIter<'a> {
    /// Iterates `samples` (which must be sorted by time).
    pub fn new(samples: &'a [(Timestamp, f64)]) -> Self {
        SliceIter { samples, pos: 0 }
    }
}

impl SampleIter for SliceIter<'_> {
    fn next(&mut self) -> Option<(Timestamp, f64)> {
        let s = self.samples.get(self.pos).copied();
        self.pos += 1;
        s
    }

    fn seek(&mut self, target: Timestamp) -> Option<(Timestamp, f64)> {
        let rest = &self.samples[self.pos.min(self.samples.len())..];
        self.pos += rest.partition_point(|s| s.0 < target);
        self.next()
    }

    fn fill(&mut self, out: &mut Vec<(Timestamp, f64)>) {
        out.extend_from_slice(self.samples.get(self.pos..).unwrap_or(&[]));
        self.pos = self.samples.len();
    }
}

/// Whether `labels` satisfies every matcher.
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

pub mod memory {
    //! A naive in-memory storage for tests of the engine and ingest paths.

    use std::collections::BTreeMap;
    use std::sync::{Arc, RwLock};

    use super::*;

    /// Series in a `BTreeMap` behind a lock. Appends are visible at commit, order checks as the head does
    /// (out-of-order and duplicate samples are refused).
    #[derive(Default, Clone)]
    pub struct MemStorage {
        inner: Arc<RwLock<Inner>>,
    }

    #[derive(Default)]
    struct Inner {
        series: BTreeMap<Labels, Arc<Vec<(Timestamp, f64)>>>,
        exemplars: BTreeMap<Labels, Vec<Exemplar>>,
        metadata: BTreeMap<String, Metadata>,
    }

    impl MemStorage {
        /// An empty store.
        pub fn new() -> Self {
            Self::default()
        }

        /// Adds samples directly (for test set-up), keeping each series sorted; later duplicates replace.
        pub fn add(&self, labels: Labels, samples: &[(Timestamp, f64)]) {
            let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
            let e = g.series.entry(labels).or_default();
            let v = Arc::make_mut(e);
            for &(t, val) in samples {
                match v.binary_search_by_key(&t, |s| s.0) {
                    Ok(i) => v[i].1 = val,
                    Err(i) => v.insert(i, (t, val)),
                }
            }
        }

        /// A transaction.
        pub fn appender(&self) -> Box<dyn Appender> {
            Box::new(MemAppender {
                store: self.clone(),
                samples: Vec::new(),
                exemplars: Vec::new(),
                meta: Vec::new(),
            })
        }

        /// All exemplars of series matching any of the matcher sets, with `start <= ts <= end`.
        pub fn exemplars(
            &self,
            start: Timestamp,
            end: Timestamp,
            sets: &[Vec<Matcher>],
        ) -> Vec<(Labels, Vec<Exemplar>)> {
            let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
            g.exemplars
                .iter()
                .filter(|(l, _)| sets.iter().any(|s| matches_all(l, s)))
                .map(|(l, es)| {
                    (
                        l.clone(),
                        es.iter()
                            .filter(|e| e.ts >= start && e.ts <= end)
                            .cloned()
                            .collect::<Vec<_>>(),
                    )
                })
                .filter(|(_, es)| !es.is_empty())
                .collect()
        }

        /// Metadata by metric family name.
        pub fn metadata(&self) -> BTreeMap<String, Metadata> {
            self.inner.read().unwrap_or_else(|e| e.into_inner()).metadata.clone()
        }

        /// Number of series.
        pub fn num_series(&self) -> usize {
            self.inner.read().unwrap_or_else(|e| e.into_inner()).series.len()
        }
    }

    struct MemAppender {
        store: MemStorage,
        samples: Vec<(Labels, Timestamp, f64)>,
        exemplars: Vec<(Labels, Exemplar)>,
        meta: Vec<(String, Metadata)>,
    }

    impl Appender for MemAppender {
        fn append(
            &mut self,
            _hint: SeriesRef,
            labels: &Labels,
            t: Timestamp,
            v: f64,
        ) -> Result<SeriesRef, AppendError> {
            if labels.is_empty() {
                return Err(AppendError::InvalidLabels("empty label set".into()));
            }
            let g = self.store.inner.read().unwrap_or_else(|e| e.into_inner());
            let last = self
                .samples
                .iter()
                .rev()
                .find(|s| &s.0 == labels)
                .map(|s| (s.1, s.2))
                .or_else(|| g.series.get(labels).and_then(|s| s.last().copied()));
            if let Some((lt, lv)) = last {
                if t < lt {
                    return Err(AppendError::OutOfOrder);
                }
                if t == lt && lv.to_bits() != v.to_bits() {
                    return Err(AppendError::DuplicateSampleForTimestamp);
                }
                if t == lt {
                    return Ok(labels.stable_hash());
                }
            }
            self.samples.push((labels.clone(), t, v));
            Ok(labels.stable_hash())
        }

        fn append_exemplar(&mut self, _sref: SeriesRef, labels: &Labels, e: &Exemplar) -> Result<(), AppendError> {
            self.exemplars.push((labels.clone(), e.clone()));
            Ok(())
        }

        fn update_metadata(&mut self, _sref: SeriesRef, labels: &Labels, m: &Metadata) -> Result<(), AppendError> {
            if let Some(n) = labels.metric_name() {
                self.meta.push((n.to_owned(), m.clone()));
            }
            Ok(())
        }

        fn commit(self: Box<Self>) -> Result<(), AppendError> {
            let mut g = self.store.inner.write().unwrap_or_else(|e| e.into_inner());
            for (l, t, v) in self.samples {
                Arc::make_mut(g.series.entry(l).or_default()).push((t, v));
            }
            for (l, e) in self.exemplars {
                g.exemplars.entry(l).or_default().push(e);
            }
            for (n, m) in self.meta {
                g.metadata.insert(n, m);
            }
            Ok(())
        }

        fn rollback(self: Box<Self>) {}
    }

    impl Queryable for MemStorage {
        fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, ReadError> {
            let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
            let series = g
                .series
                .iter()
                .filter(|(_, s)| s.iter().any(|x| x.0 >= mint && x.0 <= maxt))
                .map(|(l, s)| (l.clone(), Arc::clone(s)))
                .collect();
            Ok(Box::new(MemQuerier { series, mint, maxt }))
        }
    }

    /// A series' samples, shared between the store and its queriers.
    type SharedSamples = Arc<Vec<(Timestamp, f64)>>;

    struct MemQuerier {
        series: Vec<(Labels, SharedSamples)>,
        mint: Timestamp,
        maxt: Timestamp,
    }

    struct MemData {
        samples: Arc<Vec<(Timestamp, f64)>>,
        mint: Timestamp,
        maxt: Timestamp,
    }

    impl SeriesData for MemData {
        fn iter(&self, mint: Timestamp, maxt: Timestamp) -> Box<dyn SampleIter + '_> {
            let (mint, maxt) = (mint.max(self.mint), maxt.min(self.maxt));
            let lo = self.samples.partition_point(|s| s.0 < mint);
            let hi = self.samples.partition_point(|s| s.0 <= maxt);
            Box::new(SliceIter::new(&self.samples[lo..hi.max(lo)]))
        }
    }

    impl Querier for MemQuerier {
        fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, ReadError> {
            Ok(self
                .series
                .iter()
                .filter(|(l, _)| matches_all(l, matchers))
                .map(|(l, s)| Series {
                    labels: l.clone(),
                    data: Arc::new(MemData {
                        samples: Arc::clone(s),
                        mint: self.mint,
                        maxt: self.maxt,
                    }),
                })
                .collect())
        }

        fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
            let mut names: Vec<String> = self
                .series
                .iter()
                .filter(|(l, _)| matches_all(l, matchers))
                .flat_map(|(l, _)| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>())
                .collect();
            names.sort();
            names.dedup();
            Ok(names)
        }

        fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
            let mut vals: Vec<String> = self
                .series
                .iter()
                .filter(|(l, _)| matches_all(l, matchers))
                .filter_map(|(l, _)| l.get(name).map(str::to_owned))
                .collect();
            vals.sort();
            vals.dedup();
            Ok(vals)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::MatchOp;

        #[test]
        fn append_commit_select() {
            let s = MemStorage::new();
            let l = Labels::from_pairs(&[("__name__", "x"), ("a", "1")]);
            let mut app = s.appender();
            app.append(0, &l, 1000, 1.0).unwrap();
            app.append(0, &l, 2000, 2.0).unwrap();
            assert_eq!(app.append(0, &l, 1500, 2.0), Err(AppendError::OutOfOrder));
            app.commit().unwrap();
            let q = s.querier(0, 10_000).unwrap();
            let sel = q.select(&[Matcher::new(MatchOp::Regex, "a", "1|2").unwrap()]).unwrap();
            assert_eq!(sel.len(), 1);
            let mut it = sel[0].data.iter(1500, 3000);
            assert_eq!(it.next(), Some((2000, 2.0)));
            assert_eq!(it.next(), None);
        }
    }
}
