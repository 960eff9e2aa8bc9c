//! Fair-store append throughput: 100 000 W3C exemplars (`trace_id` + `span_id`, as remote write sends them)
//! over 1 000 series, 4 per series per simulated 15 s, timestamps advancing. Cases: one `append` per
//! exemplar (the lock per exemplar, as the TSDB did before `append_batch`) and `append_batch` of 500 per
//! call (what one remote-write commit does), each into a store with room for all (no thinning) and into
//! one of a tenth of that (every append past the first 10 000 thins: the steady state of a full store).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use diamond_exemplars::{ExemplarStore, FairStore};
use diamond_model::{Exemplar, Labels};

const SERIES: usize = 1_000;
const EXEMPLARS: usize = 100_000;
const BATCH: usize = 500;

fn series() -> Vec<Labels> {
    (0..SERIES)
        .map(|i| {
            Labels::from_pairs(&[
                ("__name__", "exload_total"),
                ("group", "cold"),
                ("job", "bench"),
                ("series", format!("s{i:05}").as_str()),
            ])
        })
        .collect()
}

/// `(series index, exemplar)` in arrival order: every series gets one per round, rounds 3.75 s apart.
fn stream() -> Vec<(usize, Exemplar)> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..EXEMPLARS)
        .map(|n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let round = (n / SERIES) as i64;
            let e = Exemplar {
                labels: Labels::from_pairs(&[
                    ("span_id", format!("{:016x}", x >> 1).as_str()),
                    ("trace_id", format!("{:016x}{:016x}", x, x.rotate_left(29)).as_str()),
                ]),
                value: (x % 1000) as f64 / 1000.0,
                ts: 1_700_000_000_000 + round * 3_750 + (n % SERIES) as i64,
                has_ts: true,
            };
            (n % SERIES, e)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ls = series();
    let ex = stream();
    let mut g = c.benchmark_group("fair_append");
    g.throughput(Throughput::Elements(EXEMPLARS as u64));
    g.sample_size(10);
    for (name, budget) in [("room", EXEMPLARS), ("full", EXEMPLARS / 10)] {
        g.bench_function(format!("one_by_one/{name}"), |b| {
            b.iter_batched(
                || FairStore::new(budget),
                |store| {
                    for (i, e) in &ex {
                        let _ = store.append(*i as u64 + 1, &ls[*i], e);
                    }
                    store
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("batch_{BATCH}/{name}"), |b| {
            b.iter_batched(
                || FairStore::new(budget),
                |store| {
                    for chunk in ex.chunks(BATCH) {
                        let items: Vec<(u64, &Exemplar)> = chunk.iter().map(|(i, e)| (*i as u64 + 1, e)).collect();
                        let _ = store.append_batch(&items, &|k| ls[chunk[k].0].clone());
                    }
                    store
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
