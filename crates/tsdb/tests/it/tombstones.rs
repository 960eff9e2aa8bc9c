//! `Db::delete` (tombstones) against a naive model: the samples that existed when a delete ran and fell in
//! its interval are gone from every query; everything else is as `MemStorage` has it. Also across
//! reopens (the WAL tombstones record is replayed) and in label queries.

use std::collections::HashSet;

use diamond_model::storage::memory::MemStorage;
use diamond_model::storage::{Appender, Queryable};
use diamond_model::{Labels, MatchOp, Matcher, Timestamp};
use diamond_tsdb::{Db, Options};
use proptest::prelude::*;

use crate::{dump, ls};

#[derive(Debug, Clone)]
enum Op {
    Append { series: usize, t: i64 },
    Commit,
    Delete { mint: i64, maxt: i64, m: usize },
    Query { mint: i64, maxt: i64, m: usize },
    Reopen { close: bool },
}

fn pool() -> Vec<Labels> {
    vec![
        ls(&[("__name__", "a"), ("job", "x")]),
        ls(&[("__name__", "a"), ("job", "y")]),
        ls(&[("__name__", "b"), ("job", "x")]),
        ls(&[("__name__", "c")]),
    ]
}

fn matchers(i: usize) -> Vec<Matcher> {
    let re = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    match i {
        0 => vec![],
        1 => vec![Matcher::equal("__name__", "a")],
        2 => vec![Matcher::equal("job", "x")],
        3 => vec![Matcher::equal("job", "")],
        _ => vec![re(MatchOp::Regex, "__name__", ".+")],
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0usize..4, 0i64..60).prop_map(|(series, t)| Op::Append { series, t: t * 1000 }),
        4 => Just(Op::Commit),
        3 => (0i64..65, 0i64..20, 0usize..5).prop_map(|(a, len, m)| Op::Delete { mint: a * 1000, maxt: (a + len) * 1000, m }),
        3 => (0i64..65, 0i64..65, 0usize..5).prop_map(|(a, b, m)| Op::Query { mint: a.min(b) * 1000, maxt: a.max(b) * 1000, m }),
        1 => any::<bool>().prop_map(|close| Op::Reopen { close }),
    ]
}

fn opts() -> Options {
    Options {
        wal_segment_size: 32 * 1024,
        stripes: 4,
        ..Options::default()
    }
}

type Dump = Vec<(Labels, Vec<(Timestamp, u64)>)>;

/// The model's answer: `MemStorage` minus the deleted samples, without series left empty.
fn model_dump(
    model: &MemStorage,
    deleted: &HashSet<(Labels, Timestamp)>,
    mint: i64,
    maxt: i64,
    ms: &[Matcher],
) -> Dump {
    dump(model, mint, maxt, ms)
        .into_iter()
        .map(|(l, v)| {
            let v: Vec<_> = v
                .into_iter()
                .filter(|(t, _)| !deleted.contains(&(l.clone(), *t)))
                .collect();
            (l, v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn head_tombstones_match_model(ops in proptest::collection::vec(op(), 1..80)) {
        let tmp = tempfile::tempdir().unwrap();
        let pool = pool();
        let model = MemStorage::new();
        let mut deleted: HashSet<(Labels, Timestamp)> = HashSet::new();
        let mut db = Db::open(tmp.path(), opts()).unwrap();
        let mut app: Option<(Box<dyn Appender>, Box<dyn Appender>)> = None;
        for op in ops {
            match op {
                Op::Append { series, t } => {
                    let (a, m) = app.get_or_insert_with(|| (db.appender(), model.appender()));
                    let l = &pool[series];
                    // Order rules are unchanged by deletes (the head keeps the newest sample), as in
                    // Prometheus, so MemStorage still models them.
                    let got = a.append(0, l, t, t as f64).map(|_| ());
                    let want = m.append(0, l, t, t as f64).map(|_| ());
                    prop_assert_eq!(got, want);
                }
                Op::Commit => {
                    if let Some((a, m)) = app.take() {
                        a.commit().unwrap();
                        m.commit().unwrap();
                    }
                }
                Op::Delete { mint, maxt, m } => {
                    let ms = matchers(m);
                    let n = db.delete(mint, maxt, &ms).unwrap();
                    let mut want_series = 0;
                    if !ms.is_empty() {
                        for (l, v) in dump(&model, mint, maxt, &ms) {
                            for (t, _) in v {
                                deleted.insert((l.clone(), t));
                            }
                        }
                        // A tombstone is recorded for every matching series whose sample range overlaps
                        // the interval (clamped to it), even where no sample falls inside (as Prometheus).
                        for (_, v) in dump(&model, i64::MIN, i64::MAX, &ms) {
                            if v.first().is_some_and(|f| f.0 <= maxt) && v.last().is_some_and(|l| l.0 >= mint) {
                                want_series += 1;
                            }
                        }
                    }
                    prop_assert_eq!(n, want_series, "series given a tombstone");
                }
                Op::Query { mint, maxt, m } => {
                    let ms = matchers(m);
                    let want = model_dump(&model, &deleted, mint, maxt, &ms);
                    prop_assert_eq!(dump(&db, mint, maxt, &ms), want.clone());
                    let q = db.querier(mint, maxt).unwrap();
                    let mut names: Vec<String> = want.iter().flat_map(|(l, _)| l.iter().map(|x| x.name.clone())).collect();
                    names.sort();
                    names.dedup();
                    prop_assert_eq!(q.label_names(&ms).unwrap(), names);
                    let mut jobs: Vec<String> = want.iter().filter_map(|(l, _)| l.get("job").map(str::to_owned)).collect();
                    jobs.sort();
                    jobs.dedup();
                    prop_assert_eq!(q.label_values("job", &ms).unwrap(), jobs);
                }
                Op::Reopen { close } => {
                    app = None;
                    if close {
                        db.close().unwrap();
                    }
                    drop(db);
                    db = Db::open(tmp.path(), opts()).unwrap();
                }
            }
        }
        drop(app);
        prop_assert_eq!(dump(&db, i64::MIN, i64::MAX, &[]), model_dump(&model, &deleted, i64::MIN, i64::MAX, &[]));
    }
}

fn append_range(db: &Db, l: &Labels, ts: impl Iterator<Item = i64>) {
    let mut app = db.appender();
    let mut r = 0;
    for t in ts {
        r = app.append(r, l, t, t as f64).unwrap();
    }
    app.commit().unwrap();
}

#[test]
fn delete_survives_restart_and_later_samples_stay_visible() {
    let tmp = tempfile::tempdir().unwrap();
    let a = ls(&[("__name__", "a"), ("job", "x")]);
    let b = ls(&[("__name__", "b"), ("job", "x")]);
    {
        let db = Db::open(tmp.path(), opts()).unwrap();
        append_range(&db, &a, (0..300).map(|i| i * 1000));
        append_range(&db, &b, (0..300).map(|i| i * 1000));
        // Deletes the middle of a (crossing chunk boundaries: 120 samples per chunk), and nothing of b.
        assert_eq!(
            db.delete(100_000, 250_000, &[Matcher::equal("__name__", "a")]).unwrap(),
            1
        );
        // Open-ended delete: everything of a up to its newest sample so far (Prometheus's default end).
        append_range(&db, &a, (300..310).map(|i| i * 1000));
        assert_eq!(
            db.delete(305_000, i64::MAX, &[Matcher::equal("__name__", "a")])
                .unwrap(),
            1
        );
        // Samples appended after a delete are not covered by it, even with an open end.
        append_range(&db, &a, (310..320).map(|i| i * 1000));
        // Dropped without close: a crash. The deletes were fsynced.
    }
    let db = Db::open(tmp.path(), opts()).unwrap();
    let got = dump(&db, i64::MIN, i64::MAX, &[Matcher::equal("__name__", "a")]);
    let want: Vec<i64> = (0..100).chain(251..305).chain(310..320).map(|i| i * 1000).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.iter().map(|s| s.0).collect::<Vec<_>>(), want);
    assert_eq!(
        dump(&db, i64::MIN, i64::MAX, &[Matcher::equal("__name__", "b")])[0]
            .1
            .len(),
        300
    );
    // Seek through a deleted stretch lands after it.
    let q = db.querier(0, i64::MAX).unwrap();
    let s = q.select(&[Matcher::equal("__name__", "a")]).unwrap();
    let mut it = s[0].data.iter(0, i64::MAX);
    assert_eq!(it.seek(150_000), Some((251_000, 251_000.0)));
    // A fully deleted series disappears from select, label names and values.
    db.delete(i64::MIN, i64::MAX, &[Matcher::equal("__name__", "b")])
        .unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    assert!(q.select(&[Matcher::equal("__name__", "b")]).unwrap().is_empty());
    assert_eq!(q.label_values("__name__", &[]).unwrap(), vec!["a".to_owned()]);
    // A querier over only the deleted part of a sees nothing either.
    let q = db.querier(120_000, 200_000).unwrap();
    assert!(q.select(&[]).unwrap().is_empty());
    assert!(q.label_names(&[]).unwrap().is_empty());
}

#[test]
fn delete_on_a_closed_db_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    append_range(&db, &ls(&[("__name__", "a")]), 0..10);
    db.close().unwrap();
    let e = db.delete(0, 5, &[Matcher::equal("__name__", "a")]).unwrap_err();
    assert!(e.to_string().contains("write-ahead log"), "{e}");
    assert_eq!(dump(&db, 0, 100, &[])[0].1.len(), 10, "nothing deleted");
}
