//! Decode-side mirrors of the remote write messages with `bytes` where the `.proto` says `string`.
//!
//! Prost validates UTF-8 when it decodes a `string` field, so one bad byte in one label would fail the
//! whole request. Prometheus's (gogo) decoder does not validate: the bad label set fails label validation
//! and only that series is skipped (observed on 3.5.3: the other series of the request are written and the
//! answer is 204). Decoding strings as bytes lets [`crate::decode_remote_write_v1`] and
//! [`crate::decode_remote_write_v2`] do the same. The wire format is identical (`string` and `bytes` share
//! the length-delimited encoding), so these types are private and the public [`crate::proto`] keeps `String`.

use crate::proto::{v1, v2};

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub(crate) struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub(crate) struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<v1::Sample>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) exemplars: Vec<Exemplar>,
    #[prost(message, repeated, tag = "4")]
    pub(crate) histograms: Vec<v1::Histogram>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub(crate) struct Label {
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub(crate) struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub(crate) value: f64,
    #[prost(int64, tag = "3")]
    pub(crate) timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub(crate) struct MetricMetadata {
    #[prost(int32, tag = "1")]
    pub(crate) r#type: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) metric_family_name: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub(crate) help: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub(crate) unit: Vec<u8>,
}

/// `io.prometheus.write.v2.Request`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub(crate) struct Request {
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub(crate) symbols: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "5")]
    pub(crate) timeseries: Vec<v2::TimeSeries>,
}

/// A string that may not be UTF-8: the `String` when it is, the bytes otherwise.
pub(crate) fn into_string(b: Vec<u8>) -> Result<String, Vec<u8>> {
    String::from_utf8(b).map_err(|e| e.into_bytes())
}

/// For text that is only displayed or stored (help, unit, exemplar labels), where Prometheus would keep the
/// raw bytes and a Rust `String` cannot: invalid sequences become U+FFFD.
pub(crate) fn lossy(b: Vec<u8>) -> String {
    match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}
