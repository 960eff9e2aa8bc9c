//! The in-memory part of the fair store: per-series exemplars grouped in dyadic time windows, and the
//! thinning rules of docs/exemplars.md.
//!
//! Each series holds its exemplars in one vector sorted by timestamp and a vector of windows (start minute,
//! level, count) whose counts partition that vector. Three ordered sets name the next victim without a
//! scan: series with some window of two or more (by exemplar count), series of singleton windows (by window
//! count), and series of one exemplar (by its timestamp).

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap};

use diamond_model::storage::{ExemplarError, SeriesRef, matches_all};
use diamond_model::{Exemplar, Labels, MatchOp, Matcher, Timestamp};

use crate::packed::{Overflow, Packed};

/// Window level 0 is one minute.
pub(crate) const MINUTE_MS: i64 = 60_000;
/// The coarsest window: 2^16 minutes (45.5 days).
pub(crate) const MAX_LEVEL: u8 = 16;

/// A window of a series: minutes `[start, start + 2^level)` holding `count` exemplars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Win {
    pub(crate) start: i32,
    pub(crate) level: u8,
    pub(crate) count: u32,
}

impl Win {
    fn contains(&self, minute: i64) -> bool {
        let s = i64::from(self.start);
        minute >= s && minute < s + (1i64 << self.level)
    }

    /// End of the window in ms (exclusive).
    pub(crate) fn end_ms(&self) -> i64 {
        (i64::from(self.start) + (1i64 << self.level)) * MINUTE_MS
    }
}

fn minute_of(ts: Timestamp) -> i64 {
    ts.div_euclid(MINUTE_MS).clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

fn align(minute: i64, level: u8) -> i64 {
    minute.div_euclid(1i64 << level) * (1i64 << level)
}

pub(crate) struct Series {
    pub(crate) labels: Labels,
    sref: Option<SeriesRef>,
    pub(crate) ex: Vec<Packed>,
    pub(crate) wins: Vec<Win>,
}

impl Series {
    /// Index in `ex` of the first exemplar of window `w`.
    fn win_offset(&self, w: usize) -> usize {
        self.wins[..w].iter().map(|x| x.count as usize).sum()
    }

    /// The window holding minute `m`, or where a new one goes.
    fn find_win(&self, m: i64) -> Result<usize, usize> {
        // Most exemplars land in the newest window or just after it.
        if let Some(last) = self.wins.last() {
            if last.contains(m) {
                return Ok(self.wins.len() - 1);
            }
            if i64::from(last.start) <= m {
                return Err(self.wins.len());
            }
        }
        let idx = self.wins.partition_point(|w| i64::from(w.start) <= m);
        if idx > 0 && self.wins[idx - 1].contains(m) {
            Ok(idx - 1)
        } else {
            Err(idx)
        }
    }
}

/// Which of the victim sets a series is in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Thin(u64),
    Coarse(u64),
    Single(Timestamp),
    Empty,
}

/// Counters of what happened to offered exemplars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Accepted.
    pub appended: u64,
    /// Refused: over the 128-rune label limit.
    pub label_length: u64,
    /// Ignored: duplicates.
    pub duplicate: u64,
    /// Refused: older than the sealed horizon or retention.
    pub too_old: u64,
    /// Removed by thinning a dense window (rule 1).
    pub thinned: u64,
    /// Removed by coarsening windows (rule 2).
    pub coarsened: u64,
    /// Removed as a series' only exemplar (rule 3).
    pub evicted_series: u64,
    /// Removed for retention.
    pub expired: u64,
}

/// The fair in-memory store (no locking; [`crate::FairStore`] wraps it).
pub(crate) struct Mem {
    pub(crate) series: Vec<Option<Series>>,
    free: Vec<u32>,
    by_labels: HashMap<Labels, u32>,
    by_ref: HashMap<SeriesRef, u32>,
    by_name: HashMap<String, Vec<u32>>,
    thin: BTreeSet<(u64, Reverse<u32>)>,
    coarse: BTreeSet<(u64, Reverse<u32>)>,
    single: BTreeSet<(Timestamp, u32)>,
    pub(crate) overflow: Overflow,
    pub(crate) total: usize,
    pub(crate) max: usize,
    /// Exemplars older than this are refused (set when windows are sealed to disk).
    pub(crate) horizon: Timestamp,
    /// Newest timestamp ever accepted.
    pub(crate) newest: Timestamp,
    pub(crate) counters: Counters,
}

impl Mem {
    pub(crate) fn new(max: usize) -> Mem {
        Mem {
            series: Vec::new(),
            free: Vec::new(),
            by_labels: HashMap::new(),
            by_ref: HashMap::new(),
            by_name: HashMap::new(),
            thin: BTreeSet::new(),
            coarse: BTreeSet::new(),
            single: BTreeSet::new(),
            overflow: Overflow::default(),
            total: 0,
            max,
            horizon: i64::MIN,
            newest: i64::MIN,
            counters: Counters::default(),
        }
    }

    fn class(s: &Series) -> Class {
        let total = s.ex.len() as u64;
        let nwin = s.wins.len() as u64;
        if total == 0 {
            Class::Empty
        } else if total > nwin {
            Class::Thin(total)
        } else if nwin >= 2 {
            Class::Coarse(nwin)
        } else {
            Class::Single(s.ex[0].ts())
        }
    }

    fn unlink(&mut self, sid: u32, c: Class) {
        match c {
            Class::Thin(n) => {
                self.thin.remove(&(n, Reverse(sid)));
            }
            Class::Coarse(n) => {
                self.coarse.remove(&(n, Reverse(sid)));
            }
            Class::Single(ts) => {
                self.single.remove(&(ts, sid));
            }
            Class::Empty => {}
        }
    }

    fn link(&mut self, sid: u32, c: Class) {
        match c {
            Class::Thin(n) => {
                self.thin.insert((n, Reverse(sid)));
            }
            Class::Coarse(n) => {
                self.coarse.insert((n, Reverse(sid)));
            }
            Class::Single(ts) => {
                self.single.insert((ts, sid));
            }
            Class::Empty => {}
        }
    }

    fn get(&self, sid: u32) -> &Series {
        self.series[sid as usize]
            .as_ref()
            .expect("sid names a live series: ids are freed only in drop_series")
    }

    fn get_mut(&mut self, sid: u32) -> &mut Series {
        self.series[sid as usize]
            .as_mut()
            .expect("sid names a live series: ids are freed only in drop_series")
    }

    /// Runs `f` on series `sid`, keeping the victim sets and the total in step; frees the series if it ends
    /// up empty.
    fn mutate<R>(&mut self, sid: u32, f: impl FnOnce(&mut Series, &mut Overflow) -> R) -> R {
        let before = Self::class(self.get(sid));
        let len_before = self.get(sid).ex.len();
        self.unlink(sid, before);
        let mut overflow = std::mem::take(&mut self.overflow);
        let r = f(self.get_mut(sid), &mut overflow);
        self.overflow = overflow;
        let s = self.get(sid);
        let after = Self::class(s);
        let len_after = s.ex.len();
        self.total = self.total + len_after - len_before;
        if after == Class::Empty {
            self.drop_series(sid);
        } else {
            self.link(sid, after);
        }
        r
    }

    fn drop_series(&mut self, sid: u32) {
        let Some(s) = self.series[sid as usize].take() else {
            return;
        };
        for p in &s.ex {
            p.release(&mut self.overflow);
        }
        self.by_labels.remove(&s.labels);
        if let Some(r) = s.sref {
            self.by_ref.remove(&r);
        }
        if let Some(name) = s.labels.metric_name()
            && let Some(v) = self.by_name.get_mut(name)
        {
            v.retain(|&x| x != sid);
            if v.is_empty() {
                self.by_name.remove(name);
            }
        }
        self.free.push(sid);
    }

    /// The series for `sref`, else for the labels (`labels` is called only when `sref` is unknown).
    fn lookup_or_create(&mut self, sref: Option<SeriesRef>, labels: impl FnOnce() -> Labels) -> u32 {
        if let Some(r) = sref
            && let Some(&sid) = self.by_ref.get(&r)
        {
            return sid;
        }
        let labels = labels();
        if let Some(&sid) = self.by_labels.get(&labels) {
            if let Some(r) = sref {
                let s = self.get_mut(sid);
                let old = s.sref.replace(r);
                if let Some(o) = old {
                    self.by_ref.remove(&o);
                }
                self.by_ref.insert(r, sid);
            }
            return sid;
        }
        let sid = match self.free.pop() {
            Some(i) => i,
            None => {
                self.series.push(None);
                (self.series.len() - 1) as u32
            }
        };
        self.by_labels.insert(labels.clone(), sid);
        if let Some(r) = sref {
            self.by_ref.insert(r, sid);
        }
        if let Some(name) = labels.metric_name() {
            self.by_name.entry(name.to_owned()).or_default().push(sid);
        }
        self.series[sid as usize] = Some(Series {
            labels,
            sref,
            ex: Vec::new(),
            wins: Vec::new(),
        });
        sid
    }

    /// Appends one exemplar (already validated for label length by the caller).
    pub(crate) fn append(
        &mut self,
        sref: Option<SeriesRef>,
        labels: &Labels,
        e: &Exemplar,
        retention_ms: i64,
    ) -> Result<(), ExemplarError> {
        self.append_with(sref, || labels.clone(), e, retention_ms)
    }

    /// [`Mem::append`] with the series' labels computed only when `sref` names no series held.
    pub(crate) fn append_with(
        &mut self,
        sref: Option<SeriesRef>,
        labels: impl FnOnce() -> Labels,
        e: &Exemplar,
        retention_ms: i64,
    ) -> Result<(), ExemplarError> {
        if self.max == 0 {
            return Err(ExemplarError::Disabled);
        }
        let floor = if retention_ms > 0 && self.newest != i64::MIN {
            self.newest.saturating_sub(retention_ms)
        } else {
            i64::MIN
        };
        if e.ts < self.horizon || e.ts < floor {
            self.counters.too_old += 1;
            return Err(ExemplarError::OutOfOrder);
        }
        let sid = self.lookup_or_create(sref, labels);
        let s = self.get(sid);
        if let Some(last) = s.ex.last()
            && last.same_as(e, &self.overflow)
        {
            self.counters.duplicate += 1;
            return Err(ExemplarError::Duplicate);
        }
        // Most exemplars are newer than every one held: then the equal-timestamp range is empty at the end.
        let (lo, hi) = match s.ex.last() {
            Some(last) if last.ts() < e.ts => (s.ex.len(), s.ex.len()),
            _ => (
                s.ex.partition_point(|p| p.ts() < e.ts),
                s.ex.partition_point(|p| p.ts() <= e.ts),
            ),
        };
        if s.ex[lo..hi].iter().any(|p| p.identical(e, &self.overflow)) {
            self.counters.duplicate += 1;
            return Err(ExemplarError::Duplicate);
        }
        let m = minute_of(e.ts);
        let (found, late) = match s.find_win(m) {
            Ok(w) => (Some(w), w + 1 < s.wins.len()),
            Err(w) => (None, w < s.wins.len()),
        };
        let win = self.mutate(sid, |s, ov| {
            let w = match found {
                Some(w) => {
                    s.wins[w].count += 1;
                    w
                }
                None => {
                    let w = s.find_win(m).unwrap_err();
                    s.wins.insert(
                        w,
                        Win {
                            start: m as i32,
                            level: 0,
                            count: 1,
                        },
                    );
                    w
                }
            };
            s.ex.insert(hi, Packed::new(e, ov));
            w
        });
        self.counters.appended += 1;
        self.newest = self.newest.max(e.ts);
        if self.total > self.max {
            if late && found.is_some() {
                // Rule of docs/exemplars.md: a late exemplar in a covered window competes only there.
                self.mutate(sid, |s, ov| thin_window(s, win, ov));
                self.counters.thinned += 1;
            } else {
                self.evict_one();
            }
        }
        Ok(())
    }

    /// Removes one exemplar by the thinning rules. Returns false when the store is empty.
    pub(crate) fn evict_one(&mut self) -> bool {
        if let Some(&(_, Reverse(sid))) = self.thin.last() {
            self.mutate(sid, |s, ov| {
                let w = densest_window(s);
                thin_window(s, w, ov)
            });
            self.counters.thinned += 1;
            true
        } else if let Some(&(_, Reverse(sid))) = self.coarse.last() {
            self.mutate(sid, coarsen);
            self.counters.coarsened += 1;
            true
        } else if let Some(&(_, sid)) = self.single.first() {
            self.mutate(sid, |s, ov| {
                for p in s.ex.drain(..) {
                    p.release(ov);
                }
                s.wins.clear();
            });
            self.counters.evicted_series += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn resize(&mut self, max: usize) {
        self.max = max;
        if max == 0 {
            self.clear();
            return;
        }
        while self.total > max && self.evict_one() {}
    }

    pub(crate) fn clear(&mut self) {
        let (max, horizon, newest, counters) = (self.max, self.horizon, self.newest, self.counters);
        *self = Mem::new(max);
        self.horizon = horizon;
        self.newest = newest;
        self.counters = counters;
    }

    /// Removes and returns (series labels, exemplars) of every window that ends at or before `until`
    /// (ms), moving the horizon there.
    pub(crate) fn take_before(&mut self, until: Timestamp) -> Vec<(Labels, Vec<Exemplar>)> {
        let mut out = Vec::new();
        for sid in 0..self.series.len() as u32 {
            let Some(s) = self.series[sid as usize].as_ref() else {
                continue;
            };
            let nw = s.wins.iter().take_while(|w| w.end_ms() <= until).count();
            if nw == 0 {
                continue;
            }
            let labels = s.labels.clone();
            let taken = self.mutate(sid, |s, ov| {
                let n: usize = s.wins.drain(..nw).map(|w| w.count as usize).sum();
                s.ex.drain(..n)
                    .map(|p| {
                        let e = p.to_exemplar(ov);
                        p.release(ov);
                        e
                    })
                    .collect::<Vec<_>>()
            });
            out.push((labels, taken));
        }
        self.horizon = self.horizon.max(until);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Drops exemplars older than `floor`.
    pub(crate) fn expire(&mut self, floor: Timestamp) {
        for sid in 0..self.series.len() as u32 {
            let Some(s) = self.series[sid as usize].as_ref() else {
                continue;
            };
            if s.ex.first().is_none_or(|p| p.ts() >= floor) {
                continue;
            }
            let n = self.mutate(sid, |s, ov| {
                let n = s.ex.partition_point(|p| p.ts() < floor);
                for p in s.ex.drain(..n) {
                    p.release(ov);
                }
                // Recount the windows over what is left.
                let mut left = n;
                while left > 0 {
                    let w = &mut s.wins[0];
                    let k = (w.count as usize).min(left);
                    w.count -= k as u32;
                    left -= k;
                    if w.count == 0 {
                        s.wins.remove(0);
                    }
                }
                n
            });
            self.counters.expired += n as u64;
        }
    }

    /// Series ids worth checking against `matcher_sets`.
    fn candidates(&self, matcher_sets: &[Vec<Matcher>]) -> Vec<u32> {
        let mut names: Vec<&str> = Vec::new();
        for ms in matcher_sets {
            match ms.iter().find(|m| m.name == "__name__" && m.op == MatchOp::Equal) {
                Some(m) => names.push(&m.value),
                None => {
                    return (0..self.series.len() as u32)
                        .filter(|&i| self.series[i as usize].is_some())
                        .collect();
                }
            }
        }
        let mut out: Vec<u32> = names
            .iter()
            .filter_map(|n| self.by_name.get(*n))
            .flatten()
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub(crate) fn select(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Vec<(Labels, Vec<Exemplar>)> {
        let mut out = Vec::new();
        for sid in self.candidates(matcher_sets) {
            let s = self.get(sid);
            if !matcher_sets.iter().any(|ms| matches_all(&s.labels, ms)) {
                continue;
            }
            let lo = s.ex.partition_point(|p| p.ts() < start);
            let hi = s.ex.partition_point(|p| p.ts() <= end);
            if lo < hi {
                out.push((
                    s.labels.clone(),
                    s.ex[lo..hi].iter().map(|p| p.to_exemplar(&self.overflow)).collect(),
                ));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub(crate) fn live(&self) -> impl Iterator<Item = &Series> {
        self.series.iter().flatten()
    }

    pub(crate) fn num_series(&self) -> usize {
        self.by_labels.len()
    }

    /// Oldest timestamp held, if any.
    pub(crate) fn oldest(&self) -> Option<Timestamp> {
        self.live().filter_map(|s| s.ex.first().map(|p| p.ts())).min()
    }

    /// Estimated heap bytes: vectors at capacity, labels, maps and the overflow table.
    pub(crate) fn heap_bytes(&self) -> usize {
        let label_bytes = |l: &Labels| -> usize {
            l.len() * std::mem::size_of::<diamond_model::Label>()
                + l.iter().map(|x| x.name.len() + x.value.len()).sum::<usize>()
        };
        let mut n = self.series.capacity() * std::mem::size_of::<Option<Series>>();
        for s in self.live() {
            n += s.ex.capacity() * std::mem::size_of::<Packed>()
                + s.wins.capacity() * std::mem::size_of::<Win>()
                + 2 * label_bytes(&s.labels); // the series' copy and the by_labels key
        }
        // Hash map entries (key, value, one control byte) and the victim sets (~ 2× their elements).
        n += self.by_labels.capacity() * (std::mem::size_of::<Labels>() + 5);
        n += self.by_ref.capacity() * 13;
        n += self.by_name.values().map(|v| v.capacity() * 4 + 48).sum::<usize>();
        n += 2 * 16 * (self.thin.len() + self.coarse.len() + self.single.len());
        n + self.overflow.heap_bytes()
    }
}

/// The window with the most exemplars (ties: the oldest).
fn densest_window(s: &Series) -> usize {
    let mut best = 0;
    for (i, w) in s.wins.iter().enumerate() {
        if w.count > s.wins[best].count {
            best = i;
        }
    }
    best
}

/// Distance between two values for "most redundant": equal values (also both NaN or the same infinity)
/// are 0, a NaN against a number is infinitely far.
fn gap(a: f64, b: f64) -> f64 {
    if a == b || (a.is_nan() && b.is_nan()) {
        0.0
    } else if a.is_nan() || b.is_nan() {
        f64::INFINITY
    } else {
        (a - b).abs()
    }
}

/// Index (within the window) of its least telling exemplar: see docs/exemplars.md, rule 1.
pub(crate) fn least_telling(vals: &[(f64, Timestamp)]) -> usize {
    let k = vals.len();
    debug_assert!(k >= 2);
    // Indices sorted by value; equal values newest first, so that of equal values the older ones sit
    // inside the run and are removed first.
    let mut idx: Vec<usize> = (0..k).collect();
    idx.sort_by(|&a, &b| vals[a].0.total_cmp(&vals[b].0).then(vals[b].1.cmp(&vals[a].1)));
    if k == 2 {
        // Keep the higher value; on equal values keep the newer.
        return if vals[0].0.total_cmp(&vals[1].0) == Ordering::Greater {
            1
        } else {
            0
        };
    }
    let mut best = idx[1];
    let mut best_gap = f64::INFINITY;
    for j in 1..k - 1 {
        let v = vals[idx[j]].0;
        let g = gap(v, vals[idx[j - 1]].0).min(gap(v, vals[idx[j + 1]].0));
        let older = vals[idx[j]].1 < vals[best].1;
        if g < best_gap || (g == best_gap && older) {
            best = idx[j];
            best_gap = g;
        }
    }
    best
}

/// Removes the least telling exemplar of window `w` (which must hold two or more).
fn thin_window(s: &mut Series, w: usize, ov: &mut Overflow) {
    let off = s.win_offset(w);
    let n = s.wins[w].count as usize;
    if n < 2 {
        return;
    }
    let vals: Vec<(f64, Timestamp)> = s.ex[off..off + n].iter().map(|p| (p.value, p.ts())).collect();
    let victim = off + least_telling(&vals);
    s.ex.remove(victim).release(ov);
    s.wins[w].count -= 1;
}

/// Rule 2: promotes the finest, oldest window until it merges with its sibling, then removes the
/// lower-valued exemplar of the merged window.
fn coarsen(s: &mut Series, ov: &mut Overflow) {
    for _ in 0..(s.wins.len() * usize::from(MAX_LEVEL) + 1) {
        let Some(i) = (0..s.wins.len()).min_by_key(|&i| (s.wins[i].level, i)) else {
            return;
        };
        let w = s.wins[i];
        if w.level >= MAX_LEVEL {
            break;
        }
        let up = w.level + 1;
        let parent = align(i64::from(w.start), up);
        let sibling = [i.checked_sub(1), Some(i + 1)].into_iter().flatten().find(|&j| {
            j < s.wins.len() && s.wins[j].level == w.level && align(i64::from(s.wins[j].start), up) == parent
        });
        match sibling {
            Some(j) => {
                let (a, b) = (i.min(j), i.max(j));
                let merged = Win {
                    start: parent as i32,
                    level: up,
                    count: s.wins[a].count + s.wins[b].count,
                };
                s.wins[a] = merged;
                s.wins.remove(b);
                thin_window(s, a, ov);
                return;
            }
            None => {
                s.wins[i].start = parent as i32;
                s.wins[i].level = up;
            }
        }
    }
    // Every window at the coarsest level with no sibling: drop the oldest.
    if let Some(w) = s.wins.first().copied() {
        for p in s.ex.drain(..w.count as usize) {
            p.release(ov);
        }
        s.wins.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_telling_keeps_extremes() {
        assert_eq!(least_telling(&[(1.0, 1), (5.0, 2)]), 0);
        assert_eq!(least_telling(&[(5.0, 1), (1.0, 2)]), 1);
        assert_eq!(least_telling(&[(2.0, 1), (2.0, 2)]), 0);
        // 3.0 and 3.1 are close: one of them goes, never 1 or 9.
        assert_eq!(least_telling(&[(1.0, 1), (3.0, 2), (9.0, 3), (3.1, 4)]), 1);
        assert_eq!(least_telling(&[(f64::NAN, 1), (1.0, 2), (1.0, 3), (2.0, 4)]), 1);
    }
}
