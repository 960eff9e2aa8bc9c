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
