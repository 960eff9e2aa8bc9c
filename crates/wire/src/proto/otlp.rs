//! The OTLP messages Diamond receives: `ExportMetricsServiceRequest` and `ExportTraceServiceRequest`, with the
//! `common` and `resource` messages they use, from `opentelemetry-proto` (`opentelemetry/proto/{collector,
//! metrics,trace,common,resource}/v1/*.proto`).
//!
//! Timestamps are nanoseconds since the epoch (`fixed64`). Trace and span ids are raw bytes (16 and 8).

// ---- common/v1 ----

/// A value of any attribute type (`oneof value`; `None` is the empty value).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AnyValue {
    /// The value.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

/// The `oneof` of [`AnyValue`].
pub mod any_value {
    /// `oneof value`.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Value {
        /// A string.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        /// A signed integer.
        #[prost(int64, tag = "3")]
        IntValue(i64),
        /// A double.
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        /// An array of values.
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        /// A nested key/value list.
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        /// Raw bytes.
        #[prost(bytes, tag = "7")]
        BytesValue(Vec<u8>),
    }
}

/// An array of [`AnyValue`].
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ArrayValue {
    /// The elements.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// A list of key/value pairs (used as a map).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct KeyValueList {
    /// The pairs.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// One attribute.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct KeyValue {
    /// The attribute key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The attribute value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// The instrumentation scope (library) that produced the data.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct InstrumentationScope {
    /// Scope name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Scope version.
    #[prost(string, tag = "2")]
    pub version: String,
    /// Scope attributes.
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the sender.
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

// ---- resource/v1 ----

/// The entity producing telemetry (a service instance, a host, ...).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Resource {
    /// Resource attributes (`service.name`, `service.instance.id`, ...).
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the sender.
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
}

// ---- collector/metrics/v1 + metrics/v1 ----

/// The body of an OTLP/HTTP (protobuf) metrics export.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExportMetricsServiceRequest {
    /// Metrics grouped by resource.
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// The metrics of one resource.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ResourceMetrics {
    /// The resource.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Metrics grouped by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
    /// Schema URL of the resource.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// The metrics of one instrumentation scope.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScopeMetrics {
    /// The scope.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Schema URL of the scope.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// One metric: a name, a unit and data points of one kind.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Metric {
    /// The OTel metric name (dotted, e.g. `http.server.duration`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Description (becomes HELP).
    #[prost(string, tag = "2")]
    pub description: String,
    /// UCUM unit (e.g. `ms`, `By`, `1`).
    #[prost(string, tag = "3")]
    pub unit: String,
    /// The data.
    #[prost(oneof = "metric::Data", tags = "5, 7, 9, 10, 11")]
    pub data: Option<metric::Data>,
    /// Extra metadata.
    #[prost(message, repeated, tag = "12")]
    pub metadata: Vec<KeyValue>,
}

/// The `oneof` of [`Metric`].
pub mod metric {
    /// `oneof data`.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Data {
        /// A gauge.
        #[prost(message, tag = "5")]
        Gauge(super::Gauge),
        /// A sum (counter when monotonic and cumulative).
        #[prost(message, tag = "7")]
        Sum(super::Sum),
        /// An explicit-bucket histogram.
        #[prost(message, tag = "9")]
        Histogram(super::Histogram),
        /// An exponential histogram.
        #[prost(message, tag = "10")]
        ExponentialHistogram(super::ExponentialHistogram),
        /// A summary.
        #[prost(message, tag = "11")]
        Summary(super::Summary),
    }
}

/// `AggregationTemporality`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum AggregationTemporality {
    /// `AGGREGATION_TEMPORALITY_UNSPECIFIED`
    Unspecified = 0,
    /// `AGGREGATION_TEMPORALITY_DELTA`
    Delta = 1,
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE`
    Cumulative = 2,
}

/// `DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK`: the point marks the series as stale.
pub const DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK: u32 = 1;

/// A gauge.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Gauge {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

/// A sum.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Sum {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    /// Delta or cumulative.
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    pub aggregation_temporality: i32,
    /// Whether the sum only goes up.
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

/// An explicit-bucket histogram.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Histogram {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    /// Delta or cumulative.
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    pub aggregation_temporality: i32,
}

/// An exponential histogram.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExponentialHistogram {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<ExponentialHistogramDataPoint>,
    /// Delta or cumulative.
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    pub aggregation_temporality: i32,
}

/// A summary.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Summary {
    /// The points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<SummaryDataPoint>,
}

/// One gauge or sum point.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NumberDataPoint {
    /// The point's attributes (become labels).
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation window, ns.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// Time of the point, ns.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// The value.
    #[prost(oneof = "number_data_point::Value", tags = "4, 6")]
    pub value: Option<number_data_point::Value>,
    /// Exemplars.
    #[prost(message, repeated, tag = "5")]
    pub exemplars: Vec<Exemplar>,
    /// `DataPointFlags` bits.
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// The `oneof` of [`NumberDataPoint`].
pub mod number_data_point {
    /// `oneof value`.
    #[derive(Clone, Copy, PartialEq, ::prost::Oneof)]
    pub enum Value {
        /// A double.
        #[prost(double, tag = "4")]
        AsDouble(f64),
        /// An integer.
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }
}

/// One explicit-bucket histogram point.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HistogramDataPoint {
    /// The point's attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation window, ns.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// Time of the point, ns.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Number of observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Sum of observations, when known.
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    /// Per-bucket (not cumulative) counts; one more than `explicit_bounds`.
    #[prost(fixed64, repeated, tag = "6")]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds of the buckets, increasing (the last bucket is +Inf).
    #[prost(double, repeated, tag = "7")]
    pub explicit_bounds: Vec<f64>,
    /// Exemplars.
    #[prost(message, repeated, tag = "8")]
    pub exemplars: Vec<Exemplar>,
    /// `DataPointFlags` bits.
    #[prost(uint32, tag = "10")]
    pub flags: u32,
    /// Minimum observation.
    #[prost(double, optional, tag = "11")]
    pub min: Option<f64>,
    /// Maximum observation.
    #[prost(double, optional, tag = "12")]
    pub max: Option<f64>,
}

/// One exponential histogram point (decoded; not translated by Diamond yet).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExponentialHistogramDataPoint {
    /// The point's attributes.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation window, ns.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// Time of the point, ns.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Number of observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Sum of observations, when known.
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    /// Resolution.
    #[prost(sint32, tag = "6")]
    pub scale: i32,
    /// Count in the zero bucket.
    #[prost(fixed64, tag = "7")]
    pub zero_count: u64,
    /// Positive buckets.
    #[prost(message, optional, tag = "8")]
    pub positive: Option<exponential_histogram_data_point::Buckets>,
    /// Negative buckets.
    #[prost(message, optional, tag = "9")]
    pub negative: Option<exponential_histogram_data_point::Buckets>,
    /// `DataPointFlags` bits.
    #[prost(uint32, tag = "10")]
    pub flags: u32,
    /// Exemplars.
    #[prost(message, repeated, tag = "11")]
    pub exemplars: Vec<Exemplar>,
    /// Minimum observation.
    #[prost(double, optional, tag = "12")]
    pub min: Option<f64>,
    /// Maximum observation.
    #[prost(double, optional, tag = "13")]
    pub max: Option<f64>,
    /// Width of the zero bucket.
    #[prost(double, tag = "14")]
    pub zero_threshold: f64,
}

/// Nested messages of [`ExponentialHistogramDataPoint`].
pub mod exponential_histogram_data_point {
    /// A run of consecutive buckets.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Buckets {
        /// Index of the first bucket.
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        /// Per-bucket counts.
        #[prost(uint64, repeated, tag = "2")]
        pub bucket_counts: Vec<u64>,
    }
}

/// One summary point.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SummaryDataPoint {
    /// The point's attributes.
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation window, ns.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// Time of the point, ns.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Number of observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Sum of observations.
    #[prost(double, tag = "5")]
    pub sum: f64,
    /// Quantiles.
    #[prost(message, repeated, tag = "6")]
    pub quantile_values: Vec<summary_data_point::ValueAtQuantile>,
    /// `DataPointFlags` bits.
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// Nested messages of [`SummaryDataPoint`].
pub mod summary_data_point {
    /// One quantile.
    #[derive(Clone, Copy, PartialEq, ::prost::Message)]
    pub struct ValueAtQuantile {
        /// The quantile, in [0, 1].
        #[prost(double, tag = "1")]
        pub quantile: f64,
        /// Its value.
        #[prost(double, tag = "2")]
        pub value: f64,
    }
}

/// An exemplar on a metric point.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Exemplar {
    /// Attributes of the measurement that were filtered out of the point's attributes.
    #[prost(message, repeated, tag = "7")]
    pub filtered_attributes: Vec<KeyValue>,
    /// Time of the measurement, ns.
    #[prost(fixed64, tag = "2")]
    pub time_unix_nano: u64,
    /// The measured value.
    #[prost(oneof = "exemplar::Value", tags = "3, 6")]
    pub value: Option<exemplar::Value>,
    /// Span id, 8 raw bytes (empty if none).
    #[prost(bytes = "vec", tag = "4")]
    pub span_id: Vec<u8>,
    /// Trace id, 16 raw bytes (empty if none).
    #[prost(bytes = "vec", tag = "5")]
    pub trace_id: Vec<u8>,
}

/// The `oneof` of [`Exemplar`].
pub mod exemplar {
    /// `oneof value`.
    #[derive(Clone, Copy, PartialEq, ::prost::Oneof)]
    pub enum Value {
        /// A double.
        #[prost(double, tag = "3")]
        AsDouble(f64),
        /// An integer.
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }
}

// ---- collector/trace/v1 + trace/v1 ----

/// The body of an OTLP/HTTP (protobuf) trace export.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExportTraceServiceRequest {
    /// Spans grouped by resource.
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// The spans of one resource.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ResourceSpans {
    /// The resource.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Spans grouped by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
    /// Schema URL of the resource.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// The spans of one instrumentation scope.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScopeSpans {
    /// The scope.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The spans.
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
    /// Schema URL of the scope.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// One span.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Span {
    /// Trace id, 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// Span id, 8 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// W3C `tracestate`.
    #[prost(string, tag = "3")]
    pub trace_state: String,
    /// Parent span id, 8 bytes; empty for a root span.
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    /// W3C trace flags (low byte) and OTel flags.
    #[prost(fixed32, tag = "16")]
    pub flags: u32,
    /// Operation name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// Kind of span.
    #[prost(enumeration = "span::SpanKind", tag = "6")]
    pub kind: i32,
    /// Start, ns.
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    /// End, ns.
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    /// Attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the sender.
    #[prost(uint32, tag = "10")]
    pub dropped_attributes_count: u32,
    /// Timed events.
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<span::Event>,
    /// Events dropped by the sender.
    #[prost(uint32, tag = "12")]
    pub dropped_events_count: u32,
    /// Links to other spans.
    #[prost(message, repeated, tag = "13")]
    pub links: Vec<span::Link>,
    /// Links dropped by the sender.
    #[prost(uint32, tag = "14")]
    pub dropped_links_count: u32,
    /// Final status.
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

/// Nested types of [`Span`].
pub mod span {
    /// `Span.SpanKind`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum SpanKind {
        /// `SPAN_KIND_UNSPECIFIED`
        Unspecified = 0,
        /// `SPAN_KIND_INTERNAL`
        Internal = 1,
        /// `SPAN_KIND_SERVER`
        Server = 2,
        /// `SPAN_KIND_CLIENT`
        Client = 3,
        /// `SPAN_KIND_PRODUCER`
        Producer = 4,
        /// `SPAN_KIND_CONSUMER`
        Consumer = 5,
    }

    /// A timed event within a span.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Event {
        /// When, ns.
        #[prost(fixed64, tag = "1")]
        pub time_unix_nano: u64,
        /// Event name.
        #[prost(string, tag = "2")]
        pub name: String,
        /// Attributes.
        #[prost(message, repeated, tag = "3")]
        pub attributes: Vec<super::KeyValue>,
        /// Attributes dropped by the sender.
        #[prost(uint32, tag = "4")]
        pub dropped_attributes_count: u32,
    }

    /// A link to another span.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Link {
        /// Linked trace id.
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        /// Linked span id.
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        /// W3C `tracestate` of the link.
        #[prost(string, tag = "3")]
        pub trace_state: String,
        /// Attributes.
        #[prost(message, repeated, tag = "4")]
        pub attributes: Vec<super::KeyValue>,
        /// Attributes dropped by the sender.
        #[prost(uint32, tag = "5")]
        pub dropped_attributes_count: u32,
        /// W3C trace flags and OTel flags.
        #[prost(fixed32, tag = "6")]
        pub flags: u32,
    }
}

/// The status of a span.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Status {
    // Tag 1 is reserved upstream (the deprecated code).
    /// Developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// The code.
    #[prost(enumeration = "status::StatusCode", tag = "3")]
    pub code: i32,
}

/// Nested types of [`Status`].
pub mod status {
    /// `Status.StatusCode`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum StatusCode {
        /// `STATUS_CODE_UNSET`
        Unset = 0,
        /// `STATUS_CODE_OK`
        Ok = 1,
        /// `STATUS_CODE_ERROR`
        Error = 2,
    }
}
