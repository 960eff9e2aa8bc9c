//! The append step of a scrape (parse → cache → appender), storage excluded: a no-op appender isolates
//! the scrape's own cost, first scrape (every series a cache miss) against steady state (all hits).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diamond_exposition::Format;
use diamond_model::storage::{AppendError, Appender, SeriesRef};
use diamond_model::{Exemplar, Labels, Metadata, Timestamp};
use diamond_scrape::append::{AppendOptions, ScrapeCache, append_body};

struct Discard(SeriesRef);

impl Appender for Discard {
    fn append(&mut self, hint: SeriesRef, _: &Labels, _: Timestamp, _: f64) -> Result<SeriesRef, AppendError> {
        self.0 += 1;
        Ok(if hint != 0 { hint } else { self.0 })
    }
    fn append_exemplar(&mut self, _: SeriesRef, _: &Labels, _: &Exemplar) -> Result<(), AppendError> {
        Ok(())
    }
    fn update_metadata(&mut self, _: SeriesRef, _: &Labels, _: &Metadata) -> Result<(), AppendError> {
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
    fn rollback(self: Box<Self>) {}
}

/// 10k series in 100 histogram families (OpenMetrics), one exemplar per 100 lines.
fn body() -> String {
    let mut s = String::new();
    for f in 0..100 {
        s.push_str(&format!("# TYPE http_{f}_seconds histogram\n"));
        for i in 0..100 {
            let ex = if i % 100 == 0 {
                " # {trace_id=\"4bf92f3577b34da6\"} 0.5"
            } else {
                ""
            };
            s.push_str(&format!(
                "http_{f}_seconds_bucket{{path=\"/api/v{i}\",code=\"200\",le=\"+Inf\"}} {i}{ex}\n"
            ));
        }
    }
    s.push_str("# EOF\n");
    s
}

fn bench(c: &mut Criterion) {
    let cfg = diamond_config::parse("scrape_configs:\n  - job_name: bench\n", "bench.yml")
        .expect("bench config")
        .scrape_configs
        .remove(0);
    let target = Labels::from_pairs(&[("instance", "host:9100"), ("job", "bench")]);
    let opts = AppendOptions {
        config: &cfg,
        target_labels: &target,
        preferred_openmetrics: true,
    };
    let b = body();
    let mut g = c.benchmark_group("scrape append");
    g.throughput(Throughput::Elements(10_000));
    // Baseline: the parser alone, the floor under both cases below.
    g.bench_function("10k series, parse only (baseline)", |bch| {
        bch.iter(|| black_box(diamond_exposition::count_samples(b.as_bytes(), Format::OpenMetrics).ok()))
    });
    g.bench_function("10k series, first scrape (all cache misses)", |bch| {
        bch.iter(|| {
            let mut cache = ScrapeCache::new();
            let mut app = Discard(0);
            black_box(append_body(&mut app, &mut cache, b.as_bytes(), Format::OpenMetrics, 1_000, &opts).is_ok())
        })
    });
    let mut cache = ScrapeCache::new();
    let mut app = Discard(0);
    let first = append_body(&mut app, &mut cache, b.as_bytes(), Format::OpenMetrics, 1_000, &opts);
    assert!(first.is_ok(), "bench body appends");
    let mut ts = 1_000;
    g.bench_function("10k series, steady state (all cache hits)", |bch| {
        bch.iter(|| {
            ts += 15_000;
            black_box(append_body(&mut app, &mut cache, b.as_bytes(), Format::OpenMetrics, ts, &opts).is_ok())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
