//! Sealed exemplar segments (docs/format/exemplars.md): windows older than the seal age leave memory for
//! immutable files, queries read both, memory stays bounded by the budget however much is on disk, a
//! reopen lists them, a crash between the segment and the snapshot holds nothing twice, retention deletes
//! whole segments.

use diamond_exemplars::{ExemplarStore, FairStore};
use diamond_model::storage::ExemplarError;
use diamond_model::{Exemplar, Labels, MatchOp, Matcher};

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn series(i: u64) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
}

fn ex(ts: i64, v: f64) -> Exemplar {
    Exemplar {
        labels: Labels::from_pairs(&[("trace_id", &format!("{:032x}", ts as u64 * 7 + v as u64))]),
        value: v,
        ts,
        has_ts: true,
    }
}

fn all() -> Vec<Vec<Matcher>> {
    vec![vec![Matcher::new(MatchOp::Regex, "__name__", ".*").unwrap()]]
}

fn count(store: &FairStore, start: i64, end: i64) -> usize {
    store
        .select(start, end, &all())
        .iter()
        .map(|s| {
            assert!(s.exemplars.windows(2).all(|w| w[0].ts <= w[1].ts), "ascending ts");
            s.exemplars.len()
        })
        .sum()
}

/// Ten hours of one exemplar per minute for two series, flushed every 30 minutes with a budget of 400: memory
/// never holds more than the budget (nor more than ~1.5 h of windows), every exemplar stays queryable from
/// memory and segments, also after a reopen; older than the horizon is refused as too old.
#[test]
fn memory_stays_bounded_while_disk_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("exemplars");
    let store = FairStore::open(&dir, 400, 0).unwrap();
    let mut appended = 0;
    for m in 0..600 {
        for i in 0..2 {
            store.append(i + 1, &series(i), &ex(m * MIN + 5, m as f64)).unwrap();
            appended += 1;
        }
        if m % 30 == 29 {
            assert!(store.flush().unwrap());
            let st = store.stats();
            assert!(st.stored <= 400, "memory holds {}", st.stored);
            assert!(
                m < 60 || st.stored <= 2 * 62,
                "only the last hour or so stays in memory: {}",
                st.stored
            );
            assert_eq!(st.stored + st.disk_stored, appended, "minute {m}");
        }
    }
    let st = store.stats();
    assert!(st.disk_segments >= 15, "{st:?}");
    assert!(st.disk_bytes > 0);
    assert_eq!(count(&store, i64::MIN, i64::MAX), 1200);
    // Coverage counts what is on disk too: each series back to its first minute.
    let want = |i: u64| (series(i), 600, 5, 599 * MIN + 5);
    let summary = |store: &FairStore| -> Vec<(Labels, u64, i64, i64)> {
        store
            .series_summary()
            .into_iter()
            .map(|s| (s.labels, s.exemplars, s.oldest, s.newest))
            .collect()
    };
    assert_eq!(summary(&store), vec![want(0), want(1)]);
    // Again from the cached disk totals, after one more exemplar and a sealing flush.
    store.append(1, &series(0), &ex(600 * MIN + 5, 600.0)).unwrap();
    assert!(store.flush().unwrap());
    assert_eq!(summary(&store)[0], (series(0), 601, 5, 600 * MIN + 5));
    // A range inside old segments only.
    assert_eq!(count(&store, 60 * MIN, 120 * MIN - 1), 120);
    let one = store.select(
        0,
        i64::MAX,
        &[vec![
            Matcher::new(MatchOp::Equal, "__name__", "m").unwrap(),
            Matcher::new(MatchOp::Equal, "i", "1").unwrap(),
        ]],
    );
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].exemplars.len(), 600);
    assert!(
        one[0]
            .exemplars
            .iter()
            .enumerate()
            .all(|(m, e)| e.ts == m as i64 * MIN + 5)
    );
    drop(store);

    let store = FairStore::open(&dir, 400, 0).unwrap();
    assert_eq!(count(&store, i64::MIN, i64::MAX), 1201, "after reopen");
    assert_eq!(summary(&store)[1], want(1), "after reopen");
    assert!(store.stats().stored <= 2 * 62);
    // Sealed windows take no more exemplars (a WAL replay of sealed ones is refused, not doubled).
    assert_eq!(store.append(1, &series(0), &ex(5, 0.0)), Err(ExemplarError::OutOfOrder));
    assert_eq!(store.stats().too_old_total, 1);
    // Recent ones in memory are duplicates.
    assert_eq!(
        store.append(1, &series(0), &ex(599 * MIN + 5, 599.0)),
        Err(ExemplarError::Duplicate)
    );
}

/// A crash after the segment was written but before the snapshot replaced the old one: the reopened store
/// holds every exemplar exactly once.
#[test]
fn crash_between_segment_and_snapshot_holds_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("exemplars");
    let store = FairStore::open(&dir, 10_000, 0).unwrap();
    for m in 0..90 {
        store.append(1, &series(0), &ex(m * MIN, m as f64)).unwrap();
    }
    store.set_seal_age_ms(0);
    assert!(store.flush().unwrap());
    let old_snapshot = std::fs::read(dir.join("head.snapshot")).unwrap();
    store.set_seal_age_ms(HOUR);
    for m in 90..150 {
        store.append(1, &series(0), &ex(m * MIN, m as f64)).unwrap();
    }
    assert!(store.flush().unwrap());
    assert_eq!(store.stats().disk_segments, 1);
    drop(store);
    // Put the old snapshot back, as if the crash came before its replacement.
    std::fs::write(dir.join("head.snapshot"), &old_snapshot).unwrap();
    let store = FairStore::open(&dir, 10_000, 0).unwrap();
    let got = store.select(i64::MIN, i64::MAX, &all());
    let ts: Vec<i64> = got[0].exemplars.iter().map(|e| e.ts).collect();
    // Minutes 0..90 (old snapshot minus the sealed ones, plus the segment); 90..150 would come from the WAL.
    assert_eq!(ts, (0..90).map(|m| m * MIN).collect::<Vec<_>>());
}

/// Retention deletes whole segments whose newest exemplar is older than the newest exemplar minus the
/// retention, counting them as expired; a corrupt segment is set aside on open.
#[test]
fn retention_deletes_segments_and_a_corrupt_one_is_set_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("exemplars");
    let store = FairStore::open(&dir, 10_000, 3 * HOUR).unwrap();
    for m in 0..(8 * 60) {
        store.append(1, &series(0), &ex(m * MIN, 1.0)).unwrap();
        if m % 60 == 59 {
            assert!(store.flush().unwrap());
        }
    }
    let st = store.stats();
    let newest = (8 * 60 - 1) * MIN;
    let held = count(&store, i64::MIN, i64::MAX) as u64;
    assert_eq!(st.stored + st.disk_stored, held);
    let oldest = store.select(i64::MIN, i64::MAX, &all())[0].exemplars[0].ts;
    assert!(
        oldest >= newest - 3 * HOUR - HOUR,
        "old segments deleted: oldest {oldest}"
    );
    assert!(st.expired_total > 0);
    assert_eq!(st.expired_total + held, 8 * 60);
    // Coverage after retention removed segments matches what queries return.
    let cov = store.series_summary();
    assert_eq!(
        (cov.len(), cov[0].exemplars, cov[0].oldest, cov[0].newest),
        (1, held, oldest, newest)
    );
    let segs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dxs"))
        .collect();
    assert_eq!(segs.len() as u64, st.disk_segments);
    drop(store);
    std::fs::write(&segs[0], b"DXSG garbage").unwrap();
    let store = FairStore::open(&dir, 10_000, 3 * HOUR).unwrap();
    assert_eq!(store.stats().disk_segments, st.disk_segments - 1);
    assert!(segs[0].with_extension("dxs.corrupt").exists());
}
