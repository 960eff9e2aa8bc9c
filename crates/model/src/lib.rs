//! Diamond's shared vocabulary, with no I/O.
//!
//! Every other crate speaks in these types:
//! - [`Labels`] (a sorted, duplicate-free label set) and [`Matcher`] (the four PromQL matcher kinds);
//! - [`Sample`] timestamps in milliseconds, the staleness marker [`STALE_NAN`], and the float and timestamp
//!   formatting the Prometheus HTTP API uses ([`format_value`], [`format_timestamp`]);
//! - [`Exemplar`] and [`Metadata`];
//! - the storage seams in [`storage`]: [`storage::Appender`] (how ingest writes) and [`storage::Querier`]
//!   (how the query engine and the API read). The TSDB implements them; scrape, remote write and PromQL only
//!   ever see these traits, so each can be tested against a small in-memory implementation.
//!
//! ```
//! use diamond_model::{Labels, Matcher, MatchOp};
//! let l = Labels::from_pairs(&[("__name__", "up"), ("job", "node")]);
//! let m = Matcher::new(MatchOp::Regex, "job", "no.*").unwrap();
//! assert!(m.matches(l.get("job").unwrap_or("")));
//! assert_eq!(l.to_string(), r#"{__name__="up", job="node"}"#);
//! ```

mod exemplar;
mod format;
mod labels;
mod matcher;
pub mod mem;
mod metadata;
mod sample;
pub mod storage;
pub mod traceid;

pub use exemplar::{EXEMPLAR_MAX_LABEL_SET_RUNES, Exemplar};
pub use format::{
    format_timestamp, format_value, format_value_fixed, format_value_g, parse_value, write_timestamp, write_value,
};
pub use labels::{Label, LabelStr, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use metadata::{Metadata, MetricType};
pub use sample::{STALE_NAN, STALE_NAN_BITS, Sample, Timestamp, is_stale_nan};
