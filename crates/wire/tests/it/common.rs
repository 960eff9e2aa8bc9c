//! Generators and comparisons shared by the tests.

use diamond_model::{Exemplar, Labels, Metadata, MetricType, Sample};
use diamond_wire::{TimeSeries, WriteBatch};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

pub fn metric_type() -> impl Strategy<Value = MetricType> {
    prop_oneof![
        Just(MetricType::Unknown),
        Just(MetricType::Counter),
        Just(MetricType::Gauge),
        Just(MetricType::Histogram),
        Just(MetricType::GaugeHistogram),
        Just(MetricType::Summary),
        Just(MetricType::Info),
        Just(MetricType::StateSet),
    ]
}

/// Label names: mostly classic, sometimes UTF-8 (Prometheus 3 accepts any non-empty UTF-8 name).
fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-zA-Z_][a-zA-Z0-9_]{0,8}", 1 => "\\PC{1,6}"]
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z0-9/._-]{1,12}", 1 => "\\PC{1,8}"]
}

/// Valid series labels: a metric name plus up to 6 other pairs, all values non-empty.
pub fn series_labels() -> impl Strategy<Value = Labels> {
    (label_value(), btree_map(label_name(), label_value(), 0..6)).prop_map(|(name, rest)| {
        let mut pairs: Vec<(String, String)> = rest.into_iter().filter(|(n, _)| n != "__name__").collect();
        pairs.push(("__name__".into(), name));
        Labels::from_pairs(&pairs)
    })
}

pub fn exemplar() -> impl Strategy<Value = Exemplar> {
    (
        btree_map(label_name(), label_value(), 0..3),
        value(),
        prop_oneof![Just(0i64), any::<i64>()],
    )
        .prop_map(|(labels, value, ts)| Exemplar {
            labels: Labels::from_pairs(&labels.into_iter().collect::<Vec<_>>()),
            value,
            ts,
            has_ts: ts != 0,
        })
}

pub fn metadata() -> impl Strategy<Value = Metadata> {
    (metric_type(), "\\PC{0,20}", "[a-z]{0,6}").prop_map(|(metric_type, help, unit)| Metadata {
        metric_type,
        help,
        unit,
    })
}

/// Any f64 except -0.0: proto3 elides a field equal to its default and prost's `-0.0 == 0.0` test treats
/// -0.0 as the default, so the encoders write it as absent and it decodes as +0.0 (documented on the
/// encoders; a -0.0 present on the wire decodes exactly, see `remote_write::negative_zero_on_the_wire`).
pub fn value() -> impl Strategy<Value = f64> {
    any::<f64>().prop_map(|v| if v == 0.0 { 0.0 } else { v })
}

fn samples() -> impl Strategy<Value = Vec<Sample>> {
    vec((any::<i64>(), value()), 0..5).prop_map(|v| v.into_iter().map(|(t, v)| Sample { t, v }).collect())
}

/// A batch as a 1.0 request can carry it: no per-series metadata, no histograms.
pub fn batch_v1() -> impl Strategy<Value = WriteBatch> {
    (
        vec((series_labels(), samples(), vec(exemplar(), 0..3)), 0..8),
        vec(("[a-z_]{1,10}", metadata()), 0..3),
    )
        .prop_map(|(series, metadata)| WriteBatch {
            series: series
                .into_iter()
                .map(|(labels, samples, exemplars)| TimeSeries {
                    labels,
                    samples,
                    exemplars,
                    ..Default::default()
                })
                .collect(),
            metadata,
            rejected: Vec::new(),
        })
}

/// A batch as a 2.0 request can carry it: per-series metadata (never the all-default one), no family list.
pub fn batch_v2() -> impl Strategy<Value = WriteBatch> {
    vec(
        (
            series_labels(),
            samples(),
            vec(exemplar(), 0..3),
            proptest::option::of(
                metadata().prop_filter("default metadata is absent on the wire", |m| *m != Metadata::default()),
            ),
        ),
        0..8,
    )
    .prop_map(|series| WriteBatch {
        series: series
            .into_iter()
            .map(|(labels, samples, exemplars, metadata)| TimeSeries {
                labels,
                samples,
                exemplars,
                histograms_dropped: 0,
                metadata,
            })
            .collect(),
        metadata: Vec::new(),
        rejected: Vec::new(),
    })
}

/// Bit-exact equality (NaN payloads, such as the staleness marker, must survive), with a message saying
/// where the batches differ.
pub fn assert_same(got: &WriteBatch, want: &WriteBatch) {
    assert_eq!(got.metadata, want.metadata);
    assert_eq!(got.series.len(), want.series.len(), "series count");
    for (i, (g, w)) in got.series.iter().zip(&want.series).enumerate() {
        assert_eq!(g.labels, w.labels, "series {i} labels");
        assert_eq!(g.metadata, w.metadata, "series {i} metadata");
        assert_eq!(g.histograms_dropped, w.histograms_dropped, "series {i} histograms");
        let gs: Vec<(i64, u64)> = g.samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let ws: Vec<(i64, u64)> = w.samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
        assert_eq!(gs, ws, "series {i} samples");
        assert_eq!(g.exemplars.len(), w.exemplars.len(), "series {i} exemplar count");
        for (j, (ge, we)) in g.exemplars.iter().zip(&w.exemplars).enumerate() {
            assert_eq!(ge.labels, we.labels, "series {i} exemplar {j} labels");
            assert_eq!(ge.value.to_bits(), we.value.to_bits(), "series {i} exemplar {j} value");
            assert_eq!((ge.ts, ge.has_ts), (we.ts, we.has_ts), "series {i} exemplar {j} ts");
        }
    }
}
