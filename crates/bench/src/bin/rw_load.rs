//! Sends a fixed remote-write load to a server: `--series` series, `--rounds` samples each (one round =
//! every series once, at timestamps `--interval-ms` apart), in requests of `--batch` series, from
//! `--concurrency` threads. Request bodies are built before the clock starts, so the figure measures the
//! server. Prints one JSON line with counts and elapsed time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::bail;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Remote-write URL.
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// One exemplar per this many series (0 = none).
    #[arg(long, default_value_t = 100)]
    exemplar_every: usize,
    #[arg(long, default_value_t = 15_000)]
    interval_ms: i64,
    /// First timestamp (ms); default: now minus rounds × interval, so data is recent and in order.
    #[arg(long)]
    start_ms: Option<i64>,
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = Args::parse();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let start = a.start_ms.unwrap_or(now - (a.rounds as i64) * a.interval_ms);
    // Rounds are sent in order (a round's timestamps must all be written before the next round's).
    let mut rounds: Vec<Vec<Vec<u8>>> = Vec::with_capacity(a.rounds);
    for r in 0..a.rounds {
        let t = start + r as i64 * a.interval_ms;
        rounds.push(
            (0..a.series)
                .step_by(a.batch)
                .map(|first| diamond_bench::request(first, a.batch.min(a.series - first), t, a.exemplar_every))
                .collect(),
        );
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let began = Instant::now();
    let mut requests = 0usize;
    for bodies in rounds {
        let bodies = Arc::new(bodies);
        let next = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..a.concurrency.max(1) {
                let (bodies, next, failures, client, url) = (
                    Arc::clone(&bodies),
                    Arc::clone(&next),
                    Arc::clone(&failures),
                    client.clone(),
                    a.url.clone(),
                );
                s.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(body) = bodies.get(i) else { break };
                        let ok = client
                            .post(&url)
                            .header("Content-Type", "application/x-protobuf")
                            .header("Content-Encoding", "snappy")
                            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                            .body(body.clone())
                            .send()
                            .is_ok_and(|r| r.status().is_success());
                        if !ok {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        let f = failures.load(Ordering::SeqCst);
        if f > 0 {
            bail!("{f} requests failed");
        }
        requests += bodies.len();
    }
    let elapsed = began.elapsed().as_secs_f64();
    println!(
        "{{\"requests\":{requests},\"samples\":{},\"elapsed_s\":{elapsed:.3}}}",
        a.series * a.rounds
    );
    Ok(())
}
