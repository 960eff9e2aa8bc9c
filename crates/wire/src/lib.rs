//! diamond-wire owns the bytes of the push protocols: Prometheus remote write 1.0 and 2.0 and OTLP
//! (protobuf over HTTP), and their decoding into Diamond's model types.
//!
//! - [`proto`]: the raw protobuf messages, derived by hand with `prost` (no `protoc`).
//! - [`remote_write_version`] picks the message from the Content-Type; [`decompress_snappy`] undoes the
//!   snappy block compression under [`Limits`]; [`decode_remote_write_v1`] / [`decode_remote_write_v2`] turn
//!   the protobuf into a validated [`WriteBatch`] of model [`Labels`](diamond_model::Labels), samples and
//!   exemplars. The encoders are their inverses, for tests and a future sender.
//! - [`decode_remote_write_v1_raw`] is the receiver's hot path for 1.0: the same result, but each series'
//!   labels stay raw bytes (a cache key) until [`RawSeries::labels`] is called.
//! - [`decode_otlp_metrics`] / [`decode_otlp_traces`] decode OTLP bodies; [`otlp_metrics_to_batch`] translates
//!   metrics the way Prometheus's OTLP receiver does.
//!
//! Every function that reads request bytes returns an [`Error`] for bad input and never panics. The HTTP
//! handler (in `api`) owns status codes, using [`Error::http_status`].
//!
//! ```
//! use diamond_wire::*;
//! use diamond_model::{Labels, Sample};
//!
//! let batch = WriteBatch {
//!     series: vec![TimeSeries {
//!         labels: Labels::from_pairs(&[("__name__", "up"), ("job", "node")]),
//!         samples: vec![Sample { t: 1_000, v: 1.0 }],
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let body = compress_snappy(&encode_remote_write_v1(&batch));
//!
//! // What the receiver does:
//! let version = remote_write_version(Some("application/x-protobuf")).unwrap();
//! assert_eq!(version, RemoteWriteVersion::V1);
//! let raw = decompress_snappy(&body, &Limits::default()).unwrap();
//! assert_eq!(decode_remote_write_v1(&raw).unwrap(), batch);
//! ```

#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod batch;
mod budget;
mod content_type;
mod error;
mod lenient;
mod otlp;
pub mod proto;
mod raw_v1;
mod snappy;
mod v1;
mod v2;

pub use batch::{Rejection, TimeSeries, WriteBatch};
pub use content_type::{RemoteWriteVersion, remote_write_version};
pub use error::Error;
pub use otlp::{decode_otlp_metrics, decode_otlp_traces, decode_otlp_traces_unchecked, otlp_metrics_to_batch};
pub use raw_v1::{RawSeries, RawWriteRequest, decode_remote_write_v1_raw};
pub use snappy::{compress_snappy, decompress_snappy};
pub use v1::{decode_remote_write_v1, encode_remote_write_v1};
pub use v2::{decode_remote_write_v2, encode_remote_write_v2};

/// Size limits applied to a request body before decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted body as received (compressed). Default 32 MiB.
    pub max_body_bytes: usize,
    /// Largest accepted body after decompression. Default 256 MiB.
    pub max_decompressed_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 256 << 20,
        }
    }
}

/// Decompresses and decodes a remote write body of either version in one call: what a receiver does after
/// [`remote_write_version`].
pub fn decode_remote_write(body: &[u8], version: RemoteWriteVersion, limits: &Limits) -> Result<WriteBatch, Error> {
    let raw = decompress_snappy(body, limits)?;
    match version {
        RemoteWriteVersion::V1 => decode_remote_write_v1(&raw),
        RemoteWriteVersion::V2 => decode_remote_write_v2(&raw),
    }
}
