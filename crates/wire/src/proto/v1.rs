//! Remote write 1.0 (`prometheus.WriteRequest`), from Prometheus's `prompb/types.proto` and `remote.proto`.

/// The request body of remote write 1.0 (after snappy decompression).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct WriteRequest {
    /// The series, each with its samples, exemplars and native histograms.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    // Tag 2 is reserved upstream (Cortex used it for the request source).
    /// Metric family metadata (sent separately from the series in 1.0).
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One series: its labels and data.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TimeSeries {
    /// Label pairs; the sender should sort them by name, but the receiver sorts anyway.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars attached to the series' samples.
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histogram samples.
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// One label pair.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
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

/// One exemplar.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Exemplar {
    /// The exemplar's own labels (`trace_id`, `span_id`, ...), not the series'.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the epoch; 0 means "no timestamp".
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// Metadata of one metric family.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MetricMetadata {
    /// The family's type.
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    /// The family name (for a histogram, without `_bucket`/`_sum`/`_count`).
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// HELP text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// UNIT.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `MetricMetadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// `UNKNOWN`
    Unknown = 0,
    /// `COUNTER`
    Counter = 1,
    /// `GAUGE`
    Gauge = 2,
    /// `HISTOGRAM`
    Histogram = 3,
    /// `GAUGEHISTOGRAM`
    Gaugehistogram = 4,
    /// `SUMMARY`
    Summary = 5,
    /// `INFO`
    Info = 6,
    /// `STATESET`
    Stateset = 7,
}

/// A native histogram sample. Diamond does not ingest native histograms yet; the message is declared so that
/// a request carrying them is validated like Prometheus validates it (malformed bytes fail the request) and
/// so the receiver can count what it drops. Remote write 2.0 uses the same layout.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Histogram {
    /// Count of observations (integer or float histogram).
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    /// Sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Bucket schema (-4..=8, or -53 for custom buckets).
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Width of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// Count in the zero bucket.
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    /// Negative bucket spans.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Negative bucket count deltas (integer histograms).
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Negative bucket absolute counts (float histograms).
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Positive bucket spans.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Positive bucket count deltas (integer histograms).
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Positive bucket absolute counts (float histograms).
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Counter reset hint (`ResetHint`: 0 unknown, 1 yes, 2 no, 3 gauge).
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Upper bounds of custom buckets (schema -53).
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
}

/// The `oneof`s of [`Histogram`].
pub mod histogram {
    /// `oneof count`.
    #[derive(Clone, Copy, PartialEq, ::prost::Oneof)]
    pub enum Count {
        /// Integer histogram count.
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        /// Float histogram count.
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }

    /// `oneof zero_count`.
    #[derive(Clone, Copy, PartialEq, ::prost::Oneof)]
    pub enum ZeroCount {
        /// Integer zero-bucket count.
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        /// Float zero-bucket count.
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }
}

/// A run of consecutive native histogram buckets.
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span (or start index of the first).
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}
