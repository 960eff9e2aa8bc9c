//! The admin API (`/api/v1/admin/tsdb/*`) side by side with the reference Prometheus 3.5: disabled answers
//! byte for byte, and, enabled, `delete_series` and `clean_tombstones` leave both servers with the same
//! data. The reference scrapes a real `prometheus_client` app and remote-writes into Diamond, so both hold
//! the same samples; both then get the same deletes. `snapshot` writes a directory that promtool reads.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Diamond, PyApp, RefPrometheus, enc, now_ms, reference_prometheus, send, wait_until};

#[test]
fn disabled_admin_api_answers_as_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[]);
    let p = RefPrometheus::start("global: {}\n", &[]);
    for path in ["delete_series?match[]=up", "clean_tombstones", "snapshot"] {
        for method in ["POST", "PUT", "GET"] {
            let url = |addr: &str| format!("http://{addr}/api/v1/admin/tsdb/{path}");
            let want = send(method, &url(&p.addr));
            let got = send(method, &url(&d.addr));
            assert_eq!(got.0, want.0, "{method} {path}: status");
            // GET is 405 on both, with Go's plain-text body.
            assert_eq!(got.1, want.1, "{method} {path}: body");
        }
    }
    assert!(!dir.path().join("data/snapshots").exists());
    // Wrong methods on the lifecycle endpoints: the same status and text as Prometheus.
    for (method, path) in [("GET", "-/reload"), ("DELETE", "-/reload"), ("POST", "-/healthy")] {
        let want = send(method, &format!("http://{}/{path}", p.addr));
        let got = send(method, &format!("http://{}/{path}", d.addr));
        assert_eq!(got, want, "{method} /{path}");
    }
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(Value::to_string)
        .collect();
    out.sort();
    out
}

/// `promtool tsdb dump` of `dir`: (series text, timestamp) of every sample.
fn promtool_dump(dir: &Path, matcher: &str) -> BTreeSet<(String, i64)> {
    let promtool = reference_prometheus().with_file_name("promtool");
    assert!(promtool.exists(), "promtool missing next to {}", promtool.display());
    let out = Command::new(&promtool)
        .args(["tsdb", "dump", &format!("--match={matcher}")])
        .arg(dir)
        .output()
        .expect("running promtool");
    assert!(
        out.status.success(),
        "promtool tsdb dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // `{labels} value timestamp`
            let (rest, ts) = l.rsplit_once(' ')?;
            let (series, _) = rest.rsplit_once(' ')?;
            Some((series.to_owned(), ts.parse().ok()?))
        })
        .collect()
}

#[test]
fn delete_and_clean_tombstones_match_prometheus_and_snapshot_is_readable() {
    let app = PyApp::start(false);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("diamond.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let data = dir.path().join("data");
    let d = Diamond::start(
        &data,
        &[&format!("--config.file={}", cfg.display()), "--web.enable-admin-api"],
    );
    let prom_cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\nremote_write:\n  - url: http://{}/api/v1/write\n    send_exemplars: true\n    queue_config:\n      batch_send_deadline: 500ms\n",
        app.target(),
        d.addr
    );
    let p = RefPrometheus::start(
        &prom_cfg,
        &["--enable-feature=exemplar-storage", "--web.enable-admin-api"],
    );
    let ex_q = format!("/api/v1/query_exemplars?query={}&start=0", enc("app_requests_total"));
    assert!(
        wait_until(Duration::from_secs(40), || {
            d.get_json(&ex_q).as_array().is_some_and(|a| !a.is_empty())
        }),
        "nothing arrived through remote write"
    );
    std::thread::sleep(Duration::from_secs(8));
    // Everything Prometheus had at `t` reaches Diamond well before the deletes.
    let t = now_ms() - 1000;
    std::thread::sleep(Duration::from_secs(3));
    let secs = |ms: i64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let (start, end) = (secs(t - 5000), secs(t));
    let admin = |path: &str| {
        let a = send("POST", &format!("http://{}/api/v1/admin/tsdb/{path}", p.addr));
        let b = send("PUT", &format!("http://{}/api/v1/admin/tsdb/{path}", d.addr));
        assert_eq!(a, b, "{path}");
        a
    };
    // Part of a counter (with exemplars), and all of one histogram bucket.
    let del1 = format!(
        "delete_series?match[]={}&start={start}&end={end}",
        enc("app_requests_total{route=\"/a\"}")
    );
    assert_eq!(admin(&del1).0, 204);
    let del2 = format!(
        "delete_series?match[]={}&match[]={}",
        enc("app_request_duration_seconds_bucket{le=\"0.1\"}"),
        enc("app_inflight")
    );
    assert_eq!(admin(&del2).0, 204);

    let view = secs(t);
    // Data endpoints: identical answers.
    let checks = [
        format!(
            "/api/v1/query_range?query={}&start={}&end={view}&step=1",
            enc("app_requests_total"),
            secs(t - 20_000)
        ),
        format!(
            "/api/v1/query_range?query={}&start={}&end={view}&step=1",
            enc("app_request_duration_seconds_bucket"),
            secs(t - 20_000)
        ),
        format!(
            "/api/v1/query?query={}&time={view}",
            enc("count_over_time(app_requests_total[15s])")
        ),
        format!(
            "/api/v1/query_exemplars?query={}&start=0&end={view}",
            enc("app_requests_total")
        ),
    ];
    // Metadata endpoints: Prometheus answers them from chunk metadata, listing a series as long as one
    // of its chunks overlapping the range is not wholly deleted (its head chunk keeps growing after the
    // delete, so whether a fully deleted series is listed depends on chunk boundaries). Diamond answers
    // per sample. So Diamond's answer is Prometheus's without the fully deleted series, exactly.
    let gone_series = |v: &str| v.contains("\"app_inflight\"") || v.contains("\"le\":\"0.1\"");
    type Gone<'a> = &'a dyn Fn(&str) -> bool;
    let meta_checks: [(String, Gone<'_>); 3] = [
        (
            format!("/api/v1/series?match[]={}&start=0&end={view}", enc("{job=\"app\"}")),
            &gone_series,
        ),
        (
            format!(
                "/api/v1/label/le/values?match[]={}&start=0&end={view}",
                enc("app_request_duration_seconds_bucket")
            ),
            &|v: &str| v == "\"0.1\"",
        ),
        (
            format!("/api/v1/labels?match[]={}&start=0&end={view}", enc("{job=\"app\"}")),
            &|_: &str| false,
        ),
    ];
    let compare = |when: &str| {
        for path in &checks {
            let a = p.get_json(path);
            let b = d.get_json(path);
            let key = |v: &Value| match v.get("result") {
                Some(r) => sorted(r),
                None => sorted(v),
            };
            assert!(!key(&a).is_empty(), "reference answered nothing for {path}");
            assert_eq!(
                key(&a),
                key(&b),
                "{when}: answers differ for {path}\nprometheus: {a}\ndiamond: {b}"
            );
        }
        for (path, gone) in &meta_checks {
            let a: Vec<String> = sorted(&p.get_json(path)).into_iter().filter(|x| !gone(x)).collect();
            let b = sorted(&d.get_json(path));
            assert!(!a.is_empty(), "reference answered nothing for {path}");
            assert_eq!(a, b, "{when}: answers differ for {path}");
        }
    };
    compare("after delete_series");
    // The deletes did something: the bucket and the gauge are gone up to `t`, the counter has a gap.
    let s = d.get_json(&format!(
        "/api/v1/series?match[]={}&start=0&end={view}",
        enc("app_inflight")
    ));
    assert_eq!(s, Value::Array(Vec::new()));
    let n = d.get_json(&format!(
        "/api/v1/query?query={}&time={view}",
        enc("count_over_time(app_requests_total{route=\"/a\"}[5s])")
    ));
    assert_eq!(n["result"], Value::Array(Vec::new()), "{n}");

    assert_eq!(admin("clean_tombstones").0, 204);
    compare("after clean_tombstones");

    // Snapshots: same answer shape; Diamond's (with its head as a block) is read by promtool and holds
    // what Diamond's API shows.
    for addr in [&p.addr, &d.addr] {
        let (st, body) = send(
            "POST",
            &format!("http://{addr}/api/v1/admin/tsdb/snapshot?skip_head=false"),
        );
        assert_eq!(st, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "success");
        let name = v["data"]["name"].as_str().unwrap().to_owned();
        let ok = name.len() == 33
            && name.as_bytes()[8] == b'T'
            && &name[15..17] == "Z-"
            && name[17..].bytes().all(|b| b.is_ascii_hexdigit());
        assert!(ok, "snapshot name {name}");
        if addr == &d.addr {
            let snap = data.join("snapshots").join(&name);
            // Like Prometheus's snapshots, ours have no `wal/`; promtool's read-only open wants one (it
            // fails the same way on a Prometheus snapshot), so give it an empty one.
            std::fs::create_dir(snap.join("wal")).unwrap();
            let dumped = promtool_dump(&snap, "{__name__=\"app_requests_total\"}");
            let got: BTreeSet<(String, i64)> = dumped.into_iter().filter(|x| x.1 <= t).collect();
            // A range-vector query answers every raw sample.
            let q = d.get_json(&format!(
                "/api/v1/query?query={}&time={view}",
                enc("app_requests_total[1h]")
            ));
            let mut want = BTreeSet::new();
            for s in q["result"].as_array().unwrap() {
                let m = s["metric"].as_object().unwrap();
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by_key(|k| (k.as_str() != "__name__", k.to_owned()));
                let inner: Vec<String> = keys.iter().map(|k| format!("{k}={}", m[k.as_str()])).collect();
                let series = format!("{{{}}}", inner.join(", "));
                for v in s["values"].as_array().unwrap() {
                    let ts = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
                    want.insert((series.clone(), ts));
                }
            }
            assert!(!want.is_empty());
            assert_eq!(got, want, "promtool's dump of the snapshot differs from Diamond's API");
        }
    }
    drop(app);
}
