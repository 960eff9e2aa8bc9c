//! The merge of several queriers (blocks and the head) behind one `Querier`: series merged by labels,
//! samples of one series merged by timestamp with duplicates removed, the later querier (the head, listed
//! last) winning a tie. ARCHITECTURE.md "Blocks behind the read seam".

use std::sync::Arc;

use diamond_model::storage::{Querier, ReadError, SampleIter, Series, SeriesData};
use diamond_model::{Matcher, Timestamp};

/// Queriers in ascending time order (blocks, then the head).
pub(crate) struct MergeQuerier {
    pub(crate) parts: Vec<Box<dyn Querier>>,
}

impl Querier for MergeQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, ReadError> {
        let mut lists = Vec::with_capacity(self.parts.len());
        for q in &self.parts {
            lists.push(q.select_unsorted(matchers)?);
        }
        Ok(merge_selected(lists))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
        let mut v = Vec::new();
        for q in &self.parts {
            v.extend(q.label_names(matchers)?);
        }
        v.sort();
        v.dedup();
        Ok(v)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
        let mut v = Vec::new();
        for q in &self.parts {
            v.extend(q.label_values(name, matchers)?);
        }
        v.sort();
        v.dedup();
        Ok(v)
    }
}

/// Merges the series lists (each in any order) of several parts, in ascending time order (on equal timestamps the later
/// part's sample wins): one [`Series`] per label set, merging the parts that hold it.
pub(crate) fn merge_selected(lists: Vec<Vec<Series>>) -> Vec<Series> {
    let mut all: Vec<(usize, Series)> = Vec::new();
    for (i, l) in lists.into_iter().enumerate() {
        all.extend(l.into_iter().map(|s| (i, s)));
    }
    // Stable by (labels, part index): the result is sorted, and a series' parts stay in time order.
    all.sort_by(|a, b| a.1.labels.cmp(&b.1.labels).then(a.0.cmp(&b.0)));
    let mut out: Vec<Series> = Vec::with_capacity(all.len());
    let mut group: Vec<Arc<dyn SeriesData>> = Vec::new();
    let mut it = all.into_iter().peekable();
    while let Some((_, s)) = it.next() {
        group.clear();
        group.push(Arc::clone(&s.data));
        while it.peek().is_some_and(|(_, n)| n.labels == s.labels) {
            if let Some((_, n)) = it.next() {
                group.push(n.data);
            }
        }
        if group.len() == 1 {
            out.push(s);
        } else {
            out.push(Series {
                labels: s.labels,
                data: Arc::new(MergedSeries {
                    parts: std::mem::take(&mut group),
                }),
            });
        }
    }
    out
}

/// One series present in several parts.
struct MergedSeries {
    parts: Vec<Arc<dyn SeriesData>>,
}

impl SeriesData for MergedSeries {
    fn iter(&self, mint: Timestamp, maxt: Timestamp) -> Box<dyn SampleIter + '_> {
        Box::new(MergeIter::new(self.parts.iter().map(|p| p.iter(mint, maxt)).collect()))
    }
}

/// k-way merge by timestamp; on equal timestamps the last part's sample is returned and the others skipped.
pub(crate) struct MergeIter<'a> {
    its: Vec<Box<dyn SampleIter + 'a>>,
    heads: Vec<Option<(Timestamp, f64)>>,
}

impl<'a> MergeIter<'a> {
    pub(crate) fn new(mut its: Vec<Box<dyn SampleIter + 'a>>) -> Self {
        let heads = its.iter_mut().map(|i| i.next()).collect();
        MergeIter { its, heads }
    }
}

impl SampleIter for MergeIter<'_> {
    fn next(&mut self) -> Option<(Timestamp, f64)> {
        let t = self.heads.iter().flatten().map(|s| s.0).min()?;
        let mut out = None;
        for (i, h) in self.heads.iter_mut().enumerate() {
            if let Some(s) = *h
                && s.0 == t
            {
                out = Some(s);
                *h = self.its[i].next();
            }
        }
        out
    }

    fn seek(&mut self, target: Timestamp) -> Option<(Timestamp, f64)> {
        for (i, h) in self.heads.iter_mut().enumerate() {
            if h.is_some_and(|s| s.0 < target) {
                *h = self.its[i].seek(target);
            }
        }
        self.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diamond_model::storage::SliceIter;
    use proptest::prelude::*;

    proptest! {
        /// The merge equals the sorted union by timestamp, the last part winning duplicates; seek agrees.
        #[test]
        fn merge_equals_model(parts in proptest::collection::vec(proptest::collection::btree_map(0i64..60, 0u8..4, 0..20), 1..4),
                              target in 0i64..70) {
            let vecs: Vec<Vec<(i64, f64)>> = parts.iter().enumerate()
                .map(|(i, m)| m.iter().map(|(&t, &v)| (t, f64::from(v) + i as f64 * 10.0)).collect()).collect();
            let mut want = std::collections::BTreeMap::new();
            for v in &vecs { for &(t, x) in v { want.insert(t, x); } }
            let mk = || MergeIter::new(vecs.iter().map(|v| Box::new(SliceIter::new(v)) as Box<dyn SampleIter>).collect());
            let mut it = mk();
            let mut got = Vec::new();
            while let Some(s) = it.next() { got.push(s); }
            let want_v: Vec<(i64, f64)> = want.iter().map(|(&t, &x)| (t, x)).collect();
            prop_assert_eq!(&got, &want_v);
            let mut it = mk();
            prop_assert_eq!(it.seek(target), want.range(target..).next().map(|(&t, &x)| (t, x)));
        }
    }
}
