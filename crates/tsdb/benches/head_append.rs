//! Head append throughput: 1M samples (10 000 series × 100 scrapes, one commit per 1 000 series) into a
//! fresh `Db`, without exemplars and with 1 exemplar per 100 samples.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diamond_model::{Exemplar, Labels};
use diamond_tsdb::{Db, Options};

const SERIES: usize = 10_000;
const STEPS: i64 = 100;

fn labels() -> Vec<Labels> {
    (0..SERIES)
        .map(|i| {
            Labels::from_pairs(&[
                ("__name__", format!("http_requests_{}_total", i % 50).as_str()),
                ("instance", format!("10.0.{}.{}:8080", i / 250, i % 250).as_str()),
                ("job", "api"),
                ("code", ["200", "404", "500"][i % 3]),
            ])
        })
        .collect()
}

fn run(ls: &[Labels], exemplar_every: usize) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut refs = vec![0u64; ls.len()];
    let started = Instant::now();
    let mut n = 0usize;
    for step in 0..STEPS {
        let t = 1_700_000_000_000 + step * 15_000;
        for (chunk, rchunk) in ls.chunks(1000).zip(refs.chunks_mut(1000)) {
            let mut app = db.appender();
            for (l, r) in chunk.iter().zip(rchunk.iter_mut()) {
                *r = app.append(*r, l, t, (step * 3) as f64).expect("append");
                n += 1;
                if exemplar_every > 0 && n.is_multiple_of(exemplar_every) {
                    let e = Exemplar {
                        labels: Labels::from_pairs(&[("trace_id", format!("{n:032x}").as_str())]),
                        value: 0.25,
                        ts: t,
                        has_ts: true,
                    };
                    app.append_exemplar(*r, l, &e).expect("exemplar");
                }
            }
            app.commit().expect("commit");
        }
    }
    let d = started.elapsed();
    db.close().expect("close");
    d
}

fn bench(c: &mut Criterion) {
    let ls = labels();
    let mut g = c.benchmark_group("head_append");
    g.sample_size(10)
        .throughput(Throughput::Elements(SERIES as u64 * STEPS as u64));
    g.bench_function("append 1M samples without exemplars", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run(&ls, 0)).sum())
    });
    g.bench_function("append 1M samples with 1 exemplar per 100", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run(&ls, 100)).sum())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
