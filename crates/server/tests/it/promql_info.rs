//! `info()` (behind `--enable-feature=promql-experimental-functions`) side by side with the reference
//! Prometheus: both receive the same series by remote write (info metrics, and metrics to enrich with and
//! without identifying labels), and every query must give the same result, or the same error.

use diamond_model::{Labels, Sample};
use diamond_wire::TimeSeries;
use serde_json::Value;

use crate::harness::{Diamond, RefPrometheus, enc, now_ms, remote_write as write};

const FLAG: &str = "--enable-feature=promql-experimental-functions";

fn series(pairs: &[(&str, &str)], t: i64, v: f64) -> TimeSeries {
    TimeSeries {
        labels: Labels::from_pairs(pairs),
        samples: vec![Sample { t, v }],
        exemplars: Vec::new(),
        histograms_dropped: 0,
        metadata: None,
    }
}

/// The result as comparable text: sorted `labels value` lines, or the error type and message.
fn answer(base: &str, q: &str, t: f64) -> Vec<String> {
    let url = format!("http://{base}/api/v1/query?time={t}&query={}", enc(q));
    let v: Value = crate::harness::client()
        .get(&url)
        .send()
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    if v["status"] != "success" {
        return vec![format!("{} {}", v["errorType"], v["error"])];
    }
    let mut out: Vec<String> = v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|s| format!("{} {}", s["metric"], s["value"][1]))
        .collect();
    out.sort();
    out
}

#[test]
fn info_matches_the_reference_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("d.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let d = Diamond::start(
        &dir.path().join("data"),
        &[&format!("--config.file={}", cfg.display()), FLAG],
    );
    let p = RefPrometheus::start("scrape_configs: []\n", &["--web.enable-remote-write-receiver", FLAG]);
    let t0 = now_ms() - 60_000;
    let mut all = Vec::new();
    for k in 0..3 {
        let t = t0 + k * 15_000;
        all.extend([
            series(
                &[
                    ("__name__", "target_info"),
                    ("instance", "a:1"),
                    ("job", "app"),
                    ("version", "1.2"),
                    ("region", "eu"),
                ],
                t,
                1.0,
            ),
            series(
                &[
                    ("__name__", "target_info"),
                    ("instance", "b:1"),
                    ("job", "app"),
                    ("version", "2.0"),
                ],
                t,
                1.0,
            ),
            series(
                &[
                    ("__name__", "build_info"),
                    ("instance", "a:1"),
                    ("job", "app"),
                    ("goversion", "go1.22"),
                ],
                t,
                1.0,
            ),
            series(
                &[
                    ("__name__", "build_info"),
                    ("instance", "b:1"),
                    ("job", "app"),
                    ("version", "9.9"),
                ],
                t,
                1.0,
            ),
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("instance", "a:1"),
                    ("job", "app"),
                    ("code", "200"),
                ],
                t,
                10.0 + k as f64,
            ),
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("instance", "b:1"),
                    ("job", "app"),
                    ("code", "500"),
                ],
                t,
                3.0,
            ),
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("instance", "c:1"),
                    ("job", "app"),
                    ("code", "200"),
                ],
                t,
                7.0,
            ),
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("instance", "b:1"),
                    ("job", "app"),
                    ("code", "404"),
                    ("version", "own"),
                ],
                t,
                1.0,
            ),
            series(&[("__name__", "process_x"), ("job", "app")], t, 5.0),
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("instance", "c:1"),
                    ("job", "app"),
                    ("code", "201"),
                    ("version", "2.5"),
                ],
                t,
                2.0,
            ),
        ]);
    }
    write(&d.url("/api/v1/write"), all.clone());
    write(&format!("http://{}/api/v1/write", p.addr), all);
    let at = (t0 + 31_000) as f64 / 1000.0;
    let queries = [
        "info(http_requests_total)",
        r#"info(http_requests_total, {version=~"2.*"})"#,
        r#"info(http_requests_total, {__name__="build_info"})"#,
        r#"info(http_requests_total, {__name__=~"target_info|build_info"})"#,
        r#"info(http_requests_total, {__name__=~"target_info|build_info", version=~".+"})"#,
        "info(target_info)",
        r#"info(http_requests_total, {region!="eu"})"#,
        r#"info(http_requests_total, {region="eu"})"#,
        "info(sum by (instance, job) (http_requests_total))",
        "info(sum by (job) (http_requests_total))",
        r#"info(http_requests_total{code="200"}, {version=~".+"})"#,
        "info(process_x)",
        "info(rate(http_requests_total[1m]))",
        "info(http_requests_total offset 20s)",
    ];
    let mut differ = Vec::new();
    for q in queries {
        let want = answer(&p.addr, q, at);
        let got = answer(&d.addr, q, at);
        if want != got {
            differ.push(format!("{q}\n  prometheus: {want:?}\n  diamond:    {got:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} differ:\n{}",
        differ.len(),
        queries.len(),
        differ.join("\n")
    );
    // Not a trivial pass: target_info's data labels do reach the series.
    assert!(
        answer(&d.addr, "info(http_requests_total)", at)
            .iter()
            .any(|l| l.contains("\"version\":\"1.2\"")),
        "info added no data label"
    );
}
