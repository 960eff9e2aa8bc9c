//! `kill -9` during remote-write ingest: every sample and exemplar whose request was answered 2xx must be
//! readable after a restart. Several rounds, each killing at a different moment; bounded in count and time.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diamond_model::{Exemplar, Labels, Sample};
use diamond_wire::{TimeSeries, WriteBatch};

use crate::harness::{Diamond, enc};

const SERIES: usize = 20;
const BASE_T: i64 = 1_700_000_000_000;

fn request(i: i64) -> Vec<u8> {
    let series = (0..SERIES)
        .map(|k| TimeSeries {
            labels: Labels::from_pairs(&[("__name__", "crash_metric"), ("series", &k.to_string())]),
            samples: vec![Sample {
                t: BASE_T + i * 1000,
                v: i as f64,
            }],
            exemplars: if k == 0 {
                vec![Exemplar {
                    labels: Labels::from_pairs(&[("trace_id", &format!("{i:032x}"))]),
                    value: i as f64,
                    ts: BASE_T + i * 1000,
                    has_ts: true,
                }]
            } else {
                Vec::new()
            },
            histograms_dropped: 0,
            metadata: None,
        })
        .collect();
    diamond_wire::compress_snappy(&diamond_wire::encode_remote_write_v1(&WriteBatch {
        series,
        metadata: Vec::new(),
        rejected: Vec::new(),
    }))
}

/// Sends requests from `first` on until the server dies or `max` is reached; returns the acknowledged ones.
fn ingest_until_killed(d: &mut Diamond, first: i64, max: i64, kill_after: Duration) -> BTreeSet<i64> {
    let url = d.url("/api/v1/write");
    let killed = Arc::new(AtomicBool::new(false));
    let client = crate::harness::client_builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut acked = BTreeSet::new();
    for i in first..first + max {
        if !killed.load(Ordering::SeqCst) && start.elapsed() >= kill_after {
            d.kill9();
            killed.store(true, Ordering::SeqCst);
        }
        let res = client
            .post(&url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(request(i))
            .send();
        match res {
            Ok(r) if r.status().as_u16() == 204 => {
                acked.insert(i);
            }
            Ok(r) => panic!("request {i}: unexpected status {}", r.status()),
            Err(_) => break,
        }
    }
    acked
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("d.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let flag = format!("--config.file={}", cfg.display());
    let mut all_acked = BTreeSet::new();
    let mut next = 0;
    for (round, kill_ms) in [150u64, 400, 900].into_iter().enumerate() {
        let mut d = Diamond::start(&data, &[&flag]);
        let acked = ingest_until_killed(&mut d, next, 5000, Duration::from_millis(kill_ms));
        assert!(!acked.is_empty(), "round {round}: nothing acknowledged before the kill");
        next = acked.last().unwrap() + 1_000;
        all_acked.extend(acked);
    }
    let d = Diamond::start(&data, &[&flag]);
    let at = BASE_T / 1000 + next + 10;
    let range = format!("{}s", next + 100);
    for k in [0, SERIES - 1] {
        let q = format!(
            "/api/v1/query?query={}&time={at}",
            enc(&format!("crash_metric{{series=\"{k}\"}}[{range}]"))
        );
        let data = d.get_json(&q);
        let got: BTreeSet<i64> = data["result"][0]["values"]
            .as_array()
            .map(|vals| {
                vals.iter()
                    .map(|p| p[1].as_str().unwrap().parse::<f64>().unwrap() as i64)
                    .collect()
            })
            .unwrap_or_default();
        let lost: Vec<&i64> = all_acked.difference(&got).collect();
        assert!(
            lost.is_empty(),
            "series {k}: {} acknowledged samples lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
    }
    let ex = d.get_json(&format!(
        "/api/v1/query_exemplars?query={}&start=0",
        enc("crash_metric")
    ));
    let got: BTreeSet<i64> = ex[0]["exemplars"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| i64::from_str_radix(e["labels"]["trace_id"].as_str().unwrap(), 16).unwrap())
                .collect()
        })
        .unwrap_or_default();
    let lost: Vec<&i64> = all_acked.difference(&got).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged exemplars lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}

#[test]
fn clean_shutdown_keeps_data_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("d.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let flag = format!("--config.file={}", cfg.display());
    let mut d = Diamond::start(&data, &[&flag]);
    let client = crate::harness::client();
    for i in 0..5 {
        let r = client
            .post(d.url("/api/v1/write"))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .body(request(i))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }
    d.terminate();
    let d = Diamond::start(&data, &[&flag]);
    let q = format!(
        "/api/v1/query?query={}&time={}",
        enc("count_over_time(crash_metric{series=\"3\"}[1h])"),
        BASE_T / 1000 + 10
    );
    assert_eq!(d.get_json(&q)["result"][0]["value"][1], "5");
}
