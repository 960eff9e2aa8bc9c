//! The raw protobuf messages, derived by hand with `prost` (no `protoc`, no build script).
//!
//! Field numbers and types follow the upstream `.proto` files exactly, because the wire format is the
//! contract: [`v1`] is Prometheus's `prompb/types.proto` + `remote.proto` (package `prometheus`), [`v2`] is
//! `prompb/io/prometheus/write/v2/types.proto` (package `io.prometheus.write.v2`) and [`otlp`] is the subset
//! of `opentelemetry-proto` (metrics, traces, common, resource) that the OTLP receivers need.
//!
//! These types are the wire shape only; the validated model-level view is [`crate::WriteBatch`].
//!
//! ```
//! use diamond_wire::proto::v1;
//! use prost::Message;
//! let req = v1::WriteRequest {
//!     timeseries: vec![v1::TimeSeries {
//!         labels: vec![v1::Label { name: "__name__".into(), value: "up".into() }],
//!         samples: vec![v1::Sample { value: 1.0, timestamp: 1_000 }],
//!         ..Default::default()
//!     }],
//!     metadata: vec![],
//! };
//! let bytes = req.encode_to_vec();
//! assert_eq!(v1::WriteRequest::decode(bytes.as_slice()).unwrap(), req);
//! ```

pub mod otlp;
pub mod v1;
pub mod v2;
