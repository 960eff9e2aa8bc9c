//! Engine behaviour the promqltest corpus does not cover: limits, cancellation, error kinds, result shapes.

use std::time::Duration;

use diamond_model::Labels;
use diamond_model::storage::memory::MemStorage;

use super::*;

fn db() -> MemStorage {
    let db = MemStorage::new();
    for (job, inst) in [("a", "1"), ("a", "2"), ("b", "1")] {
        let l = Labels::from_pairs(&[("__name__", "reqs"), ("job", job), ("instance", inst)]);
        let pts: Vec<(i64, f64)> = (0..100).map(|k| (k * 15_000, k as f64)).collect();
        db.add(l, &pts);
    }
    db
}

fn engine() -> Engine {
    Engine::new(EngineOptions::default())
}

#[test]
fn max_samples_is_an_execution_error() {
    let e = Engine::new(EngineOptions {
        max_samples: 10,
        ..EngineOptions::default()
    });
    let err = e
        .instant_query(&db(), "sum_over_time(reqs[10m])", 900_000, &CancelToken::new())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    assert_eq!(
        err.message,
        "query processing would load too many samples into memory in query execution"
    );
}

#[test]
fn timeout_and_cancel() {
    let e = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    std::thread::sleep(Duration::from_millis(2));
    let err = e.instant_query(&db(), "reqs", 0, &CancelToken::new()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(err.message.starts_with("query timed out in "), "{}", err.message);

    let c = CancelToken::new();
    c.cancel();
    let err = engine()
        .range_query(&db(), "rate(reqs[1m])", 0, 600_000, 15_000, &c)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Canceled);
}

#[test]
fn parse_and_type_errors_are_bad_data() {
    let err = engine()
        .instant_query(&db(), "sum(", 0, &CancelToken::new())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadData);
    assert!(err.message.contains("parse error"), "{}", err.message);
    let err = engine()
        .range_query(&db(), "reqs[5m]", 0, 60_000, 15_000, &CancelToken::new())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadData);
    let err = engine()
        .range_query(&db(), "reqs", 0, 60_000, 0, &CancelToken::new())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadData);
}

#[test]
fn experimental_functions_are_gated() {
    let err = engine()
        .instant_query(&db(), "limitk(1, reqs)", 0, &CancelToken::new())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadData);
    let on = Engine::new(EngineOptions {
        enable_features: vec![EXPERIMENTAL_FUNCTIONS.to_owned()],
        ..EngineOptions::default()
    });
    let r = on
        .instant_query(&db(), "limitk(1, reqs)", 0, &CancelToken::new())
        .unwrap();
    let Value::Vector(v) = r.value else {
        panic!("vector expected")
    };
    assert_eq!(v.len(), 1);
}

#[test]
fn many_to_many_is_an_execution_error() {
    let err = engine()
        .instant_query(&db(), "reqs + on(job) reqs", 60_000, &CancelToken::new())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    assert!(
        err.message.contains("many-to-many matching not allowed"),
        "{}",
        err.message
    );
}

#[test]
fn rate_of_non_counter_name_gives_info() {
    let r = engine()
        .instant_query(&db(), "rate(reqs[1m])", 600_000, &CancelToken::new())
        .unwrap();
    assert_eq!(
        r.infos,
        vec![
            r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "reqs" (1:6)"#
        ]
    );
    let Value::Vector(v) = r.value else {
        panic!("vector expected")
    };
    assert_eq!(v.len(), 3);
    assert!(
        v.iter()
            .all(|s| (s.v - 1.0 / 15.0).abs() < 1e-9 && s.labels.metric_name().is_none())
    );
}

/// Annotations end in the ` (line:col)` of the argument or parameter they are about, as Prometheus 3.5's
/// API prints them (each expected text was read off the reference binary for the same query shape).
#[test]
fn annotations_carry_the_position_of_their_argument() {
    let db = db();
    for i in 0..3 {
        let l = Labels::from_pairs(&[("__name__", "lat_bucket"), ("le", ["0.1", "1", "+Inf"][i])]);
        let pts: Vec<(i64, f64)> = (0..100).map(|k| (k * 15_000, (k * (i as i64 + 1)) as f64)).collect();
        db.add(l, &pts);
    }
    let q = |e: &str| engine().instant_query(&db, e, 600_000, &CancelToken::new()).unwrap();
    let info = |m: &str, pos: &str| {
        format!(
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"{m}\" ({pos})"
        )
    };
    assert_eq!(q("\n  rate(reqs[1m])").infos, vec![info("reqs", "2:8")]);
    assert_eq!(q("sum(rate(reqs[1m]))").infos, vec![info("reqs", "1:10")]);
    // Two calls: each annotation at its own call's argument.
    assert_eq!(
        q("rate(lat_bucket[1m]) + on() group_left sum(increase(reqs[1m]))").infos,
        vec![info("reqs", "1:53")]
    );
    assert_eq!(
        q("quantile(2, reqs)").warnings,
        vec!["PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)"]
    );
    assert_eq!(
        q("quantile(0.5, reqs) or quantile(-1, reqs)").warnings,
        vec!["PromQL warning: quantile value should be between 0 and 1, got -1 (1:33)"]
    );
    assert_eq!(
        q("histogram_quantile(1.5, rate(lat_bucket[1m]))").warnings,
        vec!["PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:20)"]
    );
    assert_eq!(
        q("quantile_over_time(7, reqs[1m])").warnings,
        vec!["PromQL warning: quantile value should be between 0 and 1, got 7 (1:20)"]
    );
    assert_eq!(
        q(r#"histogram_quantile(0.5, label_replace(reqs, "le", "x", "", ""))"#).warnings,
        vec![
            r#"PromQL warning: bucket label "le" is missing or has a malformed value of "x" for metric name "reqs" (1:25)"#
        ]
    );
}

#[test]
fn range_query_is_sorted_matrix_with_steps() {
    let r = engine()
        .range_query(&db(), "sum by (job) (reqs)", 0, 60_000, 30_000, &CancelToken::new())
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].labels, Labels::from_pairs(&[("job", "a")]));
    assert_eq!(m[0].samples, vec![(0, 0.0), (30_000, 4.0), (60_000, 8.0)]);
    assert_eq!(m[1].samples, vec![(0, 0.0), (30_000, 2.0), (60_000, 4.0)]);
}

#[test]
fn hostile_queries_do_not_panic() {
    let q = [
        "reqs[1y:1ms]",
        "topk(1e300, reqs)",
        "topk(NaN, reqs)",
        "quantile(-5, reqs)",
        "histogram_quantile(0.5, reqs)",
        "label_replace(reqs, \"a\", \"$99\", \"job\", \"(.*)\")",
        "predict_linear(reqs[5m], Inf)",
        "reqs offset -1000000000000h",
        "reqs @ 9999999999",
        "1 / 0 % 0 ^ -1",
        "count_values(\"\", reqs)",
        "round(reqs, 0)",
        "absent(nonexistent{a=\"b\",a=\"c\"})",
    ];
    let e = Engine::new(EngineOptions {
        max_samples: 100_000,
        ..EngineOptions::default()
    });
    for q in q {
        let _ = e.instant_query(&db(), q, 600_000, &CancelToken::new());
        let _ = e.range_query(&db(), q, 0, 600_000, 60_000, &CancelToken::new());
    }
}

mod random_queries {
    //! Random well-formed queries (built from PromQL's grammar, with hostile constants) must evaluate to a
    //! result or an error, never a panic.

    use proptest::prelude::*;

    use super::*;

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("reqs".to_owned()),
            Just(r#"reqs{job="a"}"#.to_owned()),
            Just(r#"{__name__=~"r.*", instance!="2"}"#.to_owned()),
            Just("nope".to_owned()),
            Just("reqs offset 1m".to_owned()),
            Just("reqs @ 60".to_owned()),
            Just("reqs @ end()".to_owned()),
            prop::sample::select(vec!["0", "1", "-1", "0.5", "NaN", "Inf", "-Inf", "1e308", "-0"])
                .prop_map(str::to_owned),
            (
                prop::sample::select(vec![
                    "rate",
                    "irate",
                    "increase",
                    "delta",
                    "idelta",
                    "deriv",
                    "changes",
                    "resets",
                    "avg_over_time",
                    "sum_over_time",
                    "min_over_time",
                    "max_over_time",
                    "stddev_over_time",
                    "last_over_time",
                    "present_over_time",
                    "count_over_time",
                    "absent_over_time",
                ]),
                prop::sample::select(vec!["[1m]", "[5m]", "[1h]", "[1ms]", "[5m] offset 2m", "[2m] @ 120"]),
            )
                .prop_map(|(f, r)| format!("{f}(reqs{r})")),
        ]
    }

    fn expr() -> impl Strategy<Value = String> {
        leaf().prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                (
                    inner.clone(),
                    prop::sample::select(vec![
                        "+",
                        "-",
                        "*",
                        "/",
                        "%",
                        "^",
                        "atan2",
                        "== bool",
                        "> bool",
                        "<",
                        "and",
                        "or",
                        "unless",
                        "+ on(job)",
                        "* ignoring(instance)",
                        "/ on(job) group_left",
                        "- on(instance) group_right(job)",
                    ]),
                    inner.clone(),
                )
                    .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
                (
                    prop::sample::select(vec![
                        "sum",
                        "avg",
                        "min",
                        "max",
                        "count",
                        "group",
                        "stddev",
                        "stdvar",
                        "sum by (job)",
                        "max without (instance)",
                        "count by (__name__)",
                    ]),
                    inner.clone(),
                )
                    .prop_map(|(a, e)| format!("{a} ({e})")),
                (
                    prop::sample::select(vec!["topk", "bottomk", "quantile", "limitk", "limit_ratio"]),
                    prop::sample::select(vec!["1", "2", "0.5", "-1", "NaN", "1e19", "Inf"]),
                    inner.clone(),
                )
                    .prop_map(|(a, p, e)| format!("{a}({p}, {e})")),
                (
                    prop::sample::select(vec![
                        "abs",
                        "ceil",
                        "exp",
                        "ln",
                        "sqrt",
                        "sgn",
                        "timestamp",
                        "sort",
                        "sort_desc",
                        "absent",
                        "hour",
                        "year",
                        "deg",
                        "-",
                    ]),
                    inner.clone(),
                )
                    .prop_map(|(f, e)| format!("{f}({e})")),
                (
                    inner.clone(),
                    prop::sample::select(vec!["[5m:1m]", "[10m:]", "[1h:7m] offset 3m", "[3m:1ms]"])
                )
                    .prop_map(|(e, s)| format!("max_over_time(({e}){s})")),
                inner
                    .clone()
                    .prop_map(|e| format!(r#"label_replace({e}, "dst", "$1-$9", "job", "(.*)")"#)),
                inner.clone().prop_map(|e| format!("histogram_quantile(0.9, {e})")),
                inner.clone().prop_map(|e| format!("clamp({e}, 1, -1)")),
                inner.prop_map(|e| format!("predict_linear(({e})[5m:1m], 60)")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn never_panics(q in expr()) {
            let e = Engine::new(EngineOptions {
                max_samples: 200_000,
                timeout: Duration::from_secs(5),
                enable_features: vec![EXPERIMENTAL_FUNCTIONS.to_owned()],
                ..EngineOptions::default()
            });
            let db = db();
            let _ = e.instant_query(&db, &q, 600_000, &CancelToken::new());
            let _ = e.range_query(&db, &q, 0, 1_200_000, 60_000, &CancelToken::new());
        }
    }
}

#[test]
fn huge_step_counts_fail_before_allocating() {
    let e = engine();
    let err = e
        .range_query(&db(), "vector(1)", 0, i64::MAX / 2, 1, &CancelToken::new())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    let err = e
        .instant_query(&db(), "max_over_time(vector(1)[100y:1ms])", 0, &CancelToken::new())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
}

#[test]
fn deep_queries_are_refused_or_evaluated_without_overflow() {
    // Runs on a 1 MiB stack, smaller than any server thread: neither parsing nor evaluation may recurse on
    // the caller's stack.
    let r = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let e = engine();
            let ok = vec!["reqs"; 600].join(" + ");
            assert!(e.instant_query(&db(), &ok, 60_000, &CancelToken::new()).is_ok());
            let deep = vec!["reqs"; 5000].join(" + ");
            let err = e.instant_query(&db(), &deep, 60_000, &CancelToken::new()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadData);
            let parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
            assert!(crate::parse(&parens).is_err());
            let minus = format!("{}1", "-".repeat(100_000));
            assert!(crate::parse(&minus).is_err());
            // Right at the text limits: parsed on the deep stack, then refused by the AST depth check.
            let at_limit = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
            assert!(crate::parse(&at_limit).is_err());
            let chain = vec!["1"; 4000].join(" + ");
            assert!(crate::parse(&chain).is_err());
            let fine = format!("{}reqs{}", "(".repeat(900), ")".repeat(900));
            assert!(e.instant_query(&db(), &fine, 60_000, &CancelToken::new()).is_ok());
        })
        .expect("test thread starts")
        .join();
    assert!(r.is_ok());
}

/// limit_ratio must pick the same series as Prometheus, which samples by its label-set hash. The expected
/// instances were observed on the reference Prometheus 3.5 server (experimental functions enabled) with
/// the same 20 series.
#[test]
fn limit_ratio_selects_like_prometheus() {
    let db = MemStorage::new();
    for i in 0..20 {
        let l = Labels::from_pairs(&[
            ("__name__", "rq_total".to_owned()),
            ("job", format!("j{}", i % 3)),
            ("instance", format!("i{i}")),
        ]);
        db.add(l, &[(0, 1.0)]);
    }
    let e = Engine::new(EngineOptions {
        enable_features: vec![EXPERIMENTAL_FUNCTIONS.to_owned()],
        ..EngineOptions::default()
    });
    let cases: [(&str, &[&str]); 4] = [
        ("0.3", &["i1", "i15", "i16", "i17", "i18", "i3"]),
        ("0.5", &["i1", "i15", "i16", "i17", "i18", "i2", "i3", "i6"]),
        (
            "-0.5",
            &[
                "i0", "i10", "i11", "i12", "i13", "i14", "i19", "i4", "i5", "i7", "i8", "i9",
            ],
        ),
        (
            "0.9",
            &[
                "i1", "i10", "i13", "i14", "i15", "i16", "i17", "i18", "i19", "i2", "i3", "i4", "i5", "i6", "i7", "i8",
                "i9",
            ],
        ),
    ];
    for (ratio, want) in cases {
        let r = e
            .instant_query(
                &db,
                &format!("limit_ratio({ratio}, rq_total)"),
                10_000,
                &CancelToken::new(),
            )
            .unwrap();
        let Value::Vector(v) = r.value else {
            panic!("vector expected")
        };
        let mut got: Vec<&str> = v.iter().filter_map(|s| s.labels.get("instance")).collect();
        got.sort_unstable();
        assert_eq!(got, want, "limit_ratio({ratio})");
    }
}

mod decode_once {
    //! Each series is decoded once per query, however many selectors read it, through one querier.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use diamond_model::Matcher;
    use diamond_model::storage::{Querier, Queryable, ReadError, SampleIter, Series, SeriesData};

    use super::*;

    #[derive(Default)]
    struct Counts {
        queriers: AtomicUsize,
        iters: AtomicUsize,
    }

    struct Counting {
        inner: MemStorage,
        counts: Arc<Counts>,
    }

    struct CountingQuerier {
        inner: Box<dyn Querier>,
        counts: Arc<Counts>,
    }

    struct CountingData {
        inner: Arc<dyn SeriesData>,
        counts: Arc<Counts>,
    }

    impl Queryable for Counting {
        fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, ReadError> {
            self.counts.queriers.fetch_add(1, Ordering::Relaxed);
            Ok(Box::new(CountingQuerier {
                inner: self.inner.querier(mint, maxt)?,
                counts: Arc::clone(&self.counts),
            }))
        }
    }

    impl Querier for CountingQuerier {
        fn select(&self, m: &[Matcher]) -> Result<Vec<Series>, ReadError> {
            Ok(self
                .inner
                .select(m)?
                .into_iter()
                .map(|s| Series {
                    labels: s.labels,
                    data: Arc::new(CountingData {
                        inner: s.data,
                        counts: Arc::clone(&self.counts),
                    }),
                })
                .collect())
        }
        fn label_names(&self, m: &[Matcher]) -> Result<Vec<String>, ReadError> {
            self.inner.label_names(m)
        }
        fn label_values(&self, n: &str, m: &[Matcher]) -> Result<Vec<String>, ReadError> {
            self.inner.label_values(n, m)
        }
    }

    impl SeriesData for CountingData {
        fn iter(&self, mint: i64, maxt: i64) -> Box<dyn SampleIter + '_> {
            self.counts.iters.fetch_add(1, Ordering::Relaxed);
            self.inner.iter(mint, maxt)
        }
    }

    #[test]
    fn one_querier_one_decode_per_series() {
        let counts = Arc::new(Counts::default());
        let q = Counting {
            inner: db(),
            counts: Arc::clone(&counts),
        };
        let expr =
            "rate(reqs[5m]) / rate(reqs[5m] offset 2m) + reqs + max_over_time(reqs{job=\"a\"}[10m:1m] offset 1m)";
        let r = engine()
            .range_query(&q, expr, 600_000, 1_200_000, 60_000, &CancelToken::new())
            .unwrap();
        let Value::Matrix(m) = r.value else {
            panic!("matrix expected")
        };
        assert!(!m.is_empty());
        assert_eq!(counts.queriers.load(Ordering::Relaxed), 1);
        // Three series, each decoded once although four selectors read them.
        assert_eq!(counts.iters.load(Ordering::Relaxed), 3);
        assert_eq!(r.stats.series_loaded, 3);
    }
}

/// Removing names at a single step (instant queries take a path of their own) refuses label sets that
/// become equal, and only those, in instant and range queries alike.
#[test]
fn name_removal_duplicates_instant_and_range() {
    let db = MemStorage::new();
    let pts: Vec<(i64, f64)> = (0..40).map(|k| (k * 15_000, k as f64)).collect();
    for name in ["a_total", "b_total"] {
        db.add(Labels::from_pairs(&[("__name__", name), ("job", "x")]), &pts);
    }
    db.add(Labels::from_pairs(&[("__name__", "a_total"), ("job", "y")]), &pts);
    let e = engine();
    let c = CancelToken::new();
    let dup = r#"rate({__name__=~"a_total|b_total"}[1m])"#;
    let err = e.instant_query(&db, dup, 300_000, &c).unwrap_err();
    assert_eq!(err.message, "vector cannot contain metrics with the same labelset");
    let err = e.range_query(&db, dup, 240_000, 300_000, 30_000, &c).unwrap_err();
    assert_eq!(err.message, "vector cannot contain metrics with the same labelset");
    let ok = r#"rate({__name__=~"a_total|b_total", job="y"}[1m]) or rate(b_total[1m])"#;
    let r = e.instant_query(&db, ok, 300_000, &c).unwrap();
    let Value::Vector(v) = r.value else { panic!("{r:?}") };
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|s| s.labels.get("__name__").is_none()));
}

/// Selectors over more series than one decode batch go through the parallel decoder (several batches,
/// split over rayon's pool) and through the decoded-series cache when two selectors share series; every
/// series must still get its own samples and each be decoded once.
#[test]
fn parallel_decode_gives_each_series_its_own_samples() {
    let db = MemStorage::new();
    let n = 2 * super::selector::DECODE_BATCH + 300;
    for i in 0..n {
        let l = Labels::from_pairs(&[("__name__", "x"), ("i", &i.to_string())]);
        // Series i: value i * 1000 + k at k * 15 s; every series has its own values.
        let pts: Vec<(i64, f64)> = (0..40).map(|k| (k * 15_000, (i * 1000) as f64 + k as f64)).collect();
        db.add(l, &pts);
    }
    let at = 300_000; // k = 20
    type Want = fn(f64) -> f64;
    let cases: [(&str, Want); 3] = [
        ("x", |i| i * 1000.0 + 20.0),
        ("x - x offset 1m", |_| 4.0),
        ("sum_over_time(x[1m])", |i| {
            4.0 * i * 1000.0 + f64::from(17 + 18 + 19 + 20)
        }),
    ];
    for (expr, want) in cases {
        let r = engine().instant_query(&db, expr, at, &CancelToken::new()).unwrap();
        let Value::Vector(v) = r.value else {
            panic!("vector expected")
        };
        assert_eq!(v.len(), n, "{expr}");
        for s in &v {
            let i: f64 = s.labels.get("i").unwrap().parse().unwrap();
            assert_eq!(s.v, want(i), "{expr} for series {i}");
        }
        assert_eq!(r.stats.series_loaded, n, "{expr}: each series decoded once");
    }
}

/// `group_left` results that come out equal are an error, at one step (results not interned, checked by
/// label hash) as at many (interned, checked by address); different results sharing a signature are not.
#[test]
fn group_left_duplicate_results_are_refused_at_one_step_and_many() {
    let db = MemStorage::new();
    let pts: Vec<(i64, f64)> = (0..40).map(|k| (k * 15_000, k as f64)).collect();
    for y in ["1", "2"] {
        db.add(Labels::from_pairs(&[("__name__", "a"), ("x", "1"), ("y", y)]), &pts);
    }
    db.add(Labels::from_pairs(&[("__name__", "b"), ("x", "1"), ("y", "9")]), &pts);
    db.add(Labels::from_pairs(&[("__name__", "c"), ("x", "1"), ("z", "9")]), &pts);
    let c = CancelToken::new();
    let want = "multiple matches for labels: grouping labels must ensure unique matches";
    // b's y overwrites both a series' y: two equal results.
    let bad = "a * on (x) group_left (y) b";
    let err = engine().instant_query(&db, bad, 300_000, &c).unwrap_err();
    assert_eq!((err.kind, err.message.as_str()), (ErrorKind::Execution, want));
    let err = engine().range_query(&db, bad, 0, 300_000, 15_000, &c).unwrap_err();
    assert_eq!((err.kind, err.message.as_str()), (ErrorKind::Execution, want));
    // c has no y: the results keep a's y and differ.
    let ok = "a * on (x) group_left (z) c";
    let r = engine().instant_query(&db, ok, 300_000, &c).unwrap();
    let Value::Vector(v) = r.value else {
        panic!("vector expected")
    };
    assert_eq!(v.len(), 2);
    assert!(engine().range_query(&db, ok, 0, 300_000, 15_000, &c).is_ok());
}

/// A range query whose root is a function over a range hands its value over series by series (batched
/// and in parallel past `functions::PARALLEL_MIN` series); the same function under `label_replace` (a
/// no-op here) goes through the step-by-step path. Both must give the same matrix, bit for bit, over
/// series with gaps, resets, NaN, a non-counter name, and the sample limit.
/// A range query's matrix with each value as its bits, for exact comparison.
fn matrix_bits(v: &Value) -> Vec<(Labels, Vec<(i64, u64)>)> {
    match v {
        Value::Matrix(m) => m
            .iter()
            .map(|s| {
                let pts: Vec<(i64, u64)> = s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
                (s.labels.clone(), pts)
            })
            .collect(),
        other => panic!("matrix expected, got {other:?}"),
    }
}

/// Series `i` of the by-series and fold tests: series start and stop at different times, some reset,
/// some have gaps, some hold a NaN.
fn varied_points(i: i64) -> Vec<(i64, f64)> {
    let (first, last) = (i % 13, 80 - i % 11);
    (first..last)
        .filter(|k| i % 5 != 0 || k % 9 != 4)
        .map(|k| {
            let v = if i % 17 == 3 && k == 30 {
                f64::NAN
            } else if i % 3 == 0 {
                ((k * (i + 1)) % 50) as f64
            } else {
                (k * k + i) as f64 * 0.5
            };
            (k * 15_000, v)
        })
        .collect()
}

#[test]
fn root_functions_by_series_match_the_step_path() {
    let db = MemStorage::new();
    for i in 0..700i64 {
        let name = if i % 2 == 0 { "y" } else { "x_total" };
        let l = Labels::from_pairs(&[("__name__", name), ("i", &i.to_string())]);
        db.add(l, &varied_points(i));
    }
    let e = Engine::new(EngineOptions {
        enable_features: vec![EXPERIMENTAL_FUNCTIONS.to_owned()],
        ..EngineOptions::default()
    });
    let c = CancelToken::new();
    let funcs = [
        "rate(x_total[2m])",
        "rate({__name__=~\"x_total|y\"}[2m])",
        "increase(x_total[2m])",
        "delta(y[3m])",
        "irate(x_total[1m])",
        "idelta(y[1m])",
        "deriv(x_total[2m])",
        "predict_linear(x_total[2m], 60)",
        "avg_over_time(x_total[2m])",
        "sum_over_time(y[2m])",
        "count_over_time(x_total[1m])",
        "min_over_time(x_total[2m])",
        "max_over_time(x_total[2m])",
        "last_over_time(x_total[2m])",
        "first_over_time(x_total[2m])",
        "present_over_time(y[1m])",
        "stddev_over_time(x_total[2m])",
        "stdvar_over_time(x_total[2m])",
        "quantile_over_time(0.9, x_total[2m])",
        "quantile_over_time(2, x_total[2m])",
        "mad_over_time(x_total[2m])",
        "changes(x_total[3m])",
        "resets(x_total[3m])",
        "double_exponential_smoothing(x_total[3m], 0.5, 0.3)",
        "ts_of_max_over_time(x_total[2m])",
        "rate(x_total[2m] offset 1m)",
        "max_over_time(rate(x_total[1m])[3m:30s])",
    ];
    let bits = matrix_bits;
    for f in funcs {
        let by_step = format!(r#"label_replace({f}, "zz", "", "nope", "")"#);
        let a = e.range_query(&db, f, 0, 1_200_000, 15_000, &c).unwrap();
        let b = e.range_query(&db, &by_step, 0, 1_200_000, 15_000, &c).unwrap();
        let (va, vb) = (bits(&a.value), bits(&b.value));
        assert!(va.len() > 300, "{f}: {} series", va.len());
        assert_eq!(va.len(), vb.len(), "{f}: series");
        if let Some(k) = (0..va.len()).find(|&k| va[k] != vb[k]) {
            panic!("{f}: series {k} differs: {:?} vs {:?}", va[k].0, vb[k].0);
        }
        let strip = |w: &[String]| {
            w.iter()
                .map(|m| m.split(" (1:").next().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&a.warnings), strip(&b.warnings), "{f}");
        assert_eq!(a.infos.len(), b.infos.len(), "{f}: {:?} vs {:?}", a.infos, b.infos);
    }
    // The sample limit refuses the value computed series by series exactly above its peak.
    let peak = e
        .counting_queryable_samples()
        .range_query(&db, "rate(x_total[2m])", 0, 1_200_000, 15_000, &c)
        .unwrap()
        .stats
        .peak_samples;
    for (max_samples, ok) in [(peak, true), (peak - 1, false)] {
        let e = Engine::new(EngineOptions {
            max_samples,
            ..EngineOptions::default()
        });
        let r = e.range_query(&db, "rate(x_total[2m])", 0, 1_200_000, 15_000, &c);
        assert_eq!(r.is_ok(), ok, "max_samples {max_samples}");
    }
}

/// Past `eval::PARALLEL_STEP` samples in a step, removing names and the duplicate check run on the pool:
/// a collision among thousands of series (two names, the same other labels) is still found, in the
/// inner check (a binary operation) and in the final one (the result), and distinct sets pass.
#[test]
fn duplicate_labelsets_are_found_in_large_steps() {
    let db = MemStorage::new();
    let n = 5000i64;
    for i in 0..n {
        let pts: Vec<(i64, f64)> = (0..30).map(|k| (k * 15_000, (k * (i + 1)) as f64)).collect();
        db.add(
            Labels::from_pairs(&[("__name__", "a_total"), ("i", &i.to_string())]),
            &pts,
        );
        // b shares one label set with a (i = 4321 after the name goes), the others are apart.
        let j = if i == 4321 { i.to_string() } else { format!("b{i}") };
        db.add(Labels::from_pairs(&[("__name__", "b_total"), ("i", &j)]), &pts);
    }
    let c = CancelToken::new();
    let want = "vector cannot contain metrics with the same labelset";
    for bad in [
        "rate({__name__=~\"a_total|b_total\"}[2m])",
        "rate({__name__=~\"a_total|b_total\"}[2m]) * 2",
    ] {
        let err = engine().instant_query(&db, bad, 300_000, &c).unwrap_err();
        assert_eq!((err.kind, err.message.as_str()), (ErrorKind::Execution, want), "{bad}");
    }
    for ok in [
        "rate(a_total[2m])",
        "rate(a_total[2m]) * 2",
        "rate({__name__=~\"a_total|b_total\", i!=\"4321\"}[2m])",
    ] {
        let r = engine().instant_query(&db, ok, 300_000, &c).unwrap();
        let Value::Vector(v) = r.value else {
            panic!("vector expected")
        };
        let want = if ok.contains("b_total") {
            2 * n as usize - 2
        } else {
            n as usize
        };
        assert_eq!(v.len(), want, "{ok}");
    }
}

/// A one-step match with more than `binary::PARALLEL_MANY` samples on the "many" side runs on the pool; a
/// two-step range query takes the serial path (signatures remembered per series). At the last step both
/// must give the same series, values and errors, for group_left/right, one-to-one, filters and `bool`.
#[test]
fn large_one_step_matches_equal_the_serial_path() {
    let db = MemStorage::new();
    for i in 0..3000i64 {
        let pts: Vec<(i64, f64)> = (0..30).map(|k| (k * 15_000, ((k + 1) * (i % 37)) as f64)).collect();
        let inst = (i % 100).to_string();
        db.add(
            Labels::from_pairs(&[("__name__", "a_total"), ("i", &i.to_string()), ("instance", &inst)]),
            &pts,
        );
        db.add(
            Labels::from_pairs(&[("__name__", "c"), ("i", &i.to_string()), ("k", "x")]),
            &pts,
        );
        // Two series share i = 7 in d: many-to-one on (i) fails.
        let j = if i == 8 { "7".to_string() } else { i.to_string() };
        db.add(
            Labels::from_pairs(&[("__name__", "d"), ("i", &j), ("n", &i.to_string())]),
            &pts,
        );
    }
    for i in 0..100i64 {
        let pts: Vec<(i64, f64)> = (0..30).map(|k| (k * 15_000, (i % 7) as f64)).collect();
        db.add(
            Labels::from_pairs(&[
                ("__name__", "info"),
                ("instance", &i.to_string()),
                ("version", &format!("v{}", i % 3)),
            ]),
            &pts,
        );
    }
    let c = CancelToken::new();
    let t = 300_000;
    for q in [
        "a_total * on (instance) group_left (version) info",
        "info * on (instance) group_right (version) a_total",
        "a_total > on (instance) group_left info",
        "a_total > bool on (instance) group_left (version) info",
        "a_total - on (i) c",
        "a_total >= ignoring (instance, k) c",
        "a_total == bool on (i) c",
        "a_total / on (instance) group_left (version) (info > 2)",
        "c * on (i) d",
        "d * on (i) c",
        "d - on (i) group_left c",
        "c * on (i) group_left d",
        "a_total * on (instance) info",
    ] {
        let inst = engine().instant_query(&db, q, t, &c);
        let range = engine().range_query(&db, q, t - 15_000, t, 15_000, &c);
        match (inst, range) {
            (Ok(i), Ok(r)) => {
                let Value::Vector(mut v) = i.value else {
                    panic!("vector expected: {q}")
                };
                let Value::Matrix(m) = r.value else {
                    panic!("matrix expected: {q}")
                };
                let mut want: Vec<(Labels, u64)> = m
                    .into_iter()
                    .filter_map(|s| {
                        s.samples
                            .iter()
                            .find(|p| p.0 == t)
                            .map(|p| (s.labels.clone(), p.1.to_bits()))
                    })
                    .collect();
                want.sort();
                v.sort_by(|a, b| a.labels.cmp(&b.labels));
                let got: Vec<(Labels, u64)> = v.into_iter().map(|s| (s.labels, s.v.to_bits())).collect();
                assert!(got.len() > 50 || q.contains("> on"), "{q}: {} series", got.len());
                assert_eq!(got, want, "{q}");
            }
            (Err(a), Err(b)) => assert_eq!((a.kind, a.message), (b.kind, b.message), "{q}"),
            (a, b) => panic!("{q}: instant {:?} against range {:?}", a.map(|_| ()), b.map(|_| ())),
        }
    }
}

/// An aggregation of a range query folds its function's values as they are computed
/// (`aggregate::fused`); in parentheses it takes the step-by-step path. Both must give the same bits,
/// annotations, errors and sample counts, with and without delayed name removal.
#[test]
fn folded_aggregations_match_the_step_path() {
    let db = MemStorage::new();
    for i in 0..700i64 {
        let name = if i % 2 == 0 { "y" } else { "x_total" };
        let g = (i % 7).to_string();
        let l = Labels::from_pairs(&[("__name__", name), ("g", &g), ("i", &i.to_string())]);
        db.add(l, &varied_points(i));
    }
    // Two names over the same other labels: equal once the names go, overlapping in time for `z_a`/`z_b`,
    // not for `w_a`/`w_b`.
    for i in 0..40i64 {
        for (name, ks) in [("z_a", 0..60), ("z_b", 50..80), ("w_a", 0..30), ("w_b", 45..80)] {
            let l = Labels::from_pairs(&[("__name__", name), ("i", &i.to_string())]);
            let pts: Vec<(i64, f64)> = ks.map(|k| (k * 15_000, (k * (i + 2)) as f64)).collect();
            db.add(l, &pts);
        }
    }
    let c = CancelToken::new();
    let queries = [
        "sum(rate(x_total[2m]))",
        "sum by (g) (rate(x_total[2m]))",
        "avg by (g) (rate({__name__=~\"x_total|y\"}[2m]))",
        "count without (i) (rate(x_total[2m]))",
        "group by (g) (increase(x_total[2m]))",
        "min by (g) (max_over_time(y[2m]))",
        "max(min_over_time(x_total[2m]))",
        "stddev by (g) (deriv(x_total[2m]))",
        "stdvar(delta(y[3m]))",
        "quantile by (g) (0.3, rate(x_total[2m]))",
        "quantile(2, rate(x_total[2m]))",
        "topk(3, rate(x_total[2m]))",
        "bottomk by (g) (2, last_over_time(y[2m]))",
        "limitk(2, rate(x_total[2m]))",
        "topk(0, rate(x_total[2m]))",
        "topk(1e19, rate(x_total[2m]))",
        "sum by (__name__) (rate({__name__=~\"x_total|y\"}[2m]))",
        "sum by (__name__) (last_over_time({__name__=~\"x_total|y\"}[2m]))",
        "topk(2, last_over_time({__name__=~\"x_total|y\"}[2m]))",
        "sum by (i) (rate(x_total[2m]))",
        "sum(rate({__name__=~\"z_a|z_b\"}[2m]))",
        "sum(rate({__name__=~\"w_a|w_b\"}[1m]))",
        "topk(1, rate({__name__=~\"w_a|w_b\"}[1m]))",
        "sum(rate(y[2m]))",
        "max(rate(x_total[2m] @ 300))",
    ];
    let bits = matrix_bits;
    let strip = |w: &[String]| {
        w.iter()
            .map(|m| m.split(" (1:").next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    for delayed in [false, true] {
        let mut features = vec![EXPERIMENTAL_FUNCTIONS.to_owned()];
        if delayed {
            features.push(DELAYED_NAME_REMOVAL.to_owned());
        }
        let e = Engine::new(EngineOptions {
            enable_features: features.clone(),
            ..EngineOptions::default()
        })
        .counting_queryable_samples();
        for q in queries {
            // `op(args)` -> `op((call))`: the call in parentheses is not folded.
            let open = q.rfind('(').unwrap();
            let call_start = q[..open].rfind(['(', ' ']).unwrap() + 1;
            let step_path = format!("{}({})", &q[..call_start], &q[call_start..]);
            let a = e.range_query(&db, q, 0, 1_200_000, 15_000, &c);
            let b = e.range_query(&db, &step_path, 0, 1_200_000, 15_000, &c);
            let (a, b) = match (a, b) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(x), Err(y)) => {
                    assert_eq!((x.kind, &x.message), (y.kind, &y.message), "{q} (delayed {delayed})");
                    continue;
                }
                (a, b) => panic!("{q} vs {step_path} (delayed {delayed}): {:?} vs {:?}", a.err(), b.err()),
            };
            let (va, vb) = (bits(&a.value), bits(&b.value));
            assert_eq!(va, vb, "{q} (delayed {delayed})");
            assert_eq!(strip(&a.warnings), strip(&b.warnings), "{q}");
            assert_eq!(strip(&a.infos), strip(&b.infos), "{q}");
            assert_eq!(a.stats.peak_samples, b.stats.peak_samples, "{q} (delayed {delayed})");
            assert_eq!(a.stats.queryable_samples, b.stats.queryable_samples, "{q}");
            // The sample limit refuses the folded query exactly above the peak it reports.
            let peak = a.stats.peak_samples;
            for (max_samples, ok) in [(peak, true), (peak - 1, false)] {
                let e = Engine::new(EngineOptions {
                    max_samples,
                    enable_features: features.clone(),
                    ..EngineOptions::default()
                });
                let r = e.range_query(&db, q, 0, 1_200_000, 15_000, &c);
                assert_eq!(r.is_ok(), ok, "{q}: max_samples {max_samples}");
            }
        }
    }
}
