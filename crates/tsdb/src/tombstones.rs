//! Deleted time intervals (tombstones) and the read-side filter that hides them.
//!
//! `delete_series` does not rewrite data: it records, per series, inclusive intervals `[mint, maxt]` whose
//! samples are deleted. In the head they live in [`MemTombstones`] (logged to the WAL as a tombstones
//! record, docs/format/wal.md "Tombstones (type 3)"); in a block, in the block's `tombstones` file
//! (docs/format/tombstones.md). Readers wrap a series' sample iterator in [`DeletedFilter`]; cutting a
//! block from the head and `clean_tombstones` write the data without the deleted samples.
//!
//! ```
//! use diamond_model::storage::{SampleIter, SliceIter};
//! use diamond_tsdb::tombstones::{DeletedFilter, Intervals};
//!
//! let mut ivs = Intervals::default();
//! ivs.add(20, 30);
//! ivs.add(31, 40); // adjacent: merged into [20, 40]
//! assert_eq!(ivs.as_slice(), &[(20, 40)]);
//! let samples = [(10, 1.0), (20, 2.0), (40, 3.0), (50, 4.0)];
//! let mut it = DeletedFilter::new(SliceIter::new(&samples), ivs.as_slice());
//! assert_eq!(it.next(), Some((10, 1.0)));
//! assert_eq!(it.next(), Some((50, 4.0)));
//! assert_eq!(it.next(), None);
//! ```

use std::sync::Arc;

use diamond_model::Timestamp;
use diamond_model::storage::SampleIter;
use parking_lot::RwLock;

use crate::head::IdMap;
use crate::record::RefTombstone;

/// Sorted, disjoint, non-adjacent inclusive intervals `[mint, maxt]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(Timestamp, Timestamp)>);

impl Intervals {
    /// Adds `[mint, maxt]`, merging it with overlapping or adjacent intervals. An empty interval
    /// (`mint > maxt`) is ignored.
    pub fn add(&mut self, mint: Timestamp, maxt: Timestamp) {
        if mint > maxt {
            return;
        }
        // First interval that could touch [mint, maxt]: the first whose end reaches mint - 1.
        let lo = self.0.partition_point(|&(_, b)| b < mint.saturating_sub(1));
        let mut hi = lo;
        let (mut a, mut z) = (mint, maxt);
        while hi < self.0.len() && self.0[hi].0 <= maxt.saturating_add(1) {
            a = a.min(self.0[hi].0);
            z = z.max(self.0[hi].1);
            hi += 1;
        }
        self.0.splice(lo..hi, std::iter::once((a, z)));
    }

    /// Whether `t` is deleted.
    pub fn contains(&self, t: Timestamp) -> bool {
        let i = self.0.partition_point(|&(_, b)| b < t);
        self.0.get(i).is_some_and(|&(a, _)| a <= t)
    }

    /// Whether all of `[mint, maxt]` is deleted.
    pub fn covers(&self, mint: Timestamp, maxt: Timestamp) -> bool {
        let i = self.0.partition_point(|&(_, b)| b < mint);
        self.0.get(i).is_some_and(|&(a, b)| a <= mint && b >= maxt)
    }

    /// The intervals, ascending.
    pub fn as_slice(&self) -> &[(Timestamp, Timestamp)] {
        &self.0
    }

    /// Whether nothing is deleted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops the parts before `mint` (everything older is gone from the head).
    pub fn truncate_before(&mut self, mint: Timestamp) {
        self.0.retain(|&(_, b)| b >= mint);
        if let Some(first) = self.0.first_mut() {
            first.0 = first.0.max(mint);
        }
    }
}

impl FromIterator<(Timestamp, Timestamp)> for Intervals {
    fn from_iter<I: IntoIterator<Item = (Timestamp, Timestamp)>>(iter: I) -> Self {
        let mut ivs = Intervals::default();
        for (a, b) in iter {
            ivs.add(a, b);
        }
        ivs
    }
}

/// The head's tombstones: deleted intervals by series ref. Readers take a cheap `Arc` snapshot per
/// series, so a query is not disturbed by a concurrent delete.
#[derive(Default)]
pub(crate) struct MemTombstones {
    by_ref: RwLock<IdMap<u32, Arc<Intervals>>>,
}

impl MemTombstones {
    /// Adds `[mint, maxt]` to series `sref`.
    pub(crate) fn add(&self, sref: u32, mint: Timestamp, maxt: Timestamp) {
        let mut g = self.by_ref.write();
        let e = g.entry(sref).or_default();
        Arc::make_mut(e).add(mint, maxt);
    }

    /// The deleted intervals of `sref`, if it has any.
    pub(crate) fn get(&self, sref: u32) -> Option<Arc<Intervals>> {
        let g = self.by_ref.read();
        if g.is_empty() {
            return None;
        }
        g.get(&sref).cloned()
    }

    /// The refs of the series with tombstones.
    pub(crate) fn refs(&self) -> Vec<u32> {
        self.by_ref.read().keys().copied().collect()
    }

    /// Whether no series has tombstones.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_ref.read().is_empty()
    }

    /// Every entry, sorted by ref then time (for the WAL checkpoint: see wal.md "Checkpoint rule").
    pub(crate) fn entries(&self) -> Vec<RefTombstone> {
        let g = self.by_ref.read();
        let mut v: Vec<RefTombstone> = g
            .iter()
            .flat_map(|(&r, ivs)| {
                ivs.as_slice().iter().map(move |&(mint, maxt)| RefTombstone {
                    sref: u64::from(r),
                    mint,
                    maxt,
                })
            })
            .collect();
        v.sort_unstable_by_key(|s| (s.sref, s.mint));
        v
    }

    /// Forgets every interval that ends before `mint` (after the head is truncated to `mint`, those
    /// samples are in a block that was written without them).
    pub(crate) fn truncate_before(&self, mint: Timestamp) {
        let mut g = self.by_ref.write();
        g.retain(|_, ivs| {
            Arc::make_mut(ivs).truncate_before(mint);
            !ivs.is_empty()
        });
    }

    /// Forgets the tombstones of a series removed from the head.
    pub(crate) fn remove(&self, sref: u32) {
        self.by_ref.write().remove(&sref);
    }
}

/// A [`SampleIter`] that skips the samples inside deleted intervals, seeking past each interval (so whole
/// deleted chunks are skipped without decoding when the inner iterator's `seek` can).
pub struct DeletedFilter<'a, I> {
    inner: I,
    deleted: &'a [(Timestamp, Timestamp)],
    /// First interval that may still matter (all before it end before the last sample seen).
    pos: usize,
}

impl<'a, I: SampleIter> DeletedFilter<'a, I> {
    /// Filters `inner` by `deleted` (sorted, disjoint, as [`Intervals::as_slice`]).
    pub fn new(inner: I, deleted: &'a [(Timestamp, Timestamp)]) -> Self {
        DeletedFilter { inner, deleted, pos: 0 }
    }

    fn keep(&mut self, mut s: (Timestamp, f64)) -> Option<(Timestamp, f64)> {
        loop {
            while self.deleted.get(self.pos).is_some_and(|&(_, b)| b < s.0) {
                self.pos += 1;
            }
            match self.deleted.get(self.pos) {
                Some(&(a, b)) if a <= s.0 => {
                    let after = b.checked_add(1)?;
                    s = self.inner.seek(after)?;
                }
                _ => return Some(s),
            }
        }
    }
}

impl<I: SampleIter> SampleIter for DeletedFilter<'_, I> {
    fn next(&mut self) -> Option<(Timestamp, f64)> {
        let s = self.inner.next()?;
        self.keep(s)
    }

    fn seek(&mut self, target: Timestamp) -> Option<(Timestamp, f64)> {
        let s = self.inner.seek(target)?;
        self.keep(s)
    }
}

#[cfg(test)]
mod tests {
    use diamond_model::storage::SliceIter;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn add_merges() {
        let mut i = Intervals::default();
        i.add(10, 20);
        i.add(30, 40);
        assert_eq!(i.as_slice(), &[(10, 20), (30, 40)]);
        i.add(21, 29);
        assert_eq!(i.as_slice(), &[(10, 40)]);
        i.add(i64::MIN, -5);
        i.add(50, i64::MAX);
        assert_eq!(i.as_slice(), &[(i64::MIN, -5), (10, 40), (50, i64::MAX)]);
        assert!(i.contains(i64::MAX) && i.contains(i64::MIN) && !i.contains(45));
        assert!(i.covers(12, 40) && !i.covers(12, 41));
        i.add(5, 3);
        assert_eq!(i.as_slice().len(), 3);
        i.truncate_before(15);
        assert_eq!(i.as_slice(), &[(15, 40), (50, i64::MAX)]);
    }

    #[test]
    fn mem_tombstones_entries_and_truncation() {
        let t = MemTombstones::default();
        assert!(t.is_empty() && t.get(1).is_none());
        t.add(2, 50, 60);
        t.add(1, 10, 20);
        t.add(1, 30, 40);
        let e = |sref, mint, maxt| RefTombstone { sref, mint, maxt };
        assert_eq!(t.entries(), vec![e(1, 10, 20), e(1, 30, 40), e(2, 50, 60)]);
        t.truncate_before(35);
        assert_eq!(t.entries(), vec![e(1, 35, 40), e(2, 50, 60)]);
        t.remove(2);
        t.truncate_before(41);
        assert!(t.is_empty());
    }

    #[test]
    fn filter_everything_deleted() {
        let s = [(1, 1.0), (2, 2.0)];
        let mut it = DeletedFilter::new(SliceIter::new(&s), &[(i64::MIN, i64::MAX)]);
        assert_eq!(it.next(), None);
        let mut it = DeletedFilter::new(SliceIter::new(&s), &[(2, i64::MAX)]);
        assert_eq!(it.next(), Some((1, 1.0)));
        assert_eq!(it.next(), None);
    }

    fn intervals() -> impl Strategy<Value = Vec<(i64, i64)>> {
        proptest::collection::vec((-20i64..120, 0i64..30), 0..8)
            .prop_map(|v| v.into_iter().map(|(a, len)| (a, a + len)).collect())
    }

    proptest! {
        /// Intervals agree with the naive union of the added intervals, point by point.
        #[test]
        fn intervals_match_naive_union(added in intervals(), trunc in proptest::option::of(-30i64..130)) {
            let mut ivs: Intervals = added.iter().copied().collect();
            if let Some(m) = trunc {
                ivs.truncate_before(m);
            }
            for w in ivs.as_slice().windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0, "disjoint and non-adjacent: {:?}", ivs);
            }
            for t in -40i64..160 {
                let naive = added.iter().any(|&(a, b)| a <= t && t <= b) && trunc.is_none_or(|m| t >= m);
                prop_assert_eq!(ivs.contains(t), naive, "t={}", t);
            }
        }

        /// The filter yields exactly the samples not deleted, for any mix of next and seek.
        #[test]
        fn filter_matches_model(
            ts in proptest::collection::btree_set(0i64..100, 0..60),
            added in intervals(),
            ops in proptest::collection::vec(proptest::option::of(0i64..110), 0..40),
        ) {
            let samples: Vec<(i64, f64)> = ts.iter().map(|&t| (t, t as f64)).collect();
            let ivs: Intervals = added.iter().copied().collect();
            let kept: Vec<(i64, f64)> = samples.iter().copied().filter(|s| !ivs.contains(s.0)).collect();
            let mut it = DeletedFilter::new(SliceIter::new(&samples), ivs.as_slice());
            let mut pos = 0usize; // index into `kept` of the next sample to return
            for op in ops {
                let got = match op {
                    None => it.next(),
                    Some(target) => {
                        while kept.get(pos).is_some_and(|s| s.0 < target) {
                            pos += 1;
                        }
                        it.seek(target)
                    }
                };
                prop_assert_eq!(got, kept.get(pos).copied());
                if got.is_none() {
                    break;
                }
                pos += 1;
            }
        }
    }
}
