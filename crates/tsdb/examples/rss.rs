//! Measures resident memory per active series: RSS before and after loading N series (default 100 000)
//! with S samples each (default 120, one full chunk, at a 15 s interval), in scrape-sized commits.
//!
//! Run: `cargo run --release -p diamond-tsdb --example rss -- [series] [samples]` (Linux: reads
//! `/proc/self/status`).

use std::time::Instant;

use diamond_model::Labels;
use diamond_tsdb::{Db, FsyncPolicy, Options};

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A node-exporter-like label set: 100 metric names × hosts, 6 labels.
fn labels(i: usize) -> Labels {
    let metric = format!("node_metric_{}_total", i % 100);
    let host = format!("host-{:05}.example.com:9100", i / 100);
    let cpu = (i / 7 % 16).to_string();
    Labels::from_pairs(&[
        ("__name__", metric.as_str()),
        ("instance", host.as_str()),
        ("job", "node"),
        ("cpu", cpu.as_str()),
        ("mode", ["user", "system", "idle", "iowait"][i % 4]),
        ("env", "prod"),
    ])
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let samples: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(120);
    let dir = tempfile::tempdir().expect("tempdir");
    let all: Vec<Labels> = (0..n).map(labels).collect();
    let before = rss_bytes();
    let db = Db::open(
        dir.path(),
        Options {
            wal_fsync: FsyncPolicy::Interval(std::time::Duration::from_secs(5)),
            ..Options::default()
        },
    )
    .expect("open");
    let mut refs = vec![0u64; n];
    let started = Instant::now();
    let base = 1_700_000_000_000i64;
    for step in 0..samples {
        let t = base + step * 15_000;
        // One commit per 1000 series, like many scrape targets.
        for (chunk, rchunk) in all.chunks(1000).zip(refs.chunks_mut(1000)) {
            let mut app = db.appender();
            for (l, r) in chunk.iter().zip(rchunk.iter_mut()) {
                let v = (step as f64) * 1.5 + (*r % 7) as f64;
                *r = app.append(*r, l, t, v).expect("append");
            }
            app.commit().expect("commit");
        }
        if step == 0 {
            let after1 = rss_bytes();
            println!(
                "after 1 sample/series: rss delta {} MiB, {} bytes/series",
                (after1 - before) >> 20,
                (after1 - before) / n as u64
            );
        }
    }
    let elapsed = started.elapsed();
    let after = rss_bytes();
    let st = db.stats();
    println!(
        "{} series x {} samples: {} samples in {:.2?} ({:.1} M samples/s)",
        n,
        samples,
        st.samples_appended,
        elapsed,
        st.samples_appended as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "rss before {} MiB, after {} MiB, delta {} MiB = {} bytes/series (chunks {}, symbols {})",
        before >> 20,
        after >> 20,
        (after - before) >> 20,
        (after - before) / n as u64,
        st.chunks,
        st.symbols
    );
    drop(all);
    db.close().expect("close");
    drop(db);
    let started = Instant::now();
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    println!(
        "replay: {} series, {} samples, {} WAL bytes in {:.2?}",
        db.stats().num_series,
        db.stats().samples_appended,
        db.stats().wal_bytes,
        started.elapsed()
    );
}
