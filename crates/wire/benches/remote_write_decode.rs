//! Decompress + decode of a realistic remote write request: 2000 series with one sample each (what a
//! Prometheus sender puts in one request with the default `max_samples_per_send: 2000`), 9 labels per
//! series in a kube-like shape, and an exemplar on every tenth series. Throughput is in samples.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use diamond_model::{Exemplar, Labels, Sample};
use diamond_wire::{
    Limits, RemoteWriteVersion, TimeSeries, WriteBatch, compress_snappy, decode_remote_write, encode_remote_write_v1,
    encode_remote_write_v2,
};
use std::hint::black_box;

const SERIES: usize = 2000;

fn realistic_batch() -> WriteBatch {
    let t0 = 1_764_000_000_000i64;
    let series = (0..SERIES)
        .map(|i| {
            let metric = [
                "http_requests_total",
                "http_request_duration_seconds_bucket",
                "process_cpu_seconds_total",
            ][i % 3];
            let pod = format!("api-7d9f8c6b5-{:05}", i / 20);
            let labels = Labels::from_pairs(&[
                ("__name__", metric),
                ("job", "kubernetes-pods"),
                ("namespace", "production"),
                ("pod", pod.as_str()),
                ("instance", &format!("10.1.{}.{}:8080", (i / 250) % 256, i % 250)),
                ("container", "api"),
                ("method", ["GET", "POST", "PUT", "DELETE"][i % 4]),
                ("code", ["200", "404", "500"][i % 3]),
                ("le", &format!("{}", 0.005 * (1 << (i % 10)) as f64)),
            ]);
            let exemplars = if i % 10 == 0 {
                vec![Exemplar {
                    labels: Labels::from_pairs(&[
                        (
                            "trace_id",
                            format!("{:032x}", i as u128 * 0x9e37_79b9_7f4a_7c15).as_str(),
                        ),
                        ("span_id", format!("{:016x}", i as u64 * 0x2545_f491_4f6c_dd1d).as_str()),
                    ]),
                    value: 0.042,
                    ts: t0 + i as i64,
                    has_ts: true,
                }]
            } else {
                Vec::new()
            };
            TimeSeries {
                labels,
                samples: vec![Sample {
                    t: t0 + (i as i64 % 15_000),
                    v: i as f64 * 1.5,
                }],
                exemplars,
                ..Default::default()
            }
        })
        .collect();
    WriteBatch {
        series,
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let batch = realistic_batch();
    let samples = batch.sample_count() as u64;
    let limits = Limits::default();
    let mut group = c.benchmark_group("remote_write_decode");
    group.throughput(Throughput::Elements(samples));
    for (name, version, raw) in [
        (
            "decompress and decode a 2000-series 1.0 request",
            RemoteWriteVersion::V1,
            encode_remote_write_v1(&batch),
        ),
        (
            "decompress and decode a 2000-series 2.0 request",
            RemoteWriteVersion::V2,
            encode_remote_write_v2(&batch),
        ),
    ] {
        let body = compress_snappy(&raw);
        eprintln!("{name}: {} bytes protobuf, {} bytes snappy", raw.len(), body.len());
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = decode_remote_write(black_box(&body), version, &limits).expect("valid request");
                assert_eq!(out.series.len(), SERIES);
                out
            })
        });
    }
    // A request as Prometheus 3.5.3 itself sends it (see testdata/README.md).
    let captured = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/prometheus-3.5.3-v1.snappy"
    ))
    .expect("testdata/prometheus-3.5.3-v1.snappy is checked in");
    let n = decode_remote_write(&captured, RemoteWriteVersion::V1, &limits)
        .expect("valid request")
        .sample_count();
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(
        "decompress and decode a 1243-series 1.0 request captured from Prometheus 3.5.3",
        |b| {
            b.iter(|| {
                decode_remote_write(black_box(&captured), RemoteWriteVersion::V1, &limits).expect("valid request")
            })
        },
    );
    group.throughput(Throughput::Elements(samples));

    // The receiver's 1.0 hot path: labels stay raw bytes (what a cache hit costs to decode).
    let body = compress_snappy(&encode_remote_write_v1(&batch));
    group.bench_function(
        "decompress and raw-decode a 2000-series 1.0 request (labels not decoded)",
        |b| {
            b.iter(|| {
                let raw = diamond_wire::decompress_snappy(black_box(&body), &limits).expect("valid snappy");
                let req = diamond_wire::decode_remote_write_v1_raw(&raw).expect("valid request");
                assert_eq!(req.series().len(), SERIES);
                req.series()
                    .filter_map(|s| s.label_key().map(|k| k.len()))
                    .sum::<usize>()
            })
        },
    );

    // Baseline for noise: snappy alone.
    let body = compress_snappy(&encode_remote_write_v1(&batch));
    group.bench_function("baseline: snappy decompression of the 1.0 request alone", |b| {
        b.iter_batched(
            || (),
            |()| diamond_wire::decompress_snappy(black_box(&body), &limits).expect("valid snappy"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
