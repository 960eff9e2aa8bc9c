//! The exemplar store seam and its first implementation.
//!
//! [`ExemplarStore`] is what the TSDB appends to (after validating and logging to the WAL) and what the
//! `query_exemplars` API reads. The first implementation, [`CircularStore`], keeps Prometheus's semantics
//! (one bounded buffer, per-series chains, dedupe against the newest, strict order); issue 5 replaces the
//! retention policy behind the same trait.
//!
//! ```
//! use diamond_exemplars::{CircularStore, ExemplarStore};
//! use diamond_model::{Exemplar, Labels, Matcher};
//! let store = CircularStore::new(10);
//! let series = Labels::from_pairs(&[("__name__", "req_total")]);
//! let e = Exemplar { labels: Labels::from_pairs(&[("trace_id", "abc")]), value: 1.0, ts: 1000, has_ts: true };
//! store.append(1, &series, &e).unwrap();
//! let got = store.select(0, 2000, &[vec![Matcher::equal("__name__", "req_total")]]);
//! assert_eq!(got[0].exemplars.len(), 1);
//! ```

mod circular;

pub use circular::CircularStore;
use diamond_model::storage::{ExemplarError, SeriesRef};
use diamond_model::{EXEMPLAR_MAX_LABEL_SET_RUNES, Exemplar, Labels, Matcher, Timestamp};

/// The exemplars of one series, as `query_exemplars` returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesExemplars {
    /// The series' labels.
    pub series_labels: Labels,
    /// Its exemplars in ascending timestamp order.
    pub exemplars: Vec<Exemplar>,
}

/// Counters and gauges for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExemplarStats {
    /// Exemplars held now.
    pub stored: u64,
    /// Series with at least one exemplar held.
    pub series: u64,
    /// Capacity.
    pub max: u64,
    /// Accepted since start.
    pub appended_total: u64,
    /// Refused as out of order since start.
    pub out_of_order_total: u64,
    /// Refused for the label-length limit since start.
    pub label_length_total: u64,
    /// Ignored as duplicates since start.
    pub duplicate_total: u64,
    /// Evicted to make room since start.
    pub evicted_total: u64,
    /// Timestamp of the oldest exemplar held (ms), 0 when empty.
    pub oldest_ts: i64,
}

/// A bounded store of exemplars keyed by series.
pub trait ExemplarStore: Send + Sync {
    /// Validates and stores one exemplar for a series. Errors are for counting and logging only: callers
    /// never fail a scrape or a write request because of them.
    fn append(&self, sref: SeriesRef, series: &Labels, e: &Exemplar) -> Result<(), ExemplarError>;

    /// Exemplars with `start <= ts <= end` of every series that matches *any* of the matcher sets (each set
    /// ANDed), sorted by series labels; an empty vector when nothing matches.
    fn select(&self, start: Timestamp, end: Timestamp, matcher_sets: &[Vec<Matcher>]) -> Vec<SeriesExemplars>;

    /// Changes the capacity (config reload). `0` disables the store.
    fn resize(&self, max: usize);

    /// Current statistics.
    fn stats(&self) -> ExemplarStats;

    /// Makes every exemplar appended so far durable in the store's own files, and answers whether the
    /// store persists at all. After `Ok(true)` the TSDB may drop every exemplar record from the WAL when it
    /// checkpoints. A store without files answers `Ok(false)`: the checkpoint then keeps the exemplar records
    /// with `ts >=` the head's new minimum time, as Prometheus does, so they are replayed on the next open.
    fn flush(&self) -> std::io::Result<bool>;
}

/// Prometheus's validation that does not depend on stored state: the 128-rune label limit.
pub fn validate(e: &Exemplar) -> Result<(), ExemplarError> {
    if e.labels.rune_count() > EXEMPLAR_MAX_LABEL_SET_RUNES {
        return Err(ExemplarError::LabelLength);
    }
    Ok(())
}
