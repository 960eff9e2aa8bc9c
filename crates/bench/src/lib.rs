//! Load generators and data shapes shared by Diamond's end-to-end benchmarks. The library crates keep
//! their own criterion benches; what needs two servers side by side lives here and in
//! `scripts/bench-vs-prometheus`.

use diamond_model::{Exemplar, Labels, Sample};
use diamond_wire::{TimeSeries, WriteBatch};

/// Label set of series `i` of a node-exporter-like population: 100 metric names, each with instances,
/// CPU and mode labels, so that label values repeat as they do in real fleets.
pub fn series_labels(i: usize) -> Labels {
    let metric = i % 100;
    let rest = i / 100;
    Labels::from_pairs(&[
        ("__name__", format!("node_metric_{metric:02}_seconds_total").as_str()),
        ("job", "node"),
        ("instance", format!("host-{:05}:9100", rest / 8).as_str()),
        ("cpu", (rest % 8).to_string().as_str()),
        ("mode", ["user", "system", "idle", "iowait"][metric % 4]),
    ])
}

/// One remote-write request body (snappy-compressed protobuf 1.0) holding series `first..first+n`, each
/// with one sample at `t` and, every `exemplar_every` series (0 = never), one exemplar.
pub fn request(first: usize, n: usize, t: i64, exemplar_every: usize) -> Vec<u8> {
    let series = (first..first + n)
        .map(|i| TimeSeries {
            labels: series_labels(i),
            samples: vec![Sample {
                t,
                v: (i as f64) + (t as f64) / 1000.0,
            }],
            exemplars: if exemplar_every > 0 && i % exemplar_every == 0 {
                vec![Exemplar {
                    labels: Labels::from_pairs(&[(
                        "trace_id",
                        format!("{:032x}", (t as u128) << 32 | i as u128).as_str(),
                    )]),
                    value: 1.0,
                    ts: t,
                    has_ts: true,
                }]
            } else {
                Vec::new()
            },
            histograms_dropped: 0,
            metadata: None,
        })
        .collect();
    diamond_wire::compress_snappy(&diamond_wire::encode_remote_write_v1(&WriteBatch {
        series,
        metadata: Vec::new(),
        rejected: Vec::new(),
    }))
}
