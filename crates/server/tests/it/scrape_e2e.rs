//! A real `prometheus_client` app serving OpenMetrics with exemplars, scraped by Diamond end to end.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Diamond, PyApp, enc, wait_until};

fn config(target: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n        labels:\n          env: test\n"
    )
}

#[test]
fn openmetrics_exemplars_are_scraped_and_served() {
    let app = PyApp::start(false);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config(&app.target())).unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);

    let q = format!(
        "/api/v1/query_exemplars?query={}&start=0",
        enc("app_request_duration_seconds_bucket")
    );
    let ok = wait_until(Duration::from_secs(30), || {
        d.get_json(&q).as_array().is_some_and(|a| {
            a.iter()
                .map(|s| s["exemplars"].as_array().map_or(0, Vec::len))
                .sum::<usize>()
                >= 3
        })
    });
    assert!(ok, "no exemplars after 30s: {}", d.get_json(&q));
    let data = d.get_json(&q);
    for s in data.as_array().unwrap() {
        let sl = &s["seriesLabels"];
        assert_eq!(sl["__name__"], "app_request_duration_seconds_bucket");
        assert_eq!(sl["job"], "app");
        assert_eq!(sl["env"], "test");
        assert_eq!(sl["instance"], app.target());
        assert!(sl["le"].is_string());
        let mut last = f64::MIN;
        for e in s["exemplars"].as_array().unwrap() {
            let trace = e["labels"]["trace_id"].as_str().unwrap();
            assert_eq!(trace.len(), 32, "trace id {trace}");
            assert!(e["value"].is_string(), "value must be a JSON string: {e}");
            let ts = e["timestamp"].as_f64().expect("timestamp must be a JSON number");
            assert!(ts >= last, "exemplars ascending by time");
            last = ts;
        }
    }
    // Counter exemplars carry both labels.
    let c = d.get_json(&format!(
        "/api/v1/query_exemplars?query={}&start=0",
        enc("sum(rate(app_requests_total[1m]))")
    ));
    let first = &c.as_array().unwrap()[0]["exemplars"][0]["labels"];
    assert!(first["trace_id"].is_string() && first["span_id"].is_string(), "{c}");

    // The target is healthy and spoke OpenMetrics.
    let t = d.get_json("/api/v1/targets");
    let active = t["activeTargets"].as_array().unwrap();
    let app_t = active
        .iter()
        .find(|x| x["labels"]["job"] == "app")
        .expect("app target listed");
    assert_eq!(app_t["health"], "up", "{app_t}");
    assert_eq!(app_t["scrapePool"], "app");
    assert_eq!(app_t["lastError"], "");

    // Metadata under the OpenMetrics family names.
    let md = d.get_json("/api/v1/metadata");
    assert_eq!(md["app_requests"][0]["type"], "counter", "{md}");
    assert_eq!(md["app_request_duration_seconds"][0]["type"], "histogram", "{md}");
    assert_eq!(md["app_inflight"][0]["help"], "Requests in flight.");

    // Scrape report series and the samples themselves.
    let up = d.get_json(&format!("/api/v1/query?query={}", enc("up{job=\"app\"}")));
    assert_eq!(up["result"][0]["value"][1], "1", "{up}");
    let series = d.get_json(&format!("/api/v1/series?match[]={}", enc("{job=\"app\"}")));
    let names: Vec<&str> = series
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["__name__"].as_str())
        .collect();
    for want in [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "app_requests_total",
        "app_inflight",
    ] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }

    // Coverage says why a series has no exemplars: a gauge, a histogram's _count.
    for (metric, why) in [
        ("app_inflight", "a gauge metric"),
        ("app_request_duration_seconds_count", "a _count series of a histogram"),
    ] {
        let c = d.get_json(&format!("/api/diamond/v1/exemplars/coverage?metric={metric}"));
        let series = c["metrics"][0]["series"].as_array().unwrap_or_else(|| panic!("{c}"));
        assert!(!series.is_empty(), "{c}");
        for s in series {
            assert_eq!(s["exemplars"], 0, "{s}");
            let reason = s["reason"].as_str().unwrap_or("");
            assert!(reason.starts_with(why), "{metric}: {reason}");
        }
    }
}

#[test]
fn a_target_answering_classic_text_is_flagged() {
    let app = PyApp::start(true);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config(&app.target())).unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);
    let find = || -> Option<Value> {
        let t = d.get_json("/api/v1/targets");
        t["activeTargets"]
            .as_array()?
            .iter()
            .find(|x| x["labels"]["job"] == "app" && x["health"] == "up")
            .cloned()
    };
    assert!(
        wait_until(Duration::from_secs(30), || find().is_some()),
        "target never up"
    );
    let t = find().unwrap();
    let text = t.to_string().to_lowercase();
    assert!(
        text.contains("exemplar") && text.contains("openmetrics"),
        "no exemplar-loss warning on the target: {t}"
    );
    let ex = d.get_json(&format!(
        "/api/v1/query_exemplars?query={}&start=0",
        enc("app_requests_total")
    ));
    assert_eq!(ex, serde_json::json!([]), "classic text carries no exemplars");
    // And the coverage view names the target's format as the reason.
    let c = d.get_json(&format!(
        "/api/diamond/v1/exemplars/coverage?metric={}",
        enc("app_requests_total")
    ));
    let reason = c["metrics"][0]["series"][0]["reason"].as_str().unwrap_or("").to_owned();
    assert!(reason.starts_with("target serves classic text (text/plain"), "{c}");
}
