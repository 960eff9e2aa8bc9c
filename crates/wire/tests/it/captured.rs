//! Requests captured from a real sender, Prometheus 3.5.3 (see `testdata/README.md`): both decoders must
//! accept them whole, and the 1.0 and 2.0 requests, built by Prometheus from the same WAL batch, must
//! decode to the same samples.

use std::collections::BTreeSet;

use diamond_model::{Metadata, MetricType};
use diamond_wire::*;

fn decode(file: &str, version: RemoteWriteVersion) -> WriteBatch {
    let path = format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let b = decode_remote_write(&body, version, &Limits::default()).unwrap();
    assert!(b.rejected.is_empty(), "{file}: {:?}", b.rejected);
    b
}

fn samples(b: &WriteBatch) -> BTreeSet<(String, i64, u64)> {
    b.series
        .iter()
        .flat_map(|s| {
            s.samples
                .iter()
                .map(move |x| (s.labels.to_string(), x.t, x.v.to_bits()))
        })
        .collect()
}

#[test]
fn v1_and_v2_from_prometheus_agree() {
    let v1 = decode("prometheus-3.5.3-v1.snappy", RemoteWriteVersion::V1);
    let v2 = decode("prometheus-3.5.3-v2.snappy", RemoteWriteVersion::V2);
    assert_eq!(v1.series.len(), 1243);
    assert_eq!(v1.sample_count(), 1243);
    assert_eq!(samples(&v1), samples(&v2));
    // Every series is labelled by the scrape.
    for s in &v1.series {
        assert_eq!(s.labels.get("job"), Some("self"), "{}", s.labels);
        assert_eq!(s.labels.get("instance"), Some("127.0.0.1:19391"), "{}", s.labels);
    }
}

#[test]
fn v2_metadata_from_prometheus() {
    let v2 = decode("prometheus-3.5.3-v2.snappy", RemoteWriteVersion::V2);
    assert!(v2.series.iter().all(|s| s.metadata.is_some()));
    let md = |name: &str| {
        v2.series
            .iter()
            .find(|s| s.labels.metric_name() == Some(name))
            .and_then(|s| s.metadata.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(
        md("prometheus_http_requests_total"),
        Metadata {
            metric_type: MetricType::Counter,
            help: "Counter of HTTP requests.".into(),
            unit: String::new()
        }
    );
    assert_eq!(md("go_memstats_alloc_bytes").metric_type, MetricType::Gauge);
    assert_eq!(
        md("prometheus_http_request_duration_seconds_bucket").metric_type,
        MetricType::Histogram
    );
}

#[test]
fn v1_metadata_from_prometheus() {
    let v1 = decode("prometheus-3.5.3-v1-metadata.snappy", RemoteWriteVersion::V1);
    assert!(v1.series.is_empty());
    assert_eq!(v1.metadata.len(), 258);
    let find = |name: &str| v1.metadata.iter().find(|(n, _)| n == name).map(|(_, m)| m.clone());
    assert_eq!(
        find("prometheus_http_requests_total"),
        Some(Metadata {
            metric_type: MetricType::Counter,
            help: "Counter of HTTP requests.".into(),
            unit: String::new()
        })
    );
    // 1.0 metadata names the family: a histogram without its _bucket suffix.
    assert_eq!(
        find("prometheus_http_request_duration_seconds").map(|m| m.metric_type),
        Some(MetricType::Histogram)
    );
}
