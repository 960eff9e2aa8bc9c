//! The guarantees of docs/exemplars.md (G1-G5) checked against a simple model, under random append
//! sequences (series skew, out-of-order, duplicates, late exemplars) and random budgets, plus resizing.

use std::collections::{BTreeMap, BTreeSet};

use diamond_exemplars::{ExemplarStore, FairStore};
use diamond_model::{Exemplar, Labels, MatchOp, Matcher};
use proptest::prelude::*;

const MIN: i64 = 60_000;

fn series(i: u64) -> Labels {
    Labels::from_pairs(&[("__name__", format!("m{}", i % 3)), ("i", i.to_string())])
}

fn all() -> Vec<Vec<Matcher>> {
    vec![vec![Matcher::new(MatchOp::Regex, "__name__", ".*").unwrap()]]
}

/// (series id, ts, value, trace) held by the store.
fn snapshot(store: &FairStore) -> BTreeSet<(u64, i64, u64, String)> {
    let mut out = BTreeSet::new();
    for s in store.select(i64::MIN, i64::MAX, &all()) {
        let id: u64 = s.series_labels.get("i").unwrap().parse().unwrap();
        let ts: Vec<i64> = s.exemplars.iter().map(|e| e.ts).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "exemplars in time order");
        for e in s.exemplars {
            out.insert((
                id,
                e.ts,
                e.value.to_bits(),
                e.labels.get("trace_id").unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

/// One offered exemplar: series (skewed: low ids far more often), minute, second, value, trace.
fn op() -> impl Strategy<Value = (u64, i64, i64, i32, u8)> {
    (
        prop_oneof![4 => 0u64..2, 1 => 0u64..12],
        0i64..20,
        0i64..60,
        -5i32..50,
        0u8..6,
    )
}

fn ex(minute: i64, sec: i64, v: i32, trace: u8) -> Exemplar {
    Exemplar {
        labels: Labels::from_pairs(&[("trace_id", format!("{trace:032x}"))]),
        value: f64::from(v),
        ts: minute * MIN + sec * 1000,
        has_ts: true,
    }
}

fn pairs_of(snap: &BTreeSet<(u64, i64, u64, String)>) -> BTreeSet<(u64, i64)> {
    snap.iter().map(|(s, ts, _, _)| (*s, ts.div_euclid(MIN))).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// G1-G4 after every append, whatever the sequence and the budget.
    #[test]
    fn coverage_guarantees(budget in 1usize..40, ops in proptest::collection::vec(op(), 1..300), reoffer in 0usize..3) {
        let store = FairStore::new(budget);
        // Model: per (series, minute) the highest and lowest value offered.
        let mut model: BTreeMap<(u64, i64), (i32, i32)> = BTreeMap::new();
        let mut offered: Vec<(u64, Exemplar)> = Vec::new();
        let mut seq = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            seq.push(*o);
            // Re-offer earlier exemplars now and then (a target re-exposing, a WAL replay).
            if reoffer > 0 && i % 7 == 6 {
                seq.push(ops[i / 2]);
            }
        }
        for (sid, minute, sec, v, trace) in seq {
            let e = ex(minute, sec, v, trace);
            let _ = store.append(sid + 1, &series(sid), &e);
            offered.push((sid, e));
            let m = model.entry((sid, minute)).or_insert((v, v));
            m.0 = m.0.max(v);
            m.1 = m.1.min(v);

            let snap = snapshot(&store);
            let held = pairs_of(&snap);
            let st = store.stats();
            // G3: the bound.
            prop_assert!(snap.len() <= budget, "{} held > budget {}", snap.len(), budget);
            prop_assert_eq!(st.stored as usize, snap.len());
            let series_offered: BTreeSet<u64> = model.keys().map(|k| k.0).collect();
            if model.len() <= budget {
                // G1: every pair covered, and G4: with its highest value.
                for (&(s, m), &(hi, _)) in &model {
                    prop_assert!(held.contains(&(s, m)), "pair ({s}, {m}) lost with {} pairs, budget {budget}", model.len());
                    let max_held = snap.iter().filter(|x| x.0 == s && x.1.div_euclid(MIN) == m)
                        .map(|x| f64::from_bits(x.2)).fold(f64::NEG_INFINITY, f64::max);
                    prop_assert_eq!(max_held, f64::from(hi), "pair ({}, {}) lost its spike", s, m);
                }
                prop_assert_eq!(st.coarsened_total, 0);
            } else if series_offered.len() <= budget {
                // G2: every series keeps one.
                let held_series: BTreeSet<u64> = held.iter().map(|p| p.0).collect();
                prop_assert_eq!(&held_series, &series_offered);
            }
            // Nothing held that was never offered.
            for x in &snap {
                prop_assert!(offered.iter().any(|(s, e)| *s == x.0 && e.ts == x.1 && e.value.to_bits() == x.2));
            }
        }
    }

    /// G5: a late exemplar landing in a window that is already covered removes nothing from other series,
    /// and nothing outside its own minute while no window was coarsened.
    #[test]
    fn late_exemplar_competes_only_in_its_window(budget in 2usize..30, ops in proptest::collection::vec(op(), 1..200), late in (0u64..12, 0i64..60, -5i32..50, 0u8..6)) {
        // Two exemplars of one series in two minutes first, so that some series has a window to be late in.
        let ops: Vec<_> = [(ops[0].0, 0, 0, 1, 0), (ops[0].0, 1, 0, 1, 0)].into_iter().chain(ops).collect();
        let store = FairStore::new(budget);
        for (sid, minute, sec, v, trace) in &ops {
            let _ = store.append(sid + 1, &series(*sid), &ex(*minute + 100, *sec, *v, *trace));
        }
        let before = snapshot(&store);
        let (pick, sec, v, trace) = late;
        // A series holding two minutes or more (the picked one if it does): a late exemplar into its oldest.
        let minutes_of = |sid: u64| -> BTreeSet<i64> { before.iter().filter(|x| x.0 == sid).map(|x| x.1.div_euclid(MIN)).collect() };
        let Some(sid) = (0..12u64).map(|k| (pick + k) % 12).find(|&s| minutes_of(s).len() >= 2) else {
            // Budget too small for any series to hold two minutes: nothing is late.
            return Ok(());
        };
        let mins = minutes_of(sid);
        let minute = *mins.iter().next().unwrap();
        let coarsened = store.stats().coarsened_total;
        let _ = store.append(sid + 1, &series(sid), &ex(minute, sec, v, trace));
        let after = snapshot(&store);
        for gone in before.difference(&after) {
            prop_assert_eq!(gone.0, sid, "a late exemplar evicted another series' exemplar");
            if coarsened == 0 && store.stats().coarsened_total == 0 {
                prop_assert_eq!(gone.1.div_euclid(MIN), minute, "a late exemplar evicted a newer window's exemplar");
            }
        }
    }

    /// Duplicates add nothing: offering the same sequence twice leaves the store as after the first time.
    #[test]
    fn replay_is_idempotent(ops in proptest::collection::vec(op(), 1..150)) {
        let store = FairStore::new(10_000);
        for (sid, minute, sec, v, trace) in &ops {
            let _ = store.append(sid + 1, &series(*sid), &ex(*minute, *sec, *v, *trace));
        }
        let once = snapshot(&store);
        let appended = store.stats().appended_total;
        for (sid, minute, sec, v, trace) in &ops {
            let _ = store.append(sid + 1, &series(*sid), &ex(*minute, *sec, *v, *trace));
        }
        prop_assert_eq!(snapshot(&store), once);
        prop_assert_eq!(store.stats().appended_total, appended);
    }

    /// Resizing keeps coverage (the most valuable), not the newest: after a shrink to n >= pairs, every
    /// pair is still held with its highest value.
    #[test]
    fn resize_keeps_coverage(ops in proptest::collection::vec(op(), 1..300), to in 1usize..60) {
        let store = FairStore::new(10_000);
        let mut model: BTreeMap<(u64, i64), i32> = BTreeMap::new();
        for (sid, minute, sec, v, trace) in &ops {
            let _ = store.append(sid + 1, &series(*sid), &ex(*minute, *sec, *v, *trace));
            let m = model.entry((*sid, *minute)).or_insert(*v);
            *m = (*m).max(*v);
        }
        store.resize(to);
        let snap = snapshot(&store);
        prop_assert!(snap.len() <= to);
        if model.len() <= to {
            let held = pairs_of(&snap);
            for (&(s, m), &hi) in &model {
                prop_assert!(held.contains(&(s, m)));
                prop_assert!(snap.iter().any(|x| x.0 == s && x.1.div_euclid(MIN) == m && f64::from_bits(x.2) == f64::from(hi)));
            }
        }
    }

    /// `append_batch` is `append` one by one: the same results, the same exemplars held, the same counters,
    /// whatever the batching, the budget and the order.
    #[test]
    fn batch_append_is_one_by_one(budget in 1usize..60, ops in proptest::collection::vec(op(), 1..300), cuts in proptest::collection::vec(1usize..40, 1..20)) {
        let single = FairStore::new(budget);
        let batched = FairStore::new(budget);
        let offered: Vec<(u64, Exemplar)> = ops.iter().map(|&(sid, minute, sec, v, trace)| (sid, ex(minute, sec, v, trace))).collect();
        let want: Vec<_> = offered.iter().map(|(sid, e)| single.append(sid + 1, &series(*sid), e)).collect();
        let mut got = Vec::new();
        let mut rest = &offered[..];
        for n in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at((*n).min(rest.len()));
            let items: Vec<(u64, &Exemplar)> = now.iter().map(|(sid, e)| (sid + 1, e)).collect();
            got.extend(batched.append_batch(&items, &|i| series(now[i].0)));
            rest = later;
        }
        prop_assert_eq!(got, want);
        prop_assert_eq!(snapshot(&batched), snapshot(&single));
        prop_assert_eq!(batched.stats(), single.stats());
    }
}

/// The skew Prometheus's ring loses: one hot series at 100x the rate of 50 others over 30 minutes, budget
/// 2x the pairs. Every (series, minute) keeps an exemplar.
#[test]
fn hot_series_does_not_push_others_out() {
    let store = FairStore::new(3_100);
    let mut pairs = BTreeSet::new();
    for minute in 0..30i64 {
        for k in 0..100 {
            store
                .append(1000, &series(1000), &ex(minute, k * 60 / 100, k as i32, k as u8))
                .unwrap();
        }
        pairs.insert((1000, minute));
        for s in 0..50u64 {
            store.append(s + 1, &series(s), &ex(minute, 30, 1, 1)).unwrap();
            pairs.insert((s, minute));
        }
    }
    let held = pairs_of(&snapshot(&store));
    assert_eq!(held, pairs);
    assert!(store.stats().thinned_total > 0);
}

/// Exemplars without a timestamp re-exposed on every scrape are duplicates (Prometheus's Equals).
#[test]
fn reexposed_without_timestamp_is_duplicate() {
    let store = FairStore::new(10);
    let mut e = ex(1, 0, 5, 1);
    e.has_ts = false;
    store.append(1, &series(1), &e).unwrap();
    e.ts += 15_000;
    assert_eq!(
        store.append(1, &series(1), &e),
        Err(diamond_model::storage::ExemplarError::Duplicate)
    );
    assert_eq!(store.stats().duplicate_total, 1);
    assert_eq!(store.stats().stored, 1);
}

/// A batch builds a series' labels only for a series the store does not hold yet.
#[test]
fn batch_asks_labels_only_for_new_series() {
    let store = FairStore::new(1000);
    let exs: Vec<Exemplar> = (0..50).map(|k| ex(k, 0, k as i32, 1)).collect();
    let calls = std::cell::Cell::new(0);
    let items: Vec<(u64, &Exemplar)> = exs.iter().map(|e| (7, e)).collect();
    let labels = |_: usize| {
        calls.set(calls.get() + 1);
        series(7)
    };
    assert!(store.append_batch(&items, &labels).iter().all(Result::is_ok));
    assert_eq!(calls.get(), 1, "labels built once for one new series");
    let more: Vec<Exemplar> = (50..60).map(|k| ex(k, 0, 1, 2)).collect();
    let items: Vec<(u64, &Exemplar)> = more.iter().map(|e| (7, e)).collect();
    assert!(store.append_batch(&items, &labels).iter().all(Result::is_ok));
    assert_eq!(calls.get(), 1, "a held series needs no labels");
    assert_eq!(store.stats().stored, 60);
}
