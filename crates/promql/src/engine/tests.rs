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
        vec![r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "reqs""#]
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
