//! Writes the data set of the PromQL side-by-side benchmark (`scripts/bench-promql-vs-prometheus.py`) by
//! remote write 1.0 to one or more servers, the same request bodies to each, oldest samples first.
//!
//! For each population size `P` in `--sets` (default 1000 and 10000; the series carry `set="1k"` or
//! `set="10k"`), over `--hours` hours at `--interval-ms` ending at `--end-ms`:
//! - `P` counters `http_requests_total{set,job,instance,handler,method,code}`: `P/40` instances (5 jobs) ×
//!   10 handlers × 2 methods × 2 codes, integer increments that vary per series and step;
//! - `P` classic histogram buckets `http_request_duration_seconds_bucket{set,job,instance,handler,le}`:
//!   `P/100` instances × 10 handlers × 10 `le` values (9 bounds and `+Inf`), cumulative and monotonic;
//! - `P/40` info series `app_build_info{set,job,instance,version}` = 1 (4 versions), for `group_left`.
//!
//! Values are a pure function of (series, step), so every run writes the same samples. Requests hold up to
//! `--batch` series × `--window` consecutive samples each; windows are sent in time order and the requests
//! of one window (disjoint series) from `--concurrency` threads. Prints one JSON line with the counts.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use diamond_model::{Labels, Sample};
use diamond_wire::{TimeSeries, WriteBatch};

#[derive(Parser)]
struct Args {
    /// Remote-write URLs; every request goes to each of them.
    #[arg(long, required = true)]
    url: Vec<String>,
    /// Last timestamp (ms).
    #[arg(long)]
    end_ms: i64,
    #[arg(long, default_value_t = 7)]
    hours: i64,
    #[arg(long, default_value_t = 15_000)]
    interval_ms: i64,
    /// Population sizes (each a multiple of 100).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    sets: Vec<usize>,
    /// Series per request.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Consecutive samples per series per request.
    #[arg(long, default_value_t = 40)]
    window: usize,
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
}

/// What a series is, for computing its values.
#[derive(Clone, Copy)]
enum Kind {
    /// A counter with a per-series base rate.
    Counter { id: u64 },
    /// Bucket `le` of a histogram: the count of observations up to `upper`.
    Bucket { hist: u64, upper: f64 },
    /// Always 1.
    Info,
}

const LES: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn population(p: usize) -> Vec<(Labels, Kind)> {
    let set = if p.is_multiple_of(1000) {
        format!("{}k", p / 1000)
    } else {
        p.to_string()
    };
    let inst = |i: usize| format!("10.{}.{}.{}:8080", p / 1000 % 256, i / 256, i % 256);
    let mut out = Vec::new();
    let instances = p / 40;
    let mut id = (p as u64) << 32;
    for i in 0..instances {
        let job = format!("api-{}", i % 5);
        for h in 0..10 {
            for method in ["GET", "POST"] {
                for code in ["200", "500"] {
                    let l = Labels::from_pairs(&[
                        ("__name__", "http_requests_total"),
                        ("set", set.as_str()),
                        ("job", job.as_str()),
                        ("instance", inst(i).as_str()),
                        ("handler", format!("/api/v1/h{h}").as_str()),
                        ("method", method),
                        ("code", code),
                    ]);
                    out.push((l, Kind::Counter { id }));
                    id += 1;
                }
            }
        }
        let l = Labels::from_pairs(&[
            ("__name__", "app_build_info"),
            ("set", set.as_str()),
            ("job", job.as_str()),
            ("instance", inst(i).as_str()),
            ("version", format!("1.{}.0", i % 4).as_str()),
        ]);
        out.push((l, Kind::Info));
    }
    for i in 0..p / 100 {
        let job = format!("api-{}", i % 5);
        for h in 0..10 {
            let hist = ((p as u64) << 32) | ((i * 10 + h) as u64);
            for le in LES {
                let l = Labels::from_pairs(&[
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("set", set.as_str()),
                    ("job", job.as_str()),
                    ("instance", inst(i).as_str()),
                    ("handler", format!("/api/v1/h{h}").as_str()),
                    ("le", le),
                ]);
                let upper = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("le bound")
                };
                out.push((l, Kind::Bucket { hist, upper }));
            }
        }
    }
    out
}

/// The increment of a series between step `k-1` and `k`.
fn increment(kind: Kind, k: u64) -> f64 {
    match kind {
        Kind::Counter { id } => {
            let base = 1 + mix(id) % 50;
            (base + mix(id ^ (k << 20)) % (base + 1)) as f64
        }
        Kind::Bucket { hist, upper } => {
            let n = (10 + mix(hist ^ (k << 20)) % 40) as f64;
            // Latencies exponentially distributed with a per-histogram scale between 20 ms and 1 s.
            let scale = 0.02 + (mix(hist) % 980) as f64 / 1000.0;
            if upper.is_infinite() {
                n
            } else {
                (n * (1.0 - (-upper / scale).exp())).round()
            }
        }
        Kind::Info => 0.0,
    }
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = Args::parse();
    let steps = (a.hours * 3_600_000 / a.interval_ms) as usize + 1;
    let start = a.end_ms - (steps as i64 - 1) * a.interval_ms;
    let series: Vec<(Labels, Kind)> = a.sets.iter().flat_map(|&p| population(p)).collect();
    let mut values: Vec<f64> = series
        .iter()
        .map(|(_, k)| if matches!(k, Kind::Info) { 1.0 } else { 0.0 })
        .collect();
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let began = Instant::now();
    let mut requests = 0usize;
    let mut samples = 0usize;
    let mut k0 = 0usize;
    while k0 < steps {
        let k1 = (k0 + a.window).min(steps);
        // Build this window's bodies (values advance in step order per series).
        let mut bodies = Vec::new();
        for first in (0..series.len()).step_by(a.batch) {
            let last = (first + a.batch).min(series.len());
            let ts: Vec<TimeSeries> = (first..last)
                .map(|si| {
                    let (labels, kind) = &series[si];
                    let pts = (k0..k1)
                        .map(|k| {
                            if k > 0 {
                                values[si] += increment(*kind, k as u64);
                            }
                            samples += 1;
                            Sample {
                                t: start + k as i64 * a.interval_ms,
                                v: values[si],
                            }
                        })
                        .collect();
                    TimeSeries {
                        labels: labels.clone(),
                        samples: pts,
                        exemplars: Vec::new(),
                        histograms_dropped: 0,
                        metadata: None,
                    }
                })
                .collect();
            bodies.push(diamond_wire::compress_snappy(&diamond_wire::encode_remote_write_v1(
                &WriteBatch {
                    series: ts,
                    metadata: Vec::new(),
                    rejected: Vec::new(),
                },
            )));
        }
        for url in &a.url {
            let next = AtomicUsize::new(0);
            let failures = AtomicUsize::new(0);
            let first_error = std::sync::Mutex::new(None::<String>);
            std::thread::scope(|s| {
                for _ in 0..a.concurrency.max(1) {
                    s.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(body) = bodies.get(i) else { break };
                            let res = client
                                .post(url)
                                .header("Content-Type", "application/x-protobuf")
                                .header("Content-Encoding", "snappy")
                                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                                .body(body.clone())
                                .send();
                            let err = match res {
                                Ok(r) if r.status().is_success() => None,
                                Ok(r) => Some(format!("{}: {}", r.status(), r.text().unwrap_or_default())),
                                Err(e) => Some(e.to_string()),
                            };
                            if let Some(e) = err {
                                failures.fetch_add(1, Ordering::SeqCst);
                                first_error.lock().expect("lock").get_or_insert(e);
                            }
                        }
                    });
                }
            });
            let f = failures.load(Ordering::SeqCst);
            if f > 0 {
                let e = first_error.into_inner().ok().flatten().unwrap_or_default();
                bail!("{f} requests to {url} failed, first: {e}");
            }
        }
        requests += bodies.len() * a.url.len();
        k0 = k1;
    }
    let elapsed = began.elapsed().as_secs_f64();
    let first = start;
    println!(
        "{{\"series\":{},\"samples_per_server\":{samples},\"requests\":{requests},\"first_ms\":{first},\"end_ms\":{},\"elapsed_s\":{elapsed:.3}}}",
        series.len(),
        a.end_ms
    );
    std::io::stdout().flush().context("stdout")?;
    Ok(())
}
