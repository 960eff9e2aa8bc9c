//! Diamond's embedded trace store: spans received over OTLP/HTTP kept on disk, bounded and with
//! retention, found by trace ID and searched by service, operation, tags, duration and time, and served in
//! the shapes of Jaeger's and Tempo's query APIs so that Grafana's data sources (and Diamond's UI) read it.
//!
//! Principal types:
//! - [`Store`] (`store/`): segment files of span records (`docs/format/traces.md`), an index by trace ID
//!   per sealed segment, Bloom filters in memory, retention by age and by bytes. Synchronous (file I/O):
//!   the HTTP layer calls it from `spawn_blocking`. It implements [`diamond_model::traceid::TraceLookup`]
//!   so the exemplar link checker can ask it whether a trace exists.
//! - [`Trace`]: every span of one trace, as OTLP `ResourceSpans` batches.
//! - [`search::SearchQuery`]: what Jaeger's `/api/traces?service=…` and Tempo's `/api/search` ask.
//! - [`otlp_json`]: OTLP/JSON in and out (the protobuf JSON mapping: hex IDs, string int64s).
//! - [`jaeger`] and [`tempo`]: the response shapes.
//! - [`http::router`]: `POST /v1/traces` (OTLP/HTTP protobuf and JSON) and the Jaeger and Tempo query
//!   endpoints over a shared [`Store`]; [`traceql`] the TraceQL subset its Tempo search understands.
//!
//! ```
//! use diamond_traces::{Options, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("traces"), Options::default()).unwrap();
//! assert_eq!(store.stats().records, 0);
//! ```

pub mod attrs;
#[cfg(any(test, feature = "fuzz"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod jaeger;
pub mod otlp_json;
pub mod search;
mod store;
pub mod tempo;
pub mod traceql;

use diamond_model::traceid::TraceId;
use diamond_wire::proto::otlp::{ResourceSpans, Span};

pub use store::{DropReason, IngestOutcome, Options, Stats, Store, now_ns};

/// Errors of the trace store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the store's files failed.
    #[error("trace store i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A record read through an index does not verify.
    #[error("trace store corrupted at offset {offset}: {reason}")]
    Corrupted {
        /// Byte offset in the segment file.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Every span the store holds of one trace, as OTLP batches (one per resource and record).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The trace ID.
    pub id: TraceId,
    /// The spans, grouped by resource and scope as they were sent.
    pub batches: Vec<ResourceSpans>,
}

impl Trace {
    /// A trace of the given batches.
    pub fn new(id: TraceId, batches: Vec<ResourceSpans>) -> Trace {
        Trace { id, batches }
    }

    /// Every span with the service name of its resource.
    pub fn spans(&self) -> impl Iterator<Item = (String, &Span)> + '_ {
        self.batches.iter().flat_map(|rs| {
            let svc = attrs::service_name(rs.resource.as_ref());
            rs.scope_spans
                .iter()
                .flat_map(|ss| ss.spans.iter())
                .map(move |s| (svc.clone(), s))
        })
    }

    /// Number of spans.
    pub fn span_count(&self) -> usize {
        self.batches
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .map(|ss| ss.spans.len())
            .sum()
    }

    /// Smallest span start and largest span end, Unix ns.
    pub fn bounds(&self) -> (u64, u64) {
        let mut lo = u64::MAX;
        let mut hi = 0;
        for (_, s) in self.spans() {
            lo = lo.min(s.start_time_unix_nano);
            hi = hi.max(s.end_time_unix_nano.max(s.start_time_unix_nano));
        }
        if lo == u64::MAX { (0, 0) } else { (lo, hi) }
    }

    /// The root span (no parent, or whose parent is not in the trace) that starts first, with its service.
    pub fn root(&self) -> Option<(String, &Span)> {
        let ids: std::collections::HashSet<&[u8]> = self.spans().map(|(_, s)| &s.span_id[..]).collect();
        self.spans()
            .filter(|(_, s)| s.parent_span_id.is_empty() || !ids.contains(&s.parent_span_id[..]))
            .min_by_key(|(_, s)| s.start_time_unix_nano)
    }
}
