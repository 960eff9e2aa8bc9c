//! Sends a skewed exemplar stream by remote write 1.0 (issue 5's benchmarks): `--series` series of metric
//! `exload_total`, the first `--hot` of them (label `group="hot"`) offering `--hot-factor` times the
//! exemplar rate of the others (`--rate` per minute, `group="cold"`), over `--minutes` of simulated time in
//! `--ticks` ticks per minute. Each tick is one sample per series (at the tick's end) plus that tick's share
//! of the series' exemplars (each minute gets exactly its rate; timestamps strictly ascending per series,
//! inside the tick), with W3C `trace_id`/`span_id` labels and latency-like values. Ticks are sent in order;
//! the requests of one tick (`--batch` series each) go out from `--concurrency` threads. Bounded: the
//! stream is finite and every request has a timeout.
//!
//! With `--prebuild` every body is built before the clock starts (throughput runs); otherwise a producer
//! thread builds ticks ahead (large fills). Prints one JSON line: exemplars and samples offered, requests,
//! elapsed seconds, and the first and last timestamps.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use diamond_model::{Exemplar, Labels, Sample};
use diamond_wire::{TimeSeries, WriteBatch};

#[derive(Parser, Clone)]
struct Args {
    /// Remote-write URL.
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 1000)]
    series: usize,
    /// How many of the series (the first ones) are hot.
    #[arg(long, default_value_t = 100)]
    hot: usize,
    /// Exemplars per minute of a cold series.
    #[arg(long, default_value_t = 1)]
    rate: u64,
    /// A hot series offers this many times `--rate`.
    #[arg(long, default_value_t = 100)]
    hot_factor: u64,
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// Ticks (samples) per minute.
    #[arg(long, default_value_t = 4)]
    ticks: u64,
    #[arg(long, default_value_t = 500)]
    batch: usize,
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// First timestamp (ms, aligned down to a minute); default: now minus the simulated span.
    #[arg(long)]
    start_ms: Option<i64>,
    /// Build every request body before the clock starts.
    #[arg(long)]
    prebuild: bool,
    /// Send samples only (the baseline for memory deltas).
    #[arg(long)]
    no_exemplars: bool,
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

/// Exemplars of series `k` in global tick `g` (`n` per minute of `t` ticks): exactly `n` per minute.
fn count_in_tick(n: u64, t: u64, g: u64, k: usize) -> u64 {
    let phase = k as u64 % t;
    ((g + 1 + phase) * n) / t - ((g + phase) * n) / t
}

fn series_labels(k: usize, hot: bool) -> Labels {
    Labels::from_pairs(&[
        ("__name__", "exload_total"),
        ("group", if hot { "hot" } else { "cold" }),
        ("job", "exload"),
        ("series", format!("s{k:05}").as_str()),
    ])
}

struct Tick {
    bodies: Vec<Vec<u8>>,
    exemplars: u64,
    samples: u64,
}

fn build_tick(a: &Args, labels: &[Labels], start: i64, g: u64) -> Tick {
    let tick_ms = 60_000 / a.ticks as i64;
    let t0 = start + g as i64 * tick_ms;
    let mut bodies = Vec::new();
    let (mut exemplars, mut samples) = (0u64, 0u64);
    for first in (0..a.series).step_by(a.batch) {
        let series: Vec<TimeSeries> = (first..(first + a.batch).min(a.series))
            .map(|k| {
                let hot = k < a.hot;
                let n = if a.no_exemplars {
                    0
                } else if hot {
                    a.rate * a.hot_factor
                } else {
                    a.rate
                };
                let c = count_in_tick(n, a.ticks, g, k);
                let ex: Vec<Exemplar> = (0..c)
                    .map(|i| {
                        let h = mix((k as u64) << 40 ^ g << 16 ^ i);
                        // Latency-like: mostly 5–100 ms, one in 50 a slow one up to 5 s.
                        let value = if h.is_multiple_of(50) {
                            1.0 + (h >> 8) as f64 / (1u64 << 56) as f64 * 4.0
                        } else {
                            0.005 + (h >> 8) as f64 / (1u64 << 56) as f64 * 0.095
                        };
                        let trace = format!("{:016x}{:016x}", mix(h), h);
                        let span = format!("{:016x}", mix(h ^ 0x5bd1e995));
                        Exemplar {
                            labels: Labels::from_pairs(&[("span_id", span.as_str()), ("trace_id", trace.as_str())]),
                            value,
                            ts: t0 + (i as i64 * tick_ms) / c as i64,
                            has_ts: true,
                        }
                    })
                    .collect();
                exemplars += ex.len() as u64;
                samples += 1;
                TimeSeries {
                    labels: labels[k].clone(),
                    samples: vec![Sample {
                        t: t0 + tick_ms - 1,
                        v: g as f64,
                    }],
                    exemplars: ex,
                    histograms_dropped: 0,
                    metadata: None,
                }
            })
            .collect();
        bodies.push(diamond_wire::compress_snappy(&diamond_wire::encode_remote_write_v1(
            &WriteBatch {
                series,
                metadata: Vec::new(),
                rejected: Vec::new(),
            },
        )));
    }
    Tick {
        bodies,
        exemplars,
        samples,
    }
}

fn send_tick(client: &reqwest::blocking::Client, url: &str, tick: &Tick, concurrency: usize) -> anyhow::Result<()> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(body) = tick.bodies.get(i) else {
                            return Ok(());
                        };
                        let r = client
                            .post(url)
                            .header("Content-Type", "application/x-protobuf")
                            .header("Content-Encoding", "snappy")
                            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                            .body(body.clone())
                            .send()?;
                        if !r.status().is_success() {
                            bail!("status {}: {}", r.status(), r.text().unwrap_or_default());
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow::anyhow!("sender panicked"))?)
    })
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = Args::parse();
    if a.ticks == 0 || a.ticks > 60 || a.series == 0 || a.batch == 0 {
        bail!("--ticks must be 1..=60, --series and --batch positive");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let span = a.minutes as i64 * 60_000;
    let start = a.start_ms.unwrap_or(now - span).div_euclid(60_000) * 60_000;
    let labels: Vec<Labels> = (0..a.series).map(|k| series_labels(k, k < a.hot)).collect();
    let total_ticks = a.minutes * a.ticks;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let (mut exemplars, mut samples, mut requests) = (0u64, 0u64, 0usize);
    let elapsed;
    if a.prebuild {
        let ticks: Vec<Tick> = (0..total_ticks).map(|g| build_tick(&a, &labels, start, g)).collect();
        let began = Instant::now();
        for t in &ticks {
            send_tick(&client, &a.url, t, a.concurrency)?;
            exemplars += t.exemplars;
            samples += t.samples;
            requests += t.bodies.len();
        }
        elapsed = began.elapsed();
    } else {
        let (tx, rx) = mpsc::sync_channel::<Tick>(4);
        let producer = {
            let a = a.clone();
            let labels = labels.clone();
            std::thread::spawn(move || {
                for g in 0..total_ticks {
                    if tx.send(build_tick(&a, &labels, start, g)).is_err() {
                        return;
                    }
                }
            })
        };
        let began = Instant::now();
        for t in rx {
            send_tick(&client, &a.url, &t, a.concurrency)?;
            exemplars += t.exemplars;
            samples += t.samples;
            requests += t.bodies.len();
        }
        elapsed = began.elapsed();
        producer.join().map_err(|_| anyhow::anyhow!("producer panicked"))?;
    }
    println!(
        "{{\"exemplars\":{exemplars},\"samples\":{samples},\"requests\":{requests},\"elapsed_s\":{:.3},\"start_ms\":{start},\"end_ms\":{}}}",
        elapsed.as_secs_f64(),
        start + span
    );
    Ok(())
}
