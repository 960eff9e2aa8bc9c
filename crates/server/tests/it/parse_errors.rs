//! Differential test of query errors: every line of `tests/fixtures/bad_queries.txt` (hand-written
//! malformed or ill-typed queries, including the empty query on one line) goes to `/api/v1/query` of both
//! Diamond and the reference Prometheus; HTTP status, `status`, `errorType` and the `error` text must be
//! the same. `KNOWN_DIFFERENT` lists the queries where we knowingly differ (with the reason); the test also
//! fails when one of those starts to agree, so the list only shrinks.

use crate::harness::{Diamond, RefPrometheus, enc};

/// Queries whose answer differs from Prometheus today, and why.
const KNOWN_DIFFERENT: &[(&str, &str)] = &[];

fn answer(base: &str, q: &str) -> (u16, String, String, String) {
    let url = format!("http://{base}/api/v1/query?time=60&query={}", enc(q));
    let resp = crate::harness::client()
        .get(&url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let v: serde_json::Value = serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or_default();
    let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
    (status, s("status"), s("errorType"), s("error"))
}

#[test]
fn query_errors_match_the_reference_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("diamond.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);
    let p = RefPrometheus::start("scrape_configs: []\n", &[]);
    let text = include_str!("../fixtures/bad_queries.txt");
    let queries: Vec<&str> = text.split('\n').collect();
    let queries = &queries[..queries.len() - 1];
    let (mut same, mut differ) = (0, Vec::new());
    for q in queries {
        let a = answer(&p.addr, q);
        let b = answer(&d.addr, q);
        if a == b {
            same += 1;
            assert!(
                !KNOWN_DIFFERENT.iter().any(|(k, _)| k == q),
                "{q:?} now matches Prometheus; remove it from KNOWN_DIFFERENT"
            );
        } else if !KNOWN_DIFFERENT.iter().any(|(k, _)| k == q) {
            differ.push(format!("{q:?}\n  prometheus: {a:?}\n  diamond:    {b:?}"));
        }
    }
    println!("{same} of {} queries answer exactly as Prometheus", queries.len());
    assert!(
        differ.is_empty(),
        "{} unexpected difference(s):\n{}",
        differ.len(),
        differ.join("\n")
    );
}

/// Warnings and infos, with Prometheus 3.5's ` (line:col)` suffix, on queries that need no data (so both
/// servers answer from the same nothing): the `warnings` and `infos` arrays must be identical.
#[test]
fn annotations_match_the_reference_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("diamond.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);
    let p = RefPrometheus::start("scrape_configs: []\n", &[]);
    let queries = [
        "quantile(2, vector(1))",
        "quantile(0.5, vector(1)) or\n  quantile(-1, vector(2))",
        r#"histogram_quantile(1.5, label_replace(vector(1), "le", "1", "", ""))"#,
        r#"histogram_quantile(0.5, label_replace(vector(1), "le", "x", "", ""))"#,
        "quantile_over_time(7, vector(1)[1m:15s])",
        r#"rate(label_replace(vector(1), "__name__", "foo", "", "")[5m:1m])"#,
        "sum(\n  increase(label_replace(vector(1), \"__name__\", \"bar\", \"\", \"\")[5m:1m]))",
        r#"rate(label_replace(vector(1), "__name__", "a", "", "")[5m:1m]) + on() rate(label_replace(vector(1), "__name__", "b", "", "")[5m:1m])"#,
    ];
    let annotations = |base: &str, q: &str| -> (serde_json::Value, serde_json::Value) {
        let url = format!("http://{base}/api/v1/query?time=600&query={}", enc(q));
        let v: serde_json::Value = crate::harness::client()
            .get(&url)
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(v["status"], "success", "{q}: {v}");
        // Prometheus keeps annotations in a Go map (util/annotations: `map[string]error`), so the order of
        // the arrays it answers is random from one request to the next: compare them as sets.
        let sorted = |x: &serde_json::Value| match x.as_array() {
            Some(a) => {
                let mut a = a.clone();
                a.sort_by_key(|x| x.to_string());
                serde_json::Value::Array(a)
            }
            None => x.clone(),
        };
        (sorted(&v["warnings"]), sorted(&v["infos"]))
    };
    let mut nonempty = 0;
    for q in queries {
        let want = annotations(&p.addr, q);
        let got = annotations(&d.addr, q);
        assert_eq!(got, want, "annotations of {q:?}");
        if !want.0.is_null() || !want.1.is_null() {
            nonempty += 1;
        }
    }
    assert_eq!(
        nonempty,
        queries.len(),
        "every query here has an annotation on the reference"
    );
}
