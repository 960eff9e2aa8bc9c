//! A Prometheus-compatible bounded exemplar store: one ring buffer shared by all series, evicting the
//! oldest by arrival, with a per-series queue of slots so each series' exemplars are found without a scan.
//!
//! Exemplar labels are packed into a byte string ([`pack`]): a lowercase even-length hex value (a trace or
//! span ID) is stored as raw bytes, half the size of its text, and the well-known label names as one byte.

use std::collections::{HashMap, VecDeque};

use diamond_model::storage::{ExemplarError, SeriesRef, matches_all};
use diamond_model::{Exemplar, Label, Labels, Matcher, Timestamp};
use parking_lot::RwLock;

use crate::{ExemplarStats, ExemplarStore, SeriesExemplars, validate};

/// See the module docs.
pub struct CircularStore {
    inner: RwLock<Inner>,
}

struct Slot {
    sref: SeriesRef,
    ts: Timestamp,
    value: f64,
    has_ts: bool,
    labels: Box<[u8]>,
}

struct SeriesEntry {
    labels: Labels,
    slots: VecDeque<usize>,
}

struct Inner {
    ring: Vec<Option<Slot>>,
    next: usize,
    series: HashMap<SeriesRef, SeriesEntry>,
    stats: ExemplarStats,
}

impl CircularStore {
    /// A store holding at most `max` exemplars (0 disables it).
    pub fn new(max: usize) -> Self {
        let mut ring = Vec::new();
        ring.resize_with(max, || None);
        CircularStore {
            inner: RwLock::new(Inner {
                ring,
                next: 0,
                series: HashMap::new(),
                stats: ExemplarStats {
                    max: max as u64,
                    ..Default::default()
                },
            }),
        }
    }
}

impl Inner {
    fn newest(&self, sref: SeriesRef) -> Option<&Slot> {
        let e = self.series.get(&sref)?;
        self.ring[*e.slots.back()?].as_ref()
    }

    fn insert(&mut self, sref: SeriesRef, series: &Labels, slot: Slot) {
        let i = self.next;
        if let Some(old) = self.ring[i].take() {
            if let Some(entry) = self.series.get_mut(&old.sref) {
                // FIFO: the slot being overwritten is the oldest of its series.
                entry.slots.pop_front();
                if entry.slots.is_empty() {
                    self.series.remove(&old.sref);
                }
            }
            self.stats.evicted_total += 1;
        }
        self.ring[i] = Some(slot);
        self.series
            .entry(sref)
            .or_insert_with(|| SeriesEntry {
                labels: series.clone(),
                slots: VecDeque::new(),
            })
            .slots
            .push_back(i);
        self.next = (i + 1) % self.ring.len();
    }

    fn count(&self) -> u64 {
        self.series.values().map(|e| e.slots.len() as u64).sum()
    }
}

impl ExemplarStore for CircularStore {
    fn append(&self, sref: SeriesRef, series: &Labels, e: &Exemplar) -> Result<(), ExemplarError> {
        let mut g = self.inner.write();
        if g.ring.is_empty() {
            return Err(ExemplarError::Disabled);
        }
        if let Err(err) = validate(e) {
            g.stats.label_length_total += 1;
            return Err(err);
        }
        if let Some(newest) = g.newest(sref) {
            let stored = unpack_exemplar(newest);
            if stored.same_as(e) {
                g.stats.duplicate_total += 1;
                return Err(ExemplarError::Duplicate);
            }
            let ooo = e.ts < newest.ts
                || (e.ts == newest.ts && e.value < newest.value)
                || (e.ts == newest.ts
                    && e.value == newest.value
                    && e.labels.stable_hash() < stored.labels.stable_hash());
            if ooo {
                g.stats.out_of_order_total += 1;
                return Err(ExemplarError::OutOfOrder);
            }
        }
        let slot = Slot {
            sref,
            ts: e.ts,
            value: e.value,
            has_ts: e.has_ts,
            labels: pack(&e.labels),
        };
        g.insert(sref, series, slot);
        g.stats.appended_total += 1;
        Ok(())
    }

    fn select(&self, start: Timestamp, end: Timestamp, matcher_sets: &[Vec<Matcher>]) -> Vec<SeriesExemplars> {
        let g = self.inner.read();
        let mut out: Vec<SeriesExemplars> = Vec::new();
        for entry in g.series.values() {
            if !matcher_sets.iter().any(|ms| matches_all(&entry.labels, ms)) {
                continue;
            }
            let exemplars: Vec<Exemplar> = entry
                .slots
                .iter()
                .filter_map(|&i| g.ring[i].as_ref())
                .filter(|s| s.ts >= start && s.ts <= end)
                .map(unpack_exemplar)
                .collect();
            if !exemplars.is_empty() {
                out.push(SeriesExemplars {
                    series_labels: entry.labels.clone(),
                    exemplars,
                });
            }
        }
        out.sort_by(|a, b| a.series_labels.cmp(&b.series_labels));
        out
    }

    fn resize(&self, max: usize) {
        let mut g = self.inner.write();
        if max == g.ring.len() {
            return;
        }
        // Walk the old ring from the oldest slot so the newest `max` survive, in arrival order.
        let old_len = g.ring.len();
        let start = g.next;
        let mut old: Vec<Slot> = Vec::with_capacity(old_len);
        for k in 0..old_len {
            if let Some(s) = g.ring[(start + k) % old_len].take() {
                old.push(s);
            }
        }
        let labels: HashMap<SeriesRef, Labels> = g.series.drain().map(|(r, e)| (r, e.labels)).collect();
        g.ring = Vec::new();
        g.ring.resize_with(max, || None);
        g.next = 0;
        g.stats.max = max as u64;
        if max == 0 {
            return;
        }
        let skip = old.len().saturating_sub(max);
        for s in old.into_iter().skip(skip) {
            let series = labels.get(&s.sref).cloned().unwrap_or_default();
            let sref = s.sref;
            g.insert(sref, &series, s);
        }
    }

    fn stats(&self) -> ExemplarStats {
        let g = self.inner.read();
        let mut st = g.stats;
        st.stored = g.count();
        st.series = g.series.len() as u64;
        st.oldest_ts = g
            .series
            .values()
            .filter_map(|e| e.slots.front().and_then(|&i| g.ring[i].as_ref()).map(|s| s.ts))
            .min()
            .unwrap_or(0);
        st
    }

    fn flush(&self) -> std::io::Result<bool> {
        // Memory only: the WAL checkpoint keeps our exemplars (see the trait).
        Ok(false)
    }
}

fn unpack_exemplar(s: &Slot) -> Exemplar {
    Exemplar {
        labels: unpack(&s.labels),
        value: s.value,
        ts: s.ts,
        has_ts: s.has_ts,
    }
}

const WELL_KNOWN: [&str; 6] = ["trace_id", "span_id", "traceID", "spanID", "traceId", "spanId"];
const TAG_HEX: u8 = 0x80;

/// Packs a label set: per label, a name (one byte `0..=5` for a well-known name, else `0x40 | len` for
/// names up to 63 bytes, else `0x7f`, a u16 length and the bytes), then a value (`0x80 | len/2` and raw
/// bytes for lowercase even-length hex of up to 126 chars, else a u16 length and the UTF-8 bytes).
pub fn pack(labels: &Labels) -> Box<[u8]> {
    let mut out = Vec::with_capacity(32);
    for l in labels {
        match WELL_KNOWN.iter().position(|w| *w == l.name) {
            Some(i) => out.push(i as u8),
            None if l.name.len() < 63 => {
                out.push(0x40 | l.name.len() as u8);
                out.extend_from_slice(l.name.as_bytes());
            }
            None => {
                out.push(0x7f);
                push_bytes(&mut out, l.name.as_bytes());
            }
        }
        let v = l.value.as_bytes();
        let hex = !v.is_empty()
            && v.len() % 2 == 0
            && v.len() <= 126
            && v.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        if hex {
            out.push(TAG_HEX | (v.len() / 2) as u8);
            for pair in v.chunks(2) {
                out.push((nibble(pair[0]) << 4) | nibble(pair[1]));
            }
        } else {
            out.push(0);
            push_bytes(&mut out, v);
        }
    }
    out.into_boxed_slice()
}

fn push_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Label sets are at most a few hundred bytes (the 128-rune limit is checked before packing), and
    // u16 covers 64 KiB; longer strings are truncated rather than corrupting the encoding.
    let n = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&b[..n]);
}

fn nibble(c: u8) -> u8 {
    if c.is_ascii_digit() { c - b'0' } else { c - b'a' + 10 }
}

/// Reverses [`pack`].
pub fn unpack(b: &[u8]) -> Labels {
    let mut labels = Vec::new();
    let mut i = 0;
    let read_bytes = |i: &mut usize| -> String {
        let n = u16::from_le_bytes([b[*i], b[*i + 1]]) as usize;
        let s = String::from_utf8_lossy(&b[*i + 2..*i + 2 + n]).into_owned();
        *i += 2 + n;
        s
    };
    while i < b.len() {
        let tag = b[i];
        i += 1;
        let name = if (tag as usize) < WELL_KNOWN.len() {
            WELL_KNOWN[tag as usize].to_owned()
        } else if tag == 0x7f {
            read_bytes(&mut i)
        } else {
            let n = (tag & 0x3f) as usize;
            let s = String::from_utf8_lossy(&b[i..i + n]).into_owned();
            i += n;
            s
        };
        let vt = b[i];
        i += 1;
        let value = if vt & TAG_HEX != 0 {
            let n = (vt & 0x7f) as usize;
            let mut s = String::with_capacity(n * 2);
            for byte in &b[i..i + n] {
                s.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
                s.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
            }
            i += n;
            s
        } else {
            read_bytes(&mut i)
        };
        labels.push(Label {
            name: name.into(),
            value: value.into(),
        });
    }
    Labels::from_sorted(labels)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use diamond_model::MatchOp;
    use proptest::prelude::*;

    use super::*;

    fn ex(trace: &str, v: f64, ts: i64) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs(&[("trace_id", trace)]),
            value: v,
            ts,
            has_ts: true,
        }
    }

    fn series(n: u64) -> Labels {
        Labels::from_pairs(&[("__name__", "m"), ("i", &n.to_string())])
    }

    #[test]
    fn dedupe_and_order() {
        let s = CircularStore::new(10);
        let l = series(1);
        s.append(1, &l, &ex("aa", 1.0, 10)).unwrap();
        assert_eq!(s.append(1, &l, &ex("aa", 1.0, 10)), Err(ExemplarError::Duplicate));
        assert_eq!(s.append(1, &l, &ex("bb", 1.0, 5)), Err(ExemplarError::OutOfOrder));
        assert_eq!(s.append(1, &l, &ex("bb", 0.5, 10)), Err(ExemplarError::OutOfOrder));
        s.append(1, &l, &ex("bb", 2.0, 10)).unwrap();
        // No timestamp on both: equal regardless of ts (a re-exposed exemplar on the next scrape).
        let mut a = ex("cc", 3.0, 20);
        a.has_ts = false;
        s.append(1, &l, &a).unwrap();
        a.ts = 35;
        assert_eq!(s.append(1, &l, &a), Err(ExemplarError::Duplicate));
        assert_eq!(s.stats().stored, 3);
    }

    #[test]
    fn label_limit() {
        let s = CircularStore::new(10);
        let long = "a".repeat(121);
        assert_eq!(
            s.append(1, &series(1), &ex(&long, 1.0, 1)),
            Err(ExemplarError::LabelLength)
        );
        let ok = "a".repeat(120);
        s.append(1, &series(1), &ex(&ok, 1.0, 1)).unwrap();
    }

    #[test]
    fn disabled() {
        let s = CircularStore::new(0);
        assert_eq!(s.append(1, &series(1), &ex("aa", 1.0, 1)), Err(ExemplarError::Disabled));
    }

    #[test]
    fn pack_roundtrip_examples() {
        for l in [
            Labels::from_pairs(&[
                ("trace_id", "0af7651916cd43dd8448eb211c80319c"),
                ("span_id", "b7ad6b7169203331"),
            ]),
            Labels::from_pairs(&[("traceID", "ABC"), ("x", "é\"\n"), ("odd", "abc")]),
            Labels::from_pairs(&[("a".repeat(70).as_str(), "1")]),
            Labels::empty(),
        ] {
            assert_eq!(unpack(&pack(&l)), l);
        }
    }

    proptest! {
        #[test]
        fn pack_roundtrip(pairs in proptest::collection::vec(("[a-zA-Z_]{1,80}", "\\PC{1,40}|[0-9a-f]{1,64}"), 0..4)) {
            let l = Labels::from_pairs(&pairs);
            prop_assert_eq!(unpack(&pack(&l)), l);
        }

        /// Against a model: a FIFO of (series, exemplar) of bounded length, with dedupe/order against the
        /// newest held for the series.
        #[test]
        fn matches_fifo_model(cap in 1usize..20, ops in proptest::collection::vec((0u64..5, 0i64..50, 0u8..3), 0..200), resize_to in proptest::option::of(0usize..25)) {
            let s = CircularStore::new(cap);
            let mut model: VecDeque<(u64, Exemplar)> = VecDeque::new();
            for (sid, ts, v) in ops {
                let e = ex("ab", f64::from(v), ts);
                let newest = model.iter().rev().find(|(x, _)| *x == sid).map(|(_, e)| e.clone());
                let expect_ok = match &newest {
                    None => true,
                    Some(n) => !(n.same_as(&e) || e.ts < n.ts || (e.ts == n.ts && e.value < n.value)),
                };
                let got = s.append(sid, &series(sid), &e);
                prop_assert_eq!(got.is_ok(), expect_ok);
                if expect_ok {
                    model.push_back((sid, e));
                    if model.len() > cap { model.pop_front(); }
                }
            }
            let mut cap = cap;
            if let Some(n) = resize_to {
                s.resize(n);
                while model.len() > n { model.pop_front(); }
                cap = n;
            }
            let _ = cap;
            let all = s.select(i64::MIN, i64::MAX, &[vec![Matcher::new(MatchOp::Regex, "__name__", ".*").unwrap()]]);
            let total: usize = all.iter().map(|x| x.exemplars.len()).sum();
            prop_assert_eq!(total, model.len());
            for se in all {
                let sid: u64 = se.series_labels.get("i").unwrap().parse().unwrap();
                let want: Vec<Exemplar> = model.iter().filter(|(x, _)| *x == sid).map(|(_, e)| e.clone()).collect();
                prop_assert_eq!(se.exemplars, want);
            }
        }
    }
}
