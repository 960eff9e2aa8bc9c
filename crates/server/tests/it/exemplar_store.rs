//! The fair exemplar store through the real binary: a hot series does not push the others out under a small
//! budget, the coverage endpoint's shape (docs/api/diamond.md), the metrics, and resizing on config reload.

use diamond_model::{Exemplar, Labels, Sample};
use diamond_wire::{TimeSeries, WriteBatch};
use serde_json::Value;

use crate::harness::{Diamond, enc};

const BASE_T: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

/// One remote-write request: series `i` of `cold` cold ones plus the hot one, at minute `m`, with
/// `hot_rate` exemplars for the hot series and one for each cold one.
fn request(m: i64, cold: usize, hot_rate: i64) -> Vec<u8> {
    let ex = |trace: String, v: f64, ts: i64| Exemplar {
        labels: Labels::from_pairs(&[("trace_id", trace.as_str())]),
        value: v,
        ts,
        has_ts: true,
    };
    let mut series: Vec<TimeSeries> = (0..cold)
        .map(|k| TimeSeries {
            labels: Labels::from_pairs(&[("__name__", "cov_cold_total"), ("k", &k.to_string())]),
            samples: vec![Sample {
                t: BASE_T + m * MIN,
                v: m as f64,
            }],
            exemplars: vec![ex(format!("{:016x}{:016x}", k, m), 1.0, BASE_T + m * MIN)],
            histograms_dropped: 0,
            metadata: None,
        })
        .collect();
    series.push(TimeSeries {
        labels: Labels::from_pairs(&[("__name__", "cov_hot_total")]),
        samples: vec![Sample {
            t: BASE_T + m * MIN,
            v: m as f64,
        }],
        exemplars: (0..hot_rate)
            .map(|j| {
                ex(
                    format!("{:016x}{:016x}", 999_999, m * 1000 + j),
                    j as f64,
                    BASE_T + m * MIN + j * 100,
                )
            })
            .collect(),
        histograms_dropped: 0,
        metadata: None,
    });
    // A series that never gets exemplars.
    series.push(TimeSeries {
        labels: Labels::from_pairs(&[("__name__", "cov_cold_total"), ("k", "none")]),
        samples: vec![Sample {
            t: BASE_T + m * MIN,
            v: 0.0,
        }],
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

fn write(d: &Diamond, body: Vec<u8>) {
    let r = crate::harness::client()
        .post(d.url("/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

fn config(dir: &std::path::Path, max: usize) -> String {
    let p = dir.join("diamond.yml");
    std::fs::write(&p, format!("storage:\n  exemplars:\n    max_exemplars: {max}\n")).unwrap();
    format!("--config.file={}", p.display())
}

/// (series k or "hot", minute) pairs that hold an exemplar.
fn pairs(d: &Diamond) -> std::collections::BTreeSet<(String, i64)> {
    let q = format!(
        "/api/v1/query_exemplars?query={}&start=0&end=9999999999",
        enc(r#"{__name__=~"cov_.*"}"#)
    );
    let mut out = std::collections::BTreeSet::new();
    let v = d.get_json(&q);
    for s in v.as_array().unwrap_or_else(|| panic!("{v}")) {
        let k = s["seriesLabels"]["k"].as_str().unwrap_or("hot").to_owned();
        for e in s["exemplars"].as_array().unwrap() {
            let ts = (e["timestamp"].as_f64().unwrap() * 1000.0).round() as i64;
            out.insert((k.clone(), (ts - BASE_T).div_euclid(MIN)));
        }
    }
    out
}

#[test]
fn hot_series_keeps_others_covered_and_coverage_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    const COLD: usize = 20;
    const MINUTES: i64 = 10;
    // Budget: 2x the pairs (21 series x 10 minutes); the hot series offers 100 per minute.
    let budget = 2 * (COLD + 1) * MINUTES as usize;
    let d = Diamond::start(&tmp.path().join("data"), &[&config(tmp.path(), budget)]);
    for m in 0..MINUTES {
        write(&d, request(m, COLD, 100));
    }
    let got = pairs(&d);
    assert_eq!(
        got.len(),
        (COLD + 1) * MINUTES as usize,
        "every (series, minute) keeps one"
    );

    // Coverage, one row per metric.
    let c = d.get_json("/api/diamond/v1/exemplars/coverage");
    let store = &c["store"];
    assert_eq!(store["maxExemplars"], budget);
    assert_eq!(store["inMemory"], budget, "the hot series fills the rest of the budget");
    assert_eq!(store["retentionSeconds"], 15.0 * 86400.0);
    let metrics = c["metrics"].as_array().unwrap();
    let row = |name: &str| metrics.iter().find(|r| r["metric"] == name).cloned().unwrap();
    let cold = row("cov_cold_total");
    assert_eq!(cold["seriesWithExemplars"], COLD);
    assert_eq!(cold["seriesWithoutExemplars"], 1);
    assert_eq!(cold["exemplars"], COLD as u64 * MINUTES as u64);
    assert_eq!(cold["oldest"], BASE_T as f64 / 1000.0);
    assert_eq!(cold["newest"], (BASE_T + (MINUTES - 1) * MIN) as f64 / 1000.0);
    assert!(cold.get("series").is_none(), "no per-series rows without `metric`");
    assert_eq!(row("cov_hot_total")["seriesWithExemplars"], 1);

    // One metric, every series listed.
    let c = d.get_json("/api/diamond/v1/exemplars/coverage?metric=cov_cold_total");
    let metrics = c["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 1);
    let series = metrics[0]["series"].as_array().unwrap();
    assert_eq!(series.len(), COLD + 1);
    let none: Vec<&Value> = series.iter().filter(|s| s["exemplars"] == 0).collect();
    assert_eq!(none.len(), 1);
    assert_eq!(none[0]["labels"]["k"], "none");
    assert_eq!(none[0]["reason"], "no exemplars received");
    assert_eq!(none[0]["oldest"], Value::Null);
    let some = series.iter().find(|s| s["labels"]["k"] == "3").unwrap();
    assert_eq!(some["exemplars"], MINUTES);
    assert_eq!(some["reason"], Value::Null);

    // Metrics: Prometheus's names and Diamond's.
    let text = crate::harness::client()
        .get(d.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let metric = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("{name} missing"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(metric("prometheus_tsdb_exemplar_exemplars_in_storage"), budget as f64);
    assert_eq!(metric("prometheus_tsdb_exemplar_max_exemplars"), budget as f64);
    assert_eq!(
        metric("prometheus_tsdb_exemplar_series_with_exemplars_in_storage"),
        (COLD + 1) as f64
    );
    let offered = (COLD as f64 + 100.0) * MINUTES as f64;
    assert_eq!(metric("prometheus_tsdb_exemplar_exemplars_appended_total"), offered);
    let thinned = metric("diamond_exemplar_removed_total{reason=\"thinned\"}");
    assert_eq!(thinned, offered - budget as f64);
    assert!(metric("diamond_exemplar_memory_bytes") > 0.0);
}

/// Hot-series exemplars of each minute, as values.
fn hot_values(d: &Diamond) -> std::collections::BTreeMap<i64, Vec<f64>> {
    let q = format!(
        "/api/v1/query_exemplars?query={}&start=0&end=9999999999",
        enc("cov_hot_total")
    );
    let mut out: std::collections::BTreeMap<i64, Vec<f64>> = Default::default();
    for s in d.get_json(&q).as_array().unwrap() {
        for e in s["exemplars"].as_array().unwrap() {
            let ts = (e["timestamp"].as_f64().unwrap() * 1000.0).round() as i64;
            out.entry((ts - BASE_T).div_euclid(MIN))
                .or_default()
                .push(e["value"].as_str().unwrap().parse().unwrap());
        }
    }
    out
}

fn reload(d: &Diamond, dir: &std::path::Path, max: usize) {
    config(dir, max);
    let r = crate::harness::client().post(d.url("/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    let info = d.get_json("/api/diamond/v1/exemplars/coverage");
    assert_eq!(info["store"]["maxExemplars"], max);
}

/// Shrinking `max_exemplars` on `/-/reload` keeps the most valuable exemplars (docs/exemplars.md
/// "Resizing"), not the newest as Prometheus's ring does: every (series, minute) keeps one while the budget
/// allows it, the hot series' windows keep their highest and lowest values; below the number of pairs,
/// every series still keeps one.
#[test]
fn shrinking_on_reload_keeps_coverage_and_extremes() {
    let tmp = tempfile::tempdir().unwrap();
    const COLD: usize = 20;
    const MINUTES: i64 = 10;
    let pairs_total = (COLD + 1) * MINUTES as usize;
    let d = Diamond::start(&tmp.path().join("data"), &[&config(tmp.path(), 2000)]);
    for m in 0..MINUTES {
        write(&d, request(m, COLD, 100));
    }
    let offered = COLD * MINUTES as usize + 100 * MINUTES as usize;
    assert_eq!(
        d.get_json("/api/diamond/v1/exemplars/coverage")["store"]["inMemory"],
        offered,
        "all kept before the resize"
    );

    // 250 = the 210 pairs + 40: the newest 250 arrivals (Prometheus's ring) would be hot-series ones of
    // the last three minutes only.
    reload(&d, tmp.path(), 250);
    assert_eq!(pairs(&d).len(), pairs_total, "every (series, minute) keeps one");
    let hot = hot_values(&d);
    assert_eq!(hot.len(), MINUTES as usize);
    for (m, vals) in &hot {
        assert!(vals.len() >= 3, "minute {m}: the spare budget is spread: {vals:?}");
        assert!(
            vals.contains(&99.0) && vals.contains(&0.0),
            "minute {m}: extremes kept: {vals:?}"
        );
    }
    assert_eq!(
        d.get_json("/api/diamond/v1/exemplars/coverage")["store"]["inMemory"],
        250
    );

    // Below the number of pairs but above the number of series: every series keeps at least one.
    reload(&d, tmp.path(), 105);
    let got = pairs(&d);
    let series: std::collections::BTreeSet<&String> = got.iter().map(|(k, _)| k).collect();
    assert_eq!(series.len(), COLD + 1, "every series keeps one");
    assert!(got.len() <= 105);
    assert_eq!(
        d.get_json("/api/diamond/v1/exemplars/coverage")["store"]["inMemory"],
        105
    );

    // Growing back brings nothing back and keeps what is there.
    reload(&d, tmp.path(), 2000);
    assert_eq!(pairs(&d), got);
}
