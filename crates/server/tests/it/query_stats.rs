//! The `stats` parameter of `/api/v1/query` and `/api/v1/query_range` side by side with the reference
//! Prometheus: both receive the same series by remote write (one with a gap, one ending in a staleness
//! marker), and for every query `totalQueryableSamples` must be equal and the `stats` object must have the
//! same members, and `peakSamples` must be equal too. Then both run again with a tight
//! `--query.max-samples`, and must accept and refuse the same queries with the same error.

use diamond_model::{Labels, STALE_NAN, Sample};
use diamond_wire::TimeSeries;
use serde_json::Value;

use crate::harness::{Diamond, RefPrometheus, enc, now_ms, remote_write as write};

fn get(base: &str, path: &str) -> Value {
    let url = format!("http://{base}{path}");
    crate::harness::client()
        .get(&url)
        .send()
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// The member names of an object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

#[test]
fn query_stats_match_the_reference_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("d.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);
    let p = RefPrometheus::start("scrape_configs: []\n", &["--web.enable-remote-write-receiver"]);
    // A second pair with a sample limit between the queries' peaks (2 to 94 here).
    let limit = "--query.max-samples=25";
    let d2 = Diamond::start(
        &dir.path().join("data2"),
        &[&format!("--config.file={}", cfg.display()), limit],
    );
    let p2 = RefPrometheus::start("scrape_configs: []\n", &["--web.enable-remote-write-receiver", limit]);

    // 41 steps of 15 s ending a minute ago, on a whole second.
    let end = (now_ms() / 1000 - 60) * 1000;
    let t0 = end - 40 * 15_000;
    let mut all = Vec::new();
    for (i, inst) in ["a", "b", "c"].iter().enumerate() {
        let mut samples = Vec::new();
        for k in 0..=40i64 {
            let t = t0 + k * 15_000;
            // b has a gap of two minutes; c goes stale two minutes before the end.
            if *inst == "b" && (15..23).contains(&k) {
                continue;
            }
            if *inst == "c" && k > 32 {
                break;
            }
            let v = if *inst == "c" && k == 32 {
                STALE_NAN
            } else {
                (k * (i as i64 + 1)) as f64
            };
            samples.push(Sample { t, v });
        }
        all.push(TimeSeries {
            labels: Labels::from_pairs(&[("__name__", "req_total"), ("instance", inst), ("job", "app")]),
            samples,
            exemplars: Vec::new(),
            histograms_dropped: 0,
            metadata: None,
        });
    }
    write(&d.url("/api/v1/write"), all.clone());
    write(&d2.url("/api/v1/write"), all.clone());
    write(&format!("http://{}/api/v1/write", p.addr), all.clone());
    write(&format!("http://{}/api/v1/write", p2.addr), all);

    let at = format!("{}", end / 1000);
    let start = format!("{}", (end - 300_000) / 1000);
    let instant_only = ["req_total[2m]", "req_total[2m:30s]", "rate(req_total[1m])[2m:15s]"];
    let both = [
        "req_total",
        "req_total offset 1m",
        "rate(req_total[1m])",
        "sum by (job) (rate(req_total[2m]))",
        "count_over_time(req_total[5m])",
        "max_over_time(rate(req_total[1m])[3m:30s])",
        "sum_over_time(req_total[1m:15s])",
        "timestamp(req_total)",
        "topk(2, req_total)",
        "req_total / on (instance) group_left count by (instance) (req_total)",
        "1 + 1",
        "vector(1)",
        "absent(nothing_here)",
        "req_total @ end()",
        "sum by (job) (rate(req_total[2m] @ end()))",
        "req_total @ start() * 2",
        "time() - timestamp(req_total @ end())",
        "day_of_week()",
        "last_over_time(req_total[10m])",
    ];
    let mut paths = Vec::new();
    for q in instant_only.iter().chain(both.iter()) {
        paths.push(format!("/api/v1/query?time={at}&stats=1&query={}", enc(q)));
    }
    for q in both {
        paths.push(format!(
            "/api/v1/query_range?start={start}&end={at}&step=30&stats=all&query={}",
            enc(q)
        ));
    }
    let mut differ = Vec::new();
    let mut peak_differ = Vec::new();
    let mut nonzero = 0;
    for path in &paths {
        let a = get(&p.addr, path);
        let b = get(&d.addr, path);
        assert_eq!(a["status"], "success", "reference failed {path}: {a}");
        assert_eq!(b["status"], "success", "diamond failed {path}: {b}");
        let (sa, sb) = (&a["data"]["stats"], &b["data"]["stats"]);
        assert_eq!(keys(sa), keys(sb), "stats members differ for {path}\n{sa}\n{sb}");
        assert_eq!(keys(&sa["timings"]), keys(&sb["timings"]), "timings differ for {path}");
        assert_eq!(keys(&sa["samples"]), keys(&sb["samples"]), "samples differ for {path}");
        let (qa, qb) = (
            &sa["samples"]["totalQueryableSamples"],
            &sb["samples"]["totalQueryableSamples"],
        );
        if qa.as_u64().unwrap_or(0) > 0 {
            nonzero += 1;
        }
        if qa != qb {
            differ.push(format!("{path}: prometheus {qa}, diamond {qb}"));
        }
        if sa["samples"]["peakSamples"] != sb["samples"]["peakSamples"] {
            peak_differ.push(format!(
                "{path}: prometheus {}, diamond {}",
                sa["samples"]["peakSamples"], sb["samples"]["peakSamples"]
            ));
        }
    }
    assert!(
        peak_differ.is_empty(),
        "peakSamples differs in {} of {}:\n{}",
        peak_differ.len(),
        paths.len(),
        peak_differ.join("\n")
    );

    // The same limit accepts and refuses the same queries, with the same error.
    let mut refused = 0;
    for path in &paths {
        let a = get(&p2.addr, path);
        let b = get(&d2.addr, path);
        assert_eq!(
            (&a["status"], &a["errorType"], &a["error"]),
            (&b["status"], &b["errorType"], &b["error"]),
            "{limit} treats {path} differently\nprometheus: {a}\ndiamond: {b}"
        );
        refused += usize::from(a["status"] == "error");
    }
    // Not a trivial pass: the limit splits the queries.
    assert!(
        refused >= 5 && refused + 5 <= paths.len(),
        "{refused} of {} refused",
        paths.len()
    );
    assert!(
        differ.is_empty(),
        "totalQueryableSamples differs in {} of {}:\n{}",
        differ.len(),
        paths.len(),
        differ.join("\n")
    );
    // Not a trivial pass: most queries read samples.
    assert!(nonzero >= paths.len() - 8, "only {nonzero} queries counted samples");

    // Without the parameter there is no `stats` member, as in Prometheus.
    let plain = get(&d.addr, &format!("/api/v1/query?time={at}&query=req_total"));
    assert!(plain["data"].get("stats").is_none(), "{plain}");
}
