//! A real `client_golang` application (Debian's client_golang 1.14, built from `fixtures/go_app`) scraped
//! by Diamond. Go's `promhttp` speaks OpenMetrics only with `HandlerOpts.EnableOpenMetrics`; by default it
//! answers classic text and its exemplars are silently lost (exemplar-facts.md §3, gotcha 1). Diamond must
//! store the exemplars in the first case and say why there are none in the second.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Diamond, GoApp, enc, wait_until};

fn config(om: &str, classic: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: go-om\n    static_configs:\n      - targets: ['{om}']\n  - job_name: go-classic\n    static_configs:\n      - targets: ['{classic}']\n"
    )
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn client_golang_exemplars_arrive_over_openmetrics_and_their_loss_is_flagged() {
    let om = GoApp::start(true);
    let classic = GoApp::start(false);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config(&om.target(), &classic.target())).unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);

    let q = format!(
        "/api/v1/query_exemplars?query={}&start=0",
        enc("goapp_request_duration_seconds_bucket or goapp_requests_total")
    );
    let count_for = |job: &str| -> usize {
        d.get_json(&q).as_array().map_or(0, |a| {
            a.iter()
                .filter(|s| s["seriesLabels"]["job"] == job)
                .map(|s| s["exemplars"].as_array().map_or(0, Vec::len))
                .sum()
        })
    };
    assert!(
        wait_until(Duration::from_secs(30), || count_for("go-om") >= 6),
        "no exemplars from the OpenMetrics Go target after 30s: {}",
        d.get_json(&q)
    );
    let data = d.get_json(&q);
    let mut names = std::collections::BTreeSet::new();
    for s in data
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["seriesLabels"]["job"] == "go-om")
    {
        names.insert(s["seriesLabels"]["__name__"].as_str().unwrap().to_owned());
        for e in s["exemplars"].as_array().unwrap() {
            let l = &e["labels"];
            assert!(is_lower_hex(l["trace_id"].as_str().unwrap(), 32), "{e}");
            assert!(is_lower_hex(l["span_id"].as_str().unwrap(), 16), "{e}");
            let v: f64 = e["value"].as_str().unwrap().parse().unwrap();
            assert!(v > 0.0 && v <= 1.0, "{e}");
        }
    }
    assert!(names.contains("goapp_request_duration_seconds_bucket"), "{names:?}");
    assert!(names.contains("goapp_requests_total"), "{names:?}");

    // The default promhttp target is up, its samples are stored, but it carries no exemplars, and the
    // target view says why.
    let find = |job: &str| -> Option<Value> {
        d.get_json("/api/v1/targets")["activeTargets"]
            .as_array()?
            .iter()
            .find(|x| x["labels"]["job"] == job && x["health"] == "up")
            .cloned()
    };
    assert!(
        wait_until(Duration::from_secs(30), || find("go-classic").is_some()),
        "classic target never up"
    );
    let up = d.get_json(&format!(
        "/api/v1/query?query={}",
        enc("goapp_requests_total{job=\"go-classic\"}")
    ));
    assert_eq!(up["result"].as_array().map(Vec::len), Some(1), "{up}");
    assert_eq!(count_for("go-classic"), 0, "classic text cannot carry exemplars");
    let t = find("go-classic").unwrap();
    assert_eq!(t["openMetrics"], false, "{t}");
    let text = t["warnings"].to_string().to_lowercase();
    assert!(
        text.contains("exemplar"),
        "no exemplar-loss warning on the classic Go target: {t}"
    );
    let t = find("go-om").unwrap();
    assert_eq!(t["openMetrics"], true, "{t}");
    assert!(
        t["contentType"]
            .as_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{t}"
    );
}
