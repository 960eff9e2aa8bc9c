use std::sync::Arc;

use diamond_model::storage::{AppendError, ExemplarError, Queryable};
use diamond_model::{Exemplar, MatchOp, Matcher, Metadata, MetricType};
use diamond_tsdb::{Db, FsyncPolicy, Options};

use crate::{dump, ls};

fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, Options::default()).unwrap()
}

#[test]
fn append_rules_match_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let a = ls(&[("__name__", "m"), ("i", "a")]);
    let mut app = db.appender();
    let r = app.append(0, &a, 1000, 1.0).unwrap();
    assert_ne!(r, 0);
    app.commit().unwrap();

    let mut app = db.appender();
    assert_eq!(app.append(r, &a, 999, 1.0), Err(AppendError::OutOfOrder));
    assert_eq!(
        app.append(r, &a, 1000, 2.0),
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    // Same timestamp and same value: silently accepted, no new sample.
    assert_eq!(app.append(r, &a, 1000, 1.0), Ok(r));
    assert_eq!(
        app.append(0, &a, 2000, 2.0),
        Ok(r),
        "the label lookup finds the same ref"
    );
    // Within the transaction, order is checked against the pending sample too.
    assert_eq!(app.append(r, &a, 1500, 2.0), Err(AppendError::OutOfOrder));
    app.commit().unwrap();
    assert_eq!(dump(&db, 0, 10_000, &[Matcher::equal("i", "a")])[0].1.len(), 2);

    // Out of bounds: older than half a chunk range (1h) before the head's newest sample.
    let mut app = db.appender();
    app.append(r, &a, 10 * 3_600_000, 3.0).unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    let b = ls(&[("__name__", "m"), ("i", "b")]);
    assert_eq!(app.append(0, &b, 9 * 3_600_000 - 1, 1.0), Err(AppendError::OutOfBounds));
    assert!(app.append(0, &b, 9 * 3_600_000, 1.0).is_ok());
    assert!(matches!(
        app.append(0, &ls(&[]), 9 * 3_600_000, 1.0),
        Err(AppendError::InvalidLabels(_))
    ));
    app.rollback();
    let st = db.stats();
    assert_eq!(st.out_of_order_rejected, 2);
    assert_eq!(st.duplicate_rejected, 1);
    assert_eq!(st.out_of_bounds_rejected, 1);
    assert_eq!(st.samples_appended, 3);
}

#[test]
fn nothing_visible_before_commit_and_rollback_discards() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let a = ls(&[("__name__", "m")]);
    let mut app = db.appender();
    app.append(0, &a, 1000, 1.0).unwrap();
    assert!(dump(&db, 0, 5000, &[]).is_empty());
    app.rollback();
    assert!(dump(&db, 0, 5000, &[]).is_empty());
    let q = db.querier(0, 5000).unwrap();
    assert!(
        q.label_names(&[]).unwrap().is_empty(),
        "a series without samples is not reported"
    );
}

#[test]
fn select_matchers_sorting_and_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let mut app = db.appender();
    for (i, job) in ["b", "a", "c"].iter().enumerate() {
        for k in 0..3 {
            let l = ls(&[("__name__", "up"), ("job", job), ("k", &k.to_string())]);
            app.append(0, &l, 1000 * (i as i64 + 1), k as f64).unwrap();
        }
    }
    app.append(0, &ls(&[("__name__", "other")]), 1000, 0.0).unwrap();
    app.commit().unwrap();

    let all = dump(&db, 0, 10_000, &[Matcher::equal("__name__", "up")]);
    assert_eq!(all.len(), 9);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "sorted by labels");
    let re = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    assert_eq!(dump(&db, 0, 10_000, &[re(MatchOp::Regex, "job", "a|c")]).len(), 6);
    assert_eq!(
        dump(&db, 0, 10_000, &[re(MatchOp::NotRegex, "job", "a|c")]).len(),
        4,
        "b's 3 + other"
    );
    assert_eq!(dump(&db, 0, 10_000, &[re(MatchOp::NotEqual, "job", "a")]).len(), 7);
    assert_eq!(
        dump(&db, 0, 10_000, &[Matcher::equal("job", "")]).len(),
        1,
        "=\"\" selects series without job"
    );
    assert_eq!(dump(&db, 0, 10_000, &[re(MatchOp::Regex, "job", "")]).len(), 1);
    assert_eq!(dump(&db, 0, 10_000, &[re(MatchOp::Regex, "nope", ".*")]).len(), 10);
    assert_eq!(dump(&db, 0, 10_000, &[re(MatchOp::Regex, "nope", ".+")]).len(), 0);
    // Only series with samples in range: job=b wrote at t=1000, job=a at 2000, job=c at 3000.
    let q = db.querier(1500, 2500).unwrap();
    assert_eq!(q.label_values("job", &[]).unwrap(), vec!["a"]);
    assert_eq!(q.label_names(&[]).unwrap(), vec!["__name__", "job", "k"]);
    let q = db.querier(0, 10_000).unwrap();
    assert_eq!(q.label_values("job", &[]).unwrap(), vec!["a", "b", "c"]);
    assert_eq!(
        q.label_values("k", &[Matcher::equal("job", "a")]).unwrap(),
        vec!["0", "1", "2"]
    );
    assert_eq!(q.label_values("__name__", &[]).unwrap(), vec!["other", "up"]);
    assert!(q.label_values("missing", &[]).unwrap().is_empty());
}

#[test]
fn chunks_cut_at_120_and_seek_skips() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let a = ls(&[("__name__", "m")]);
    let mut r = 0;
    for c in 0..10 {
        let mut app = db.appender();
        for i in 0..100 {
            let t = (c * 100 + i) * 15_000;
            r = app.append(r, &a, t, t as f64).unwrap();
        }
        app.commit().unwrap();
    }
    // 1000 samples every 15s: chunks of 120 (the 2h boundaries fall on sample 480 and 960, both cuts anyway).
    assert_eq!(db.stats().chunks, 9);
    let q = db.querier(0, i64::MAX).unwrap();
    let s = &q.select(&[]).unwrap()[0];
    let mut it = s.data.iter(0, i64::MAX);
    assert_eq!(it.seek(15_000 * 500), Some((15_000 * 500, (15_000 * 500) as f64)));
    assert_eq!(it.next(), Some((15_000 * 501, (15_000 * 501) as f64)));
    assert_eq!(it.seek(15_000 * 999 + 1), None);
    let mut it = s.data.iter(15_000 * 10 + 1, 15_000 * 12);
    assert_eq!(it.next(), Some((15_000 * 11, (15_000 * 11) as f64)));
    assert_eq!(it.next(), Some((15_000 * 12, (15_000 * 12) as f64)));
    assert_eq!(it.next(), None);
    // Range inside one chunk but between samples: the series has no sample there.
    assert!(dump(&db, 15_000 * 3 + 1, 15_000 * 4 - 1, &[]).is_empty());
}

#[test]
fn chunks_cut_at_the_chunk_range_boundary() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let a = ls(&[("__name__", "m")]);
    let mut app = db.appender();
    // 110 samples every 70s: the 2h boundary (7200s) falls after sample 102, so 103 + 7 samples.
    for i in 0..110 {
        app.append(0, &a, i * 70_000, 1.0).unwrap();
    }
    app.commit().unwrap();
    assert_eq!(db.stats().chunks, 2);
    assert_eq!(dump(&db, 0, i64::MAX, &[])[0].1.len(), 110);
}

#[test]
fn metadata_latest_per_family_and_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let a = ls(&[("__name__", "req_total"), ("i", "1")]);
    let m1 = Metadata {
        metric_type: MetricType::Counter,
        help: "Requests.".into(),
        unit: String::new(),
    };
    let m2 = Metadata {
        help: "All requests.".into(),
        ..m1.clone()
    };
    {
        let db = open(tmp.path());
        let mut app = db.appender();
        let r = app.append(0, &a, 1000, 1.0).unwrap();
        app.update_metadata(r, &a, &m1).unwrap();
        app.commit().unwrap();
        let mut app = db.appender();
        app.update_metadata(r, &a, &m2).unwrap();
        app.commit().unwrap();
        assert_eq!(db.metadata(), vec![("req_total".to_owned(), m2.clone())]);
    }
    let db = open(tmp.path());
    assert_eq!(db.metadata(), vec![("req_total".to_owned(), m2)]);
}

#[test]
fn exemplars_validated_stored_and_replayed() {
    exemplars_validated_stored_and_replayed_with(diamond_exemplars::Policy::Circular);
    exemplars_validated_stored_and_replayed_with(diamond_exemplars::Policy::Fair);
}

/// Prometheus's rules with the circular store; the fair store accepts the out-of-order one.
fn exemplars_validated_stored_and_replayed_with(policy: diamond_exemplars::Policy) {
    let open = |dir: &std::path::Path| {
        Db::open(
            dir,
            Options {
                exemplar_policy: policy,
                ..Options::default()
            },
        )
        .unwrap()
    };
    let fair = policy == diamond_exemplars::Policy::Fair;
    let tmp = tempfile::tempdir().unwrap();
    let a = ls(&[("__name__", "req_total")]);
    let ex = |trace: &str, ts| Exemplar {
        labels: ls(&[("trace_id", trace)]),
        value: 1.0,
        ts,
        has_ts: true,
    };
    let sets = vec![vec![Matcher::equal("__name__", "req_total")]];
    {
        let db = open(tmp.path());
        let mut app = db.appender();
        let r = app.append(0, &a, 1000, 1.0).unwrap();
        app.append_exemplar(r, &a, &ex("aa", 1000)).unwrap();
        let long = "x".repeat(200);
        assert_eq!(
            app.append_exemplar(r, &a, &ex(&long, 1000)),
            Err(AppendError::Exemplar(ExemplarError::LabelLength))
        );
        app.commit().unwrap();
        let mut app = db.appender();
        // Duplicate and out-of-order exemplars are dropped at commit without failing it.
        app.append_exemplar(r, &a, &ex("aa", 1000)).unwrap();
        app.append_exemplar(r, &a, &ex("bb", 500)).unwrap();
        app.append_exemplar(r, &a, &ex("cc", 2000)).unwrap();
        app.append(r, &a, 2000, 2.0).unwrap();
        app.commit().unwrap();
        let got = db.exemplars().select(0, 5000, &sets);
        assert_eq!(got[0].exemplars.len(), if fair { 3 } else { 2 });
        assert_eq!(db.stats().exemplars.appended_total, if fair { 3 } else { 2 });
    }
    let db = open(tmp.path());
    let got = db.exemplars().select(0, 5000, &sets);
    if fair {
        assert_eq!(got[0].exemplars, vec![ex("bb", 500), ex("aa", 1000), ex("cc", 2000)]);
    } else {
        assert_eq!(got[0].exemplars, vec![ex("aa", 1000), ex("cc", 2000)]);
    }
    // Unknown series.
    let mut app = db.appender();
    assert_eq!(
        app.append_exemplar(0, &ls(&[("__name__", "nope")]), &ex("dd", 3000)),
        Err(AppendError::Exemplar(ExemplarError::UnknownSeries))
    );
    app.rollback();
    db.resize_exemplars(0);
    let mut app = db.appender();
    assert_eq!(
        app.append_exemplar(0, &a, &ex("dd", 3000)),
        Err(AppendError::Exemplar(ExemplarError::Disabled))
    );
}

#[test]
fn stats_and_cardinality() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let mut app = db.appender();
    for i in 0..5 {
        app.append(0, &ls(&[("__name__", "a"), ("i", &i.to_string())]), 1000, 1.0)
            .unwrap();
    }
    for i in 0..2 {
        app.append(0, &ls(&[("__name__", "bb"), ("i", &i.to_string())]), 2000, 1.0)
            .unwrap();
    }
    app.commit().unwrap();
    let st = db.stats();
    assert_eq!(
        (st.num_series, st.min_time, st.max_time, st.chunks),
        (7, Some(1000), Some(2000), 7)
    );
    assert!(st.wal_bytes > 0 && st.wal_segments == 1);
    let c = db.cardinality(2);
    assert_eq!(c.head_stats.num_series, 7);
    assert_eq!(c.head_stats.num_label_pairs, 7);
    assert_eq!(
        c.series_count_by_metric_name,
        vec![("a".to_owned(), 5), ("bb".to_owned(), 2)]
    );
    assert_eq!(
        c.label_value_count_by_label_name,
        vec![("i".to_owned(), 5), ("__name__".to_owned(), 2)]
    );
    assert_eq!(
        c.memory_in_bytes_by_label_name,
        vec![("__name__".to_owned(), 9), ("i".to_owned(), 7)]
    );
    assert_eq!(
        c.series_count_by_label_value_pair,
        vec![("__name__=a".to_owned(), 5), ("__name__=bb".to_owned(), 2)]
    );
}

#[test]
fn parallel_appenders_and_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Arc::new(
        Db::open(
            tmp.path(),
            Options {
                wal_fsync: FsyncPolicy::Interval(std::time::Duration::from_millis(5)),
                wal_segment_size: 64 * 1024,
                ..Options::default()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut refs = vec![0u64; 50];
                for step in 0..200i64 {
                    let mut app = db.appender();
                    for (s, r) in refs.iter_mut().enumerate() {
                        let l = ls(&[("__name__", "m"), ("w", &w.to_string()), ("s", &s.to_string())]);
                        *r = app.append(*r, &l, step * 1000, step as f64).unwrap();
                    }
                    app.commit().unwrap();
                    if step % 50 == 0 {
                        let _ = dump(db.as_ref(), 0, i64::MAX, &[Matcher::equal("w", "0")]);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let st = db.stats();
    assert_eq!((st.num_series, st.samples_appended), (200, 200 * 200));
    assert!(st.wal_segments > 1);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    let got = dump(&db, 0, i64::MAX, &[]);
    assert_eq!(got.len(), 200);
    assert!(got.iter().all(|(_, s)| s.len() == 200));
}

#[test]
fn a_data_directory_is_opened_once() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    assert!(matches!(
        Db::open(tmp.path(), Options::default()),
        Err(diamond_tsdb::Error::Locked { .. })
    ));
    drop(db);
    open(tmp.path());
}

#[test]
fn extreme_timestamps_and_special_values_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let a = ls(&[("__name__", "x")]);
    let b = ls(&[("__name__", "y")]);
    let want_a = [
        (i64::MIN + 1, f64::NAN),
        (-1, diamond_model::STALE_NAN),
        (0, f64::INFINITY),
    ];
    {
        let db = open(tmp.path());
        let mut app = db.appender();
        for &(t, v) in &want_a {
            app.append(0, &a, t, v).unwrap();
        }
        app.append(0, &b, i64::MAX, -0.0).unwrap();
        app.commit().unwrap();
        let mut app = db.appender();
        assert_eq!(app.append(0, &b, i64::MIN, 1.0), Err(AppendError::OutOfBounds));
    }
    let db = open(tmp.path());
    let got = dump(&db, i64::MIN, i64::MAX, &[]);
    let bits = |v: &[(i64, f64)]| v.iter().map(|&(t, x)| (t, x.to_bits())).collect::<Vec<_>>();
    assert_eq!(got[0].1, bits(&want_a));
    assert_eq!(got[1].1, bits(&[(i64::MAX, -0.0)]));
    assert!(dump(&db, 5, 1, &[]).is_empty(), "an empty range");
    assert_eq!(db.stats().max_time, Some(i64::MAX));
}

/// Issue 6: an exemplar whose trace label holds no trace ID is stored as ingested and counted once, at
/// commit; re-exposed duplicates and good IDs in any format are not counted.
#[test]
fn unparsable_trace_ids_counted_once_per_stored_exemplar() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let a = ls(&[("__name__", "req_total")]);
    let ex = |name: &str, trace: &str, ts| Exemplar {
        labels: ls(&[(name, trace)]),
        value: 1.0,
        ts,
        has_ts: true,
    };
    let count = |db: &Db, name: &str| {
        db.trace_id_stats()
            .unparsable()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, c)| c)
    };
    let mut app = db.appender();
    let r = app.append(0, &a, 1000, 1.0).unwrap();
    app.append_exemplar(r, &a, &ex("traceID", "not-a-trace", 1000)).unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    // The same exemplar again (a scrape re-exposing it) is a duplicate: not stored, not counted.
    app.append_exemplar(r, &a, &ex("traceID", "not-a-trace", 1000)).unwrap();
    app.append_exemplar(r, &a, &ex("trace_id", "4BF92F35-77B3-4DA6-A3CE-929D0E0E4736", 2000))
        .unwrap();
    app.append_exemplar(r, &a, &ex("trace_id", "<script>", 3000)).unwrap();
    app.commit().unwrap();
    assert_eq!(count(&db, "traceID"), 1);
    assert_eq!(count(&db, "trace_id"), 1);
    // Stored exactly as ingested.
    let sets = vec![vec![Matcher::equal("__name__", "req_total")]];
    let got = db.exemplars().select(0, 5000, &sets);
    assert_eq!(got[0].exemplars[0].labels.get("traceID"), Some("not-a-trace"));
    assert_eq!(got[0].exemplars[2].labels.get("trace_id"), Some("<script>"));
}

/// `Options::exemplar_seal_age_ms` (`storage.exemplars.seal_after`) decides which windows a flush moves
/// out of memory into sealed segments: with one minute, half an hour of exemplars is sealed at close;
/// with the one-hour default and with 0 (never) nothing is; in every case all of them read back.
#[test]
fn exemplar_seal_age_decides_what_leaves_memory() {
    let sets = vec![vec![Matcher::equal("__name__", "req_total")]];
    for (seal_ms, want_segments) in [
        (60_000, true),
        (diamond_exemplars::DEFAULT_SEAL_AGE_MS, false),
        (0, false),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let opts = || Options {
            exemplar_seal_age_ms: seal_ms,
            compaction_interval: None,
            ..Options::default()
        };
        let a = ls(&[("__name__", "req_total")]);
        {
            let db = Db::open(tmp.path(), opts()).unwrap();
            for m in 0..30i64 {
                let mut app = db.appender();
                let r = app.append(0, &a, m * 60_000, m as f64).unwrap();
                let ex = Exemplar {
                    labels: ls(&[("trace_id", &format!("{m:032x}"))]),
                    value: m as f64,
                    ts: m * 60_000,
                    has_ts: true,
                };
                app.append_exemplar(r, &a, &ex).unwrap();
                app.commit().unwrap();
            }
            db.close().unwrap();
        }
        let segments = std::fs::read_dir(tmp.path().join("exemplars"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".dxs"))
            .count();
        assert_eq!(
            segments > 0,
            want_segments,
            "seal age {seal_ms} ms: {segments} segments"
        );
        let db = Db::open(tmp.path(), opts()).unwrap();
        let got = db.exemplars().select(0, 30 * 60_000, &sets);
        assert_eq!(got[0].exemplars.len(), 30, "seal age {seal_ms} ms");
    }
}

/// A select over thousands of series is snapshotted in parallel runs; it must still answer in creation
/// order (Prometheus's head postings order, which `limitk` and friends see), skip series without samples
/// in range, and give each series its own labels and samples.
#[test]
fn large_unsorted_select_keeps_creation_order() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let n = 5000usize;
    let mut app = db.appender();
    // Created in an order unrelated to label order; every 7th series only has a sample outside the range.
    for i in 0..n {
        let id = (i * 7919) % n;
        let l = ls(&[("__name__", "x"), ("id", &format!("{id:05}"))]);
        let t = if i % 7 == 3 { 100_000 } else { 1000 + i as i64 };
        app.append(0, &l, t, id as f64).unwrap();
    }
    app.commit().unwrap();
    let q = db.querier(0, 50_000).unwrap();
    let got = q.select_unsorted(&[Matcher::equal("__name__", "x")]).unwrap();
    let want: Vec<String> = (0..n)
        .filter(|i| i % 7 != 3)
        .map(|i| format!("{:05}", (i * 7919) % n))
        .collect();
    let ids: Vec<&str> = got.iter().map(|s| s.labels.get("id").unwrap()).collect();
    assert_eq!(ids, want);
    for s in &got {
        let mut it = s.data.iter(0, 50_000);
        let (_, v) = it.next().unwrap();
        assert_eq!(v, s.labels.get("id").unwrap().parse::<f64>().unwrap());
        assert!(it.next().is_none());
    }
}
