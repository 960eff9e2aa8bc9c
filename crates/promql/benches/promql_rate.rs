//! Range-query throughput of the hot PromQL paths over MemStorage: `rate`, `sum by (job) (rate)` and
//! `histogram_quantile` over 1,000 series holding 6 hours of samples at a 15s interval (1.44M samples),
//! evaluated over the full 6h at a 60s step.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diamond_model::Labels;
use diamond_model::storage::memory::MemStorage;
use diamond_promql::{CancelToken, Engine, EngineOptions};

const SERIES: usize = 1000;
const INTERVAL_MS: i64 = 15_000;
const SPAN_MS: i64 = 6 * 3600 * 1000;

/// 1,000 counters (`http_requests_total`, 10 jobs × 100 instances) and 1,000 bucket series
/// (`http_request_duration_seconds_bucket`, 100 histograms × 10 `le` values).
fn storage() -> MemStorage {
    let db = MemStorage::new();
    let n = (SPAN_MS / INTERVAL_MS) as usize;
    for s in 0..SERIES {
        let l = Labels::from_pairs(&[
            ("__name__", "http_requests_total".to_owned()),
            ("job", format!("job-{}", s % 10)),
            ("instance", format!("i-{s}")),
        ]);
        let pts: Vec<(i64, f64)> = (0..n)
            .map(|k| (k as i64 * INTERVAL_MS, (k * (1 + s % 7)) as f64))
            .collect();
        db.add(l, &pts);
    }
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    for h in 0..SERIES / les.len() {
        for (bi, le) in les.iter().enumerate() {
            let l = Labels::from_pairs(&[
                ("__name__", "http_request_duration_seconds_bucket".to_owned()),
                ("instance", format!("i-{h}")),
                ("le", (*le).to_owned()),
            ]);
            let pts: Vec<(i64, f64)> = (0..n)
                .map(|k| (k as i64 * INTERVAL_MS, (k * (bi + 1)) as f64))
                .collect();
            db.add(l, &pts);
        }
    }
    db
}

fn bench(c: &mut Criterion) {
    let db = storage();
    let engine = Engine::new(EngineOptions::default());
    let cancel = CancelToken::new();
    let mut g = c.benchmark_group("promql range query over 1k series x 6h at 15s, step 60s");
    g.sample_size(10);
    for (name, q) in [
        ("rate", "rate(http_requests_total[5m])"),
        ("sum by rate", "sum by (job) (rate(http_requests_total[5m]))"),
        (
            "histogram_quantile",
            "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = engine
                    .range_query(&db, q, 0, SPAN_MS, 60_000, &cancel)
                    .expect("benchmark query evaluates");
                black_box(r)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
