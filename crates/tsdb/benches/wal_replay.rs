//! WAL replay on open: 100 000 series with 10 samples each (1M samples) and 1 exemplar per 100 samples,
//! replayed into a fresh head. (The figure is 1M series; this runs on a shared 2-core machine.)

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diamond_model::{Exemplar, Labels};
use diamond_tsdb::{Db, Options};

const SERIES: usize = 100_000;
const STEPS: i64 = 10;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        let ls: Vec<Labels> = (0..SERIES)
            .map(|i| {
                Labels::from_pairs(&[
                    ("__name__", format!("metric_{}", i % 100).as_str()),
                    ("instance", format!("host-{}:9100", i / 100).as_str()),
                    ("job", "node"),
                ])
            })
            .collect();
        let mut refs = vec![0u64; SERIES];
        for step in 0..STEPS {
            for (chunk, rchunk) in ls.chunks(1000).zip(refs.chunks_mut(1000)) {
                let mut app = db.appender();
                for (k, (l, r)) in chunk.iter().zip(rchunk.iter_mut()).enumerate() {
                    *r = app.append(*r, l, step * 15_000, step as f64).expect("append");
                    if k % 100 == 0 {
                        let e = Exemplar {
                            labels: Labels::from_pairs(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]),
                            value: 1.0,
                            ts: step * 15_000,
                            has_ts: true,
                        };
                        app.append_exemplar(*r, l, &e).expect("exemplar");
                    }
                }
                app.commit().expect("commit");
            }
        }
        db.close().expect("close");
    }
    let mut g = c.benchmark_group("wal_replay");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(SERIES as u64 * STEPS as u64));
    g.bench_function("replay 100k series x 10 samples with 1 exemplar per 100", |b| {
        // The opened Db is dropped outside the timed region.
        b.iter_with_large_drop(|| {
            let db = Db::open(dir.path(), Options::default()).expect("open");
            assert_eq!(db.stats().num_series, SERIES as u64);
            db
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
