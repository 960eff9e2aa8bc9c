//! The exemplar store seam and its two implementations.
//!
//! [`ExemplarStore`] is what the TSDB appends to (after validating and logging to the WAL) and what the
//! `query_exemplars` API reads. [`FairStore`] is Diamond's default: the same budget as Prometheus, spent so
//! that every (series, minute) that received exemplars keeps one (policy and guarantees in
//! `docs/exemplars.md`). [`CircularStore`] keeps Prometheus's semantics (one bounded ring, per-series
//! chains, dedupe against the newest, strict order) as the baseline.
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
mod fair;
mod packed;
pub mod snapshot;
mod store;

pub use circular::CircularStore;
use diamond_model::storage::{ExemplarError, SeriesRef};
use diamond_model::{EXEMPLAR_MAX_LABEL_SET_RUNES, Exemplar, Labels, Matcher, Timestamp};
pub use store::{DEFAULT_SEAL_AGE_MS, FairStore};

/// Which store a database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// [`FairStore`]: coverage per (series, minute), persisted when the database has a directory.
    #[default]
    Fair,
    /// [`CircularStore`]: Prometheus's ring, memory only.
    Circular,
}

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
    /// Refused as older than the sealed horizon or the retention since start (fair store).
    pub too_old_total: u64,
    /// Removed from a window holding several since start (fair store, rule 1).
    pub thinned_total: u64,
    /// Removed by merging windows since start (fair store, rule 2).
    pub coarsened_total: u64,
    /// Removed as a series' last exemplar since start (fair store, rule 3).
    pub evicted_series_total: u64,
    /// Removed for retention since start.
    pub expired_total: u64,
    /// Estimated heap bytes of the in-memory exemplars and their index.
    pub memory_bytes: u64,
    /// Exemplars held in segment files on disk.
    pub disk_stored: u64,
    /// Bytes of segment files on disk.
    pub disk_bytes: u64,
    /// Segment files on disk.
    pub disk_segments: u64,
}

/// What a store holds for one series (the coverage endpoint).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSummary {
    /// The series' labels.
    pub labels: Labels,
    /// Exemplars held (memory and disk).
    pub exemplars: u64,
    /// Timestamp of the oldest held (ms).
    pub oldest: Timestamp,
    /// Timestamp of the newest held (ms).
    pub newest: Timestamp,
}

/// A bounded store of exemplars keyed by series.
pub trait ExemplarStore: Send + Sync {
    /// Validates and stores one exemplar for a series. Errors are for counting and logging only: callers
    /// never fail a scrape or a write request because of them.
    fn append(&self, sref: SeriesRef, series: &Labels, e: &Exemplar) -> Result<(), ExemplarError>;

    /// Appends `items` in order, as [`ExemplarStore::append`] would one by one, and answers one result per
    /// item. `labels(i)` gives the series labels of `items[i]`; a store calls it only when it needs them (the
    /// fair store: when it holds no series for that ref), so a caller that must build labels pays only for
    /// new series. The default appends one by one.
    fn append_batch(
        &self,
        items: &[(SeriesRef, &Exemplar)],
        labels: &dyn Fn(usize) -> Labels,
    ) -> Vec<Result<(), ExemplarError>> {
        items
            .iter()
            .enumerate()
            .map(|(i, &(sref, e))| self.append(sref, &labels(i), e))
            .collect()
    }

    /// Exemplars with `start <= ts <= end` of every series that matches *any* of the matcher sets (each set
    /// ANDed), sorted by series labels; an empty vector when nothing matches.
    fn select(&self, start: Timestamp, end: Timestamp, matcher_sets: &[Vec<Matcher>]) -> Vec<SeriesExemplars>;

    /// Changes the capacity (config reload). `0` disables the store.
    fn resize(&self, max: usize);

    /// Current statistics.
    fn stats(&self) -> ExemplarStats;

    /// Per-series counts and time span of what the store holds, sorted by labels (the coverage endpoint).
    /// The default walks [`ExemplarStore::select`] over all time.
    fn series_summary(&self) -> Vec<SeriesSummary> {
        let all = [vec![
            Matcher::new(diamond_model::MatchOp::Regex, "__name__", ".*").expect("`.*` is a valid regex"),
        ]];
        self.select(i64::MIN, i64::MAX, &all)
            .into_iter()
            .filter_map(|s| {
                Some(SeriesSummary {
                    exemplars: s.exemplars.len() as u64,
                    oldest: s.exemplars.first()?.ts,
                    newest: s.exemplars.last()?.ts,
                    labels: s.series_labels,
                })
            })
            .collect()
    }

    /// Makes every exemplar appended so far durable in the store's own files, and answers whether the
    /// store persists at all. After `Ok(true)` the TSDB may drop every exemplar record from the WAL when it
    /// checkpoints. A store without files answers `Ok(false)`: the checkpoint then keeps the exemplar records
    /// with `ts >=` the head's new minimum time, as Prometheus does, so they are replayed on the next open.
    fn flush(&self) -> std::io::Result<bool>;
}

/// Prometheus's validation that does not depend on stored state: the 128-rune label limit.
pub fn validate(e: &Exemplar) -> Result<(), ExemplarError> {
    // A rune is at least one byte: a set of at most 128 bytes needs no counting (the common case).
    let bytes: usize = e.labels.iter().map(|l| l.name.len() + l.value.len()).sum();
    if bytes > EXEMPLAR_MAX_LABEL_SET_RUNES && e.labels.rune_count() > EXEMPLAR_MAX_LABEL_SET_RUNES {
        return Err(ExemplarError::LabelLength);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(name: &str, value: &str) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs(&[(name, value)]),
            value: 1.0,
            ts: 1,
            has_ts: true,
        }
    }

    /// The limit counts runes (names and values), not bytes: multi-byte sets over 128 bytes may pass.
    #[test]
    fn label_limit_counts_runes() {
        let n = "trace_id".chars().count();
        let ascii_ok = ex("trace_id", &"a".repeat(128 - n));
        let ascii_long = ex("trace_id", &"a".repeat(129 - n));
        let wide_ok = ex("trace_id", &"é".repeat(128 - n)); // 2 bytes each: 248 bytes, 128 runes
        let wide_long = ex("trace_id", &"é".repeat(129 - n));
        assert_eq!(validate(&ascii_ok), Ok(()));
        assert_eq!(validate(&ascii_long), Err(ExemplarError::LabelLength));
        assert_eq!(validate(&wide_ok), Ok(()));
        assert_eq!(validate(&wide_long), Err(ExemplarError::LabelLength));
    }
}
