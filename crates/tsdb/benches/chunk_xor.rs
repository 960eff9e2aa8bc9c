//! XOR chunk codec throughput: encoding and decoding a full 120-sample chunk, for a regular counter and
//! for noisy gauge values (the expensive XOR path).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diamond_tsdb::chunk::{XorAppender, XorIter};

fn samples(noisy: bool) -> Vec<(i64, f64)> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..120)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let jitter = (x % 5) as i64 - 2;
            let v = if noisy {
                (x >> 11) as f64 / (1u64 << 53) as f64 * 100.0
            } else {
                (i * 12) as f64
            };
            (1_700_000_000_000 + i * 15_000 + jitter, v)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunk_xor");
    g.throughput(Throughput::Elements(120));
    g.bench_function("baseline: copy 120 samples into a vec", |b| {
        let s = samples(false);
        b.iter(|| black_box(s.clone()))
    });
    for (name, noisy) in [("counter", false), ("noisy gauge", true)] {
        let s = samples(noisy);
        g.bench_function(format!("encode 120 samples of a {name}"), |b| {
            b.iter(|| {
                let mut a = XorAppender::new();
                for &(t, v) in &s {
                    a.append(t, v);
                }
                black_box(a.into_bytes())
            })
        });
        let mut a = XorAppender::new();
        for &(t, v) in &s {
            a.append(t, v);
        }
        let bytes = a.into_bytes();
        g.bench_function(format!("decode 120 samples of a {name} ({} bytes)", bytes.len()), |b| {
            b.iter(|| {
                let mut it = XorIter::new(&bytes);
                let mut sum = 0.0;
                while let Ok(Some((_, v))) = it.next_sample() {
                    sum += v;
                }
                black_box(sum)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
