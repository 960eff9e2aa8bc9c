//! The reference Prometheus scrapes a real `prometheus_client` app and remote-writes everything (samples,
//! exemplars, metadata) into Diamond; the read APIs of both must then answer the same, up to order.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Diamond, PyApp, RefPrometheus, enc, now_ms, wait_until};

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(Value::to_string)
        .collect();
    out.sort();
    out
}

#[test]
fn remote_write_from_reference_prometheus_reads_back_identically() {
    let app = PyApp::start(false);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("diamond.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);
    let prom_cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\nremote_write:\n  - url: http://{}/api/v1/write\n    send_exemplars: true\n    queue_config:\n      batch_send_deadline: 500ms\n    metadata_config:\n      send_interval: 1s\n",
        app.target(),
        d.addr
    );
    let p = RefPrometheus::start(&prom_cfg, &["--enable-feature=exemplar-storage"]);

    // Let a few scrapes happen and reach Diamond.
    let ex_q = format!("/api/v1/query_exemplars?query={}&start=0", enc("app_requests_total"));
    assert!(
        wait_until(Duration::from_secs(40), || {
            d.get_json(&ex_q).as_array().is_some_and(|a| !a.is_empty())
                && d.get_json("/api/v1/metadata").as_object().is_some_and(|m| m.len() >= 3)
        }),
        "nothing arrived through remote write"
    );
    std::thread::sleep(Duration::from_secs(3));
    // Compare up to a time both must have: everything Prometheus had at `t` was sent well before now.
    let t = now_ms() - 1000;
    std::thread::sleep(Duration::from_secs(3));
    let end = format!("{}.{:03}", t / 1000, t % 1000);

    let checks = [
        format!("/api/v1/series?match[]={}&start=0&end={end}", enc("{job=\"app\"}")),
        format!("/api/v1/labels?start=0&end={end}"),
        format!(
            "/api/v1/labels?match[]={}&start=0&end={end}",
            enc("app_request_duration_seconds_bucket")
        ),
        format!("/api/v1/label/__name__/values?start=0&end={end}"),
        format!("/api/v1/label/route/values?start=0&end={end}"),
        format!(
            "/api/v1/label/le/values?match[]={}&start=0&end={end}",
            enc("app_request_duration_seconds_bucket")
        ),
        format!(
            "/api/v1/query_exemplars?query={}&start=0&end={end}",
            enc("app_requests_total")
        ),
        format!(
            "/api/v1/query_exemplars?query={}&start=0&end={end}",
            enc("histogram_quantile(0.9, sum by (le) (rate(app_request_duration_seconds_bucket[1m])))")
        ),
        format!(
            "/api/v1/query_exemplars?query={}&start=0&end={end}",
            enc("{__name__=~\"app_.*\"}")
        ),
    ];
    for path in &checks {
        let a = p.get_json(path);
        let b = d.get_json(path);
        assert!(
            !a.as_array().is_some_and(Vec::is_empty),
            "reference answered nothing for {path}"
        );
        assert_eq!(
            sorted(&a),
            sorted(&b),
            "answers differ for {path}\nprometheus: {a}\ndiamond: {b}"
        );
    }

    // Metadata: Prometheus answers from its targets, Diamond from remote-write metadata.
    let a = p.get_json("/api/v1/metadata");
    let b = d.get_json("/api/v1/metadata");
    let keys = |v: &Value| {
        v.as_object()
            .map(|o| o.keys().cloned().collect::<BTreeSet<_>>())
            .unwrap_or_default()
    };
    assert_eq!(
        keys(&a),
        keys(&b),
        "metadata families differ\nprometheus: {a}\ndiamond: {b}"
    );
    for k in keys(&a) {
        assert_eq!(sorted(&a[&k]), sorted(&b[&k]), "metadata of {k} differs");
    }
}
