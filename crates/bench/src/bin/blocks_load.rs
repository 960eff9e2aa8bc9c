//! Writes the data set of the storage side-by-side benchmark (`scripts/bench-blocks-vs-prometheus.py`) by
//! remote write 1.0, the same request bodies to every `--url` in turn, oldest samples first, so a day of
//! data with advancing timestamps reaches each server in minutes and their heads are cut into blocks.
//!
//! `--kind node`: node-exporter-like hosts of 80 series each (`--series` / 80 hosts): 32 CPU-seconds
//! counters (two-decimal float increments), 8 network and 8 disk byte/packet counters (integer increments
//! of varying size), 3 load averages (two-decimal gauges that move every scrape), 10 memory and 6
//! filesystem gauges of which half are constant and half move by whole pages on about one scrape in
//! eight, 3 filesystem sizes and 10 other constant gauges (boot time, info series, …).
//!
//! `--kind histogram`: classic histograms of 12 series each (`--series` / 12 histograms over 10 handlers
//! per instance): 10 cumulative `_bucket` series (`le` 0.005 … +Inf), `_sum` and `_count`, observations
//! exponentially distributed with a per-histogram scale.
//!
//! Values are a pure function of (series, step): every run writes the same samples. A request holds up to
//! `--batch` series × `--window` consecutive samples; windows go in time order, each window to every URL
//! before the next (so two servers receive the same data at the same wall-clock pace), the requests of one
//! window from `--concurrency` threads. After each window one JSON progress line is printed
//! (`{"window":i,"t_ms":last timestamp,"samples":per server so far}`), at the end a summary line.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use diamond_model::{Labels, Sample};
use diamond_wire::{TimeSeries, WriteBatch};

#[derive(Parser)]
struct Args {
    /// Remote-write URLs; every window goes to each of them in turn.
    #[arg(long, required = true)]
    url: Vec<String>,
    /// `node` or `histogram`.
    #[arg(long, default_value = "node")]
    kind: String,
    /// Number of series (rounded down to whole hosts / histograms).
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Last timestamp (ms).
    #[arg(long)]
    end_ms: i64,
    #[arg(long, default_value_t = 24)]
    hours: i64,
    #[arg(long, default_value_t = 15_000)]
    interval_ms: i64,
    /// Series per request.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Consecutive samples per series per request.
    #[arg(long, default_value_t = 20)]
    window: usize,
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Give up after this many seconds of wall time (the load is bounded in count and in time).
    #[arg(long, default_value_t = 3600)]
    max_seconds: u64,
}

/// How a series' value moves from step to step.
#[derive(Clone, Copy)]
enum Kind {
    /// The same value at every step.
    Const(f64),
    /// Moves by whole pages (4096) on about one step in eight.
    Slow { id: u64 },
    /// Two-decimal increments around `rate` per step (CPU seconds).
    FloatCounter { id: u64, rate: f64 },
    /// Integer increments up to `max` per step (bytes, packets, operations).
    IntCounter { id: u64, max: u64 },
    /// A two-decimal gauge that moves a little every step (load average).
    Wobbly { id: u64 },
    /// Bucket of histogram `hist` with upper bound `upper` (cumulative count).
    Bucket { hist: u64, upper: f64 },
    /// `_sum` of histogram `hist`.
    Sum { hist: u64 },
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

/// A constant series: metric name, extra labels, value.
type ConstSeries = (&'static str, &'static [(&'static str, &'static str)], f64);

fn node_population(n: usize) -> Vec<(Labels, Kind, f64)> {
    let mut out = Vec::new();
    let mut id = 0u64;
    let mut next = || {
        id += 1;
        id
    };
    for h in 0..n / 80 {
        let inst = format!("host-{h:05}:9100");
        let base = |name: &str, extra: &[(&str, &str)]| {
            let mut pairs = vec![("__name__", name), ("job", "node"), ("instance", inst.as_str())];
            pairs.extend_from_slice(extra);
            Labels::from_pairs(&pairs)
        };
        for cpu in 0..4 {
            let c = cpu.to_string();
            for (mode, rate) in [
                ("idle", 13.9),
                ("user", 0.6),
                ("system", 0.25),
                ("iowait", 0.05),
                ("irq", 0.0),
                ("softirq", 0.02),
                ("nice", 0.0),
                ("steal", 0.01),
            ] {
                let l = base("node_cpu_seconds_total", &[("cpu", c.as_str()), ("mode", mode)]);
                out.push((l, Kind::FloatCounter { id: next(), rate }, 1000.0 * rate));
            }
        }
        for dev in ["eth0", "lo"] {
            for (m, max) in [
                ("node_network_receive_bytes_total", 200_000),
                ("node_network_transmit_bytes_total", 150_000),
                ("node_network_receive_packets_total", 300),
                ("node_network_transmit_packets_total", 250),
            ] {
                let l = base(m, &[("device", dev)]);
                out.push((l, Kind::IntCounter { id: next(), max }, 1e6));
            }
        }
        for dev in ["sda", "sdb"] {
            for (m, max) in [
                ("node_disk_read_bytes_total", 40_960),
                ("node_disk_written_bytes_total", 81_920),
                ("node_disk_reads_completed_total", 10),
                ("node_disk_writes_completed_total", 20),
            ] {
                let l = base(m, &[("device", dev)]);
                out.push((l, Kind::IntCounter { id: next(), max }, 1e5));
            }
        }
        for m in ["node_load1", "node_load5", "node_load15"] {
            out.push((base(m, &[]), Kind::Wobbly { id: next() }, 1.0));
        }
        for (i, m) in [
            "MemTotal",
            "SwapTotal",
            "HugePages_Total",
            "Hugepagesize",
            "VmallocTotal",
            "MemAvailable",
            "MemFree",
            "Cached",
            "Buffers",
            "Active",
        ]
        .iter()
        .enumerate()
        {
            let l = base(&format!("node_memory_{m}_bytes"), &[]);
            let v = 17_179_869_184.0 / (i + 1) as f64;
            let kind = if i < 5 {
                Kind::Const(v.floor())
            } else {
                Kind::Slow { id: next() }
            };
            out.push((l, kind, v.floor()));
        }
        for (mp, dev) in [("/", "/dev/sda1"), ("/var", "/dev/sda2"), ("/data", "/dev/sdb1")] {
            let size = 107_374_182_400.0;
            let fs = [("device", dev), ("fstype", "ext4"), ("mountpoint", mp)];
            out.push((base("node_filesystem_size_bytes", &fs), Kind::Const(size), size));
            out.push((
                base("node_filesystem_avail_bytes", &fs),
                Kind::Slow { id: next() },
                size / 2.0,
            ));
            out.push((
                base("node_filesystem_free_bytes", &fs),
                Kind::Slow { id: next() },
                size / 1.8,
            ));
        }
        let consts: [ConstSeries; 10] = [
            ("node_boot_time_seconds", &[], 1.7e9 + h as f64),
            (
                "node_uname_info",
                &[("release", "6.1.0-28-amd64"), ("machine", "x86_64")],
                1.0,
            ),
            ("node_os_info", &[("id", "debian"), ("version_id", "12")], 1.0),
            (
                "node_exporter_build_info",
                &[("version", "1.8.2"), ("goversion", "go1.22.5")],
                1.0,
            ),
            ("node_time_zone_offset_seconds", &[("time_zone", "UTC")], 0.0),
            ("node_network_up", &[("device", "eth0")], 1.0),
            ("node_network_mtu_bytes", &[("device", "eth0")], 1500.0),
            ("node_filefd_maximum", &[], 9_223_372_036_854_775_807.0),
            ("node_entropy_pool_size_bits", &[], 256.0),
            ("up", &[], 1.0),
        ];
        for (m, extra, v) in consts {
            out.push((base(m, extra), Kind::Const(v), v));
        }
    }
    out
}

fn histogram_population(n: usize) -> Vec<(Labels, Kind, f64)> {
    let mut out = Vec::new();
    let hists = n / 12;
    for hi in 0..hists {
        let (i, h) = (hi / 10, hi % 10);
        let inst = format!("10.1.{}.{}:8080", i / 256, i % 256);
        let handler = format!("/api/v1/h{h}");
        let job = format!("api-{}", i % 5);
        let l = |name: &str, le: Option<&str>| {
            let mut pairs = vec![
                ("__name__", name),
                ("job", job.as_str()),
                ("instance", inst.as_str()),
                ("handler", handler.as_str()),
            ];
            if let Some(le) = le {
                pairs.push(("le", le));
            }
            Labels::from_pairs(&pairs)
        };
        let hist = hi as u64;
        for le in LES {
            let upper = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("the le bounds above are numbers")
            };
            out.push((
                l("http_request_duration_seconds_bucket", Some(le)),
                Kind::Bucket { hist, upper },
                0.0,
            ));
        }
        out.push((l("http_request_duration_seconds_sum", None), Kind::Sum { hist }, 0.0));
        out.push((
            l("http_request_duration_seconds_count", None),
            Kind::Bucket {
                hist,
                upper: f64::INFINITY,
            },
            0.0,
        ));
    }
    out
}

/// Observations of histogram `hist` in step `k`, and their per-histogram latency scale.
fn observations(hist: u64, k: u64) -> (f64, f64) {
    let n = (10 + mix(hist ^ (k << 20)) % 40) as f64;
    let scale = 0.02 + (mix(hist) % 980) as f64 / 1000.0;
    (n, scale)
}

/// The value after step `k` given the previous one.
fn step(kind: Kind, prev: f64, k: u64) -> f64 {
    let r = |id: u64| mix(id ^ (k << 24));
    match kind {
        Kind::Const(v) => v,
        Kind::Slow { id } => {
            let x = r(id);
            if x % 8 == 0 {
                let pages = (x >> 8) % 64;
                let up = (x >> 16) % 2 == 0;
                (prev + if up { 4096.0 } else { -4096.0 } * pages as f64).max(0.0)
            } else {
                prev
            }
        }
        Kind::FloatCounter { id, rate } => {
            // Two-decimal increments within ±10% of the rate (the kernel's USER_HZ ticks).
            let cents = (rate * 100.0).round() as u64;
            let jitter = if cents == 0 { 0 } else { r(id) % (cents / 5 + 1) };
            let inc = (cents - cents / 10 + jitter) as f64 / 100.0;
            ((prev + inc) * 100.0).round() / 100.0
        }
        Kind::IntCounter { id, max } => prev + (r(id) % (max + 1)) as f64,
        Kind::Wobbly { id } => {
            let x = r(id) % 21;
            ((prev + (x as f64 - 10.0) / 100.0).clamp(0.0, 16.0) * 100.0).round() / 100.0
        }
        Kind::Bucket { hist, upper } => {
            let (n, scale) = observations(hist, k);
            prev + if upper.is_infinite() {
                n
            } else {
                (n * (1.0 - (-upper / scale).exp())).round()
            }
        }
        Kind::Sum { hist } => {
            let (n, scale) = observations(hist, k);
            prev + (n * scale * 1000.0).round() / 1000.0
        }
    }
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = Args::parse();
    let series = match a.kind.as_str() {
        "node" => node_population(a.series),
        "histogram" => histogram_population(a.series),
        k => bail!("--kind must be node or histogram, not {k:?}"),
    };
    let steps = (a.hours * 3_600_000 / a.interval_ms) as usize + 1;
    let start = a.end_ms - (steps as i64 - 1) * a.interval_ms;
    let mut values: Vec<f64> = series.iter().map(|s| s.2).collect();
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let began = Instant::now();
    let (mut requests, mut samples, mut k0, mut window) = (0usize, 0usize, 0usize, 0usize);
    while k0 < steps {
        if began.elapsed().as_secs() > a.max_seconds {
            bail!("time budget of {} s used up at step {k0} of {steps}", a.max_seconds);
        }
        let k1 = (k0 + a.window).min(steps);
        let mut bodies = Vec::new();
        for first in (0..series.len()).step_by(a.batch) {
            let last = (first + a.batch).min(series.len());
            let ts: Vec<TimeSeries> = (first..last)
                .map(|si| {
                    let (labels, kind, _) = &series[si];
                    let pts = (k0..k1)
                        .map(|k| {
                            if k > 0 {
                                values[si] = step(*kind, values[si], k as u64);
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
        window += 1;
        let t = start + (k1 as i64 - 1) * a.interval_ms;
        println!("{{\"window\":{window},\"t_ms\":{t},\"samples\":{samples}}}");
        std::io::stdout().flush().context("stdout")?;
    }
    println!(
        "{{\"done\":true,\"series\":{},\"samples_per_server\":{samples},\"requests\":{requests},\"first_ms\":{start},\"end_ms\":{},\"elapsed_s\":{:.3}}}",
        series.len(),
        a.end_ms,
        began.elapsed().as_secs_f64()
    );
    std::io::stdout().flush().context("stdout")?;
    Ok(())
}
