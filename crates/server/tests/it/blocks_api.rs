//! The real `diamond serve` over data in blocks. Blocks backfilled with `diamond tsdb create-blocks-from`
//! into the data directory are served by the query and metadata APIs; and with recent data in the head
//! on top of several blocks, every read API answers exactly as the reference Prometheus 3.5 does over
//! the same blocks and the same remote-written head samples (and exemplars).

use std::path::Path;
use std::process::Command;

use diamond_model::{Exemplar, Labels, Sample};
use diamond_wire::{TimeSeries, WriteBatch};
use serde_json::Value;

use crate::harness::{Diamond, RefPrometheus, enc, now_ms};

const MIN: i64 = 60_000;

/// OpenMetrics text of `n` minutes from `t0` (ms, a whole minute): counters `req_total{route, code}`,
/// a gauge `temp{city}`, and `old_only`, which stops after the first third.
fn om_input(t0: i64, n: i64) -> String {
    let mut s = String::from("# TYPE req counter\n");
    for route in ["a", "b"] {
        for code in ["200", "500"] {
            for i in 0..n {
                let v = i * if code == "200" { 10 } else { 1 } + route.len() as i64;
                s.push_str(&format!(
                    "req_total{{code=\"{code}\",route=\"{route}\"}} {v} {}\n",
                    (t0 + i * MIN) / 1000
                ));
            }
        }
    }
    s.push_str("# TYPE temp gauge\n");
    for city in ["oslo", "rome"] {
        for i in 0..n {
            let v = (i % 17) as f64 * 0.5 + if city == "rome" { 10.0 } else { -3.0 };
            s.push_str(&format!("temp{{city=\"{city}\"}} {v} {}\n", (t0 + i * MIN) / 1000));
        }
    }
    s.push_str("# TYPE old_only gauge\n");
    for i in 0..n / 3 {
        s.push_str(&format!("old_only{{k=\"v\"}} {i} {}\n", (t0 + i * MIN) / 1000));
    }
    s.push_str("# EOF\n");
    s
}

fn backfill(dir: &Path, t0: i64, n: i64) -> std::path::PathBuf {
    let file = dir.join("in.om");
    std::fs::write(&file, om_input(t0, n)).unwrap();
    let data = dir.join("data");
    let o = Command::new(env!("CARGO_BIN_EXE_diamond"))
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&data)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    data
}

fn block_dirs(data: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 26)
        .collect();
    v.sort();
    v
}

fn no_self_scrape(dir: &Path) -> String {
    let cfg = dir.join("diamond.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    format!("--config.file={}", cfg.display())
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
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

#[test]
fn serve_reads_backfilled_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    // Six hours, two days ago: several 2 h blocks, nothing in the head.
    let t0 = (now_ms() - 2 * 86_400_000) / MIN * MIN;
    let n = 360;
    let data = backfill(tmp.path(), t0, n);
    assert!(block_dirs(&data).len() >= 3, "{:?}", block_dirs(&data));
    let d = Diamond::start(&data, &[&no_self_scrape(tmp.path())]);

    // Every sample of one series, straight through query_range (step = the sample interval).
    let q = format!(
        "/api/v1/query_range?query={}&start={}&end={}&step=60",
        enc("req_total{route=\"a\",code=\"200\"}"),
        secs(t0),
        secs(t0 + (n - 1) * MIN)
    );
    let r = d.get_json(&q);
    let series = r["result"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{r}");
    assert_eq!(series[0]["metric"]["route"], "a");
    let values = series[0]["values"].as_array().unwrap();
    assert_eq!(values.len() as i64, n, "one point per sample");
    for (i, p) in values.iter().enumerate() {
        let i = i as i64;
        assert_eq!(p[0].as_f64().unwrap(), ((t0 + i * MIN) / 1000) as f64);
        assert_eq!(p[1].as_str().unwrap(), (i * 10 + 1).to_string(), "sample {i}");
    }
    // A rate across block boundaries.
    let q = format!(
        "/api/v1/query?query={}&time={}",
        enc("sum(rate(req_total{code=\"200\"}[10m]))"),
        secs(t0 + 200 * MIN)
    );
    let r = d.get_json(&q);
    let v: f64 = r["result"][0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((v - 2.0 * 10.0 / 60.0).abs() < 1e-9, "{r}");

    let range = format!("start={}&end={}", secs(t0), secs(t0 + n * MIN));
    let s = d.get_json(&format!(
        "/api/v1/series?match[]={}&{range}",
        enc("{__name__=~\"req_total|old_only\"}")
    ));
    assert_eq!(s.as_array().unwrap().len(), 5, "{s}");
    assert_eq!(
        d.get_json(&format!("/api/v1/labels?{range}")),
        serde_json::json!(["__name__", "city", "code", "k", "route"])
    );
    assert_eq!(d.get_json("/api/v1/label/route/values"), serde_json::json!(["a", "b"]));
    assert_eq!(
        d.get_json("/api/v1/label/__name__/values"),
        serde_json::json!(["old_only", "req_total", "temp"])
    );
    // `old_only` ended in the first block: a later range does not list it.
    let late = format!("start={}&end={}", secs(t0 + 300 * MIN), secs(t0 + n * MIN));
    assert_eq!(
        d.get_json(&format!("/api/v1/label/__name__/values?{late}")),
        serde_json::json!(["req_total", "temp"])
    );
}

/// Remote-write samples and exemplars of the last ~50 minutes for the backfilled series and a new one.
fn head_batch(t_end: i64) -> Vec<u8> {
    let mut series = Vec::new();
    for route in ["a", "b"] {
        for code in ["200", "500"] {
            let labels = Labels::from_pairs(&[("__name__", "req_total"), ("code", code), ("route", route)]);
            let samples: Vec<Sample> = (0..200)
                .map(|i| Sample {
                    t: t_end - (199 - i) * 15_000,
                    v: 1e6 + (i * 7) as f64,
                })
                .collect();
            let exemplars = (0..5)
                .map(|i| Exemplar {
                    labels: Labels::from_pairs(&[("trace_id", &format!("{route}{code}{i:030x}"))]),
                    value: i as f64 * 0.25,
                    ts: t_end - (199 - i * 40) * 15_000,
                    has_ts: true,
                })
                .collect();
            series.push(TimeSeries {
                labels,
                samples,
                exemplars,
                histograms_dropped: 0,
                metadata: None,
            });
        }
    }
    series.push(TimeSeries {
        labels: Labels::from_pairs(&[("__name__", "head_only"), ("k", "w")]),
        samples: (0..200)
            .map(|i| Sample {
                t: t_end - (199 - i) * 15_000,
                v: i as f64,
            })
            .collect(),
        exemplars: Vec::new(),
        histograms_dropped: 0,
        metadata: None,
    });
    diamond_wire::compress_snappy(&diamond_wire::encode_remote_write_v1(&WriteBatch {
        series,
        metadata: Vec::new(),
        rejected: Vec::new(),
    }))
}

fn remote_write(addr: &str, body: Vec<u8>) {
    let r = crate::harness::client()
        .post(format!("http://{addr}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{addr}: {}", r.status());
}

#[test]
fn api_over_head_and_blocks_matches_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let now = now_ms() / MIN * MIN;
    // Blocks: from 9 h to 3 h ago (aligned 2 h blocks end at most 1 h ago); head: the last 50 minutes.
    let t0 = now - 9 * 3_600_000;
    let n = 360;
    let data = backfill(tmp.path(), t0, n);
    let blocks = block_dirs(&data);
    assert!(blocks.len() >= 3, "{blocks:?}");
    let prom_data = tmp.path().join("prom");
    std::fs::create_dir(&prom_data).unwrap();
    for b in &blocks {
        copy_tree(&data.join(b), &prom_data.join(b));
    }
    let d = Diamond::start(&data, &[&no_self_scrape(tmp.path())]);
    let p = RefPrometheus::start_in(
        "global: {}\n",
        Some(&prom_data),
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
        ],
    );
    let t_end = now - 15_000;
    remote_write(&d.addr, head_batch(t_end));
    remote_write(&p.addr, head_batch(t_end));
    assert!(
        d.get_json("/api/v1/status/tsdb")["headStats"]["numSeries"].as_u64() == Some(5),
        "the head holds the remote-written series"
    );

    let (start, end) = (secs(t0), secs(t_end));
    let range = format!("start={start}&end={end}");
    let both = |path: &str| -> (Value, Value) { (d.get_json(path), p.get_json(path)) };
    let mut compared = 0;
    for path in [
        format!("/api/v1/series?match[]={}&{range}", enc("req_total")),
        format!(
            "/api/v1/series?match[]={}&match[]={}",
            enc("{__name__=~\"temp|old_only\"}"),
            enc("head_only")
        ),
        format!(
            "/api/v1/series?match[]={}&start={}&end={end}",
            enc("{k!=\"\"}"),
            secs(now - 30 * MIN)
        ),
        format!("/api/v1/labels?{range}"),
        "/api/v1/labels".to_owned(),
        format!("/api/v1/labels?match[]={}", enc("old_only")),
        format!("/api/v1/labels?start={}&end={end}", secs(now - 40 * MIN)),
        "/api/v1/label/__name__/values".to_owned(),
        format!("/api/v1/label/__name__/values?start={}&end={end}", secs(now - 40 * MIN)),
        format!(
            "/api/v1/label/route/values?match[]={}&{range}",
            enc("req_total{code=\"500\"}")
        ),
        format!("/api/v1/label/city/values?{range}"),
    ] {
        let (a, b) = both(&path);
        assert_eq!(sorted(&a), sorted(&b), "{path}");
        assert!(!sorted(&b).is_empty(), "{path}: an empty answer compares nothing");
        compared += 1;
    }
    for q in [
        "req_total",
        "rate(req_total[5m])",
        "sum by (route) (increase(req_total[30m]))",
        "temp",
        "max_over_time(temp[1h])",
        "count({__name__=~\".+\"})",
        "old_only",
        "head_only * 2",
    ] {
        for step in ["60", "900"] {
            let path = format!("/api/v1/query_range?query={}&{range}&step={step}", enc(q));
            let (a, b) = both(&path);
            assert_eq!(a, b, "{q} step {step}");
            assert!(!a["result"].as_array().unwrap().is_empty(), "{q}");
            compared += 1;
        }
    }
    let path = format!("/api/v1/query_exemplars?query={}&{range}", enc("req_total"));
    let (a, b) = both(&path);
    assert_eq!(sorted(&a), sorted(&b), "query_exemplars");
    assert_eq!(a.as_array().unwrap().len(), 4, "{a}");
    compared += 1;
    assert_eq!(compared, 11 + 16 + 1);
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}
