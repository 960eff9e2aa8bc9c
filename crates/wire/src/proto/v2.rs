//! Remote write 2.0 (`io.prometheus.write.v2.Request`), from Prometheus's
//! `prompb/io/prometheus/write/v2/types.proto`.
//!
//! Every string lives once in [`Request::symbols`]; series, exemplars and metadata refer to it by index.

/// Native histograms share remote write 1.0's wire layout, so the same message is used.
pub use super::v1::{BucketSpan, Histogram, histogram};

/// The request body of remote write 2.0 (after snappy decompression).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Request {
    // Tags 1 to 3 are reserved upstream, so a 1.0 body decoded as 2.0 yields an empty request.
    /// The de-duplicated strings; the first one must be `""`.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series. The same labels may appear in several `TimeSeries` of one request.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TimeSeries {
    /// Pairs of (name, value) indexes into [`Request::symbols`]; the length is even.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples.
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    /// Exemplars attached to the series' samples.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// The series' metadata (non-nullable upstream: absent decodes as all-zero).
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    /// When the counter or histogram started counting, in ms; 0 means unset.
    #[prost(int64, tag = "6")]
    pub created_timestamp: i64,
}

/// One exemplar.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Exemplar {
    /// Pairs of (name, value) indexes into [`Request::symbols`].
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the epoch; 0 means "no timestamp".
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// One float sample.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The metadata of one series.
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct Metadata {
    /// The series' type.
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    /// Index of the HELP text in [`Request::symbols`] (0, the empty string, when absent).
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// Index of the UNIT in [`Request::symbols`] (0 when absent).
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// `Metadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// `METRIC_TYPE_UNSPECIFIED`
    Unspecified = 0,
    /// `METRIC_TYPE_COUNTER`
    Counter = 1,
    /// `METRIC_TYPE_GAUGE`
    Gauge = 2,
    /// `METRIC_TYPE_HISTOGRAM`
    Histogram = 3,
    /// `METRIC_TYPE_GAUGEHISTOGRAM`
    Gaugehistogram = 4,
    /// `METRIC_TYPE_SUMMARY`
    Summary = 5,
    /// `METRIC_TYPE_INFO`
    Info = 6,
    /// `METRIC_TYPE_STATESET`
    Stateset = 7,
}
