//! Trace search: the conditions Jaeger's `/api/traces?service=…` and Tempo's `/api/search` ask, evaluated
//! span by span on each record (span-level: service, operation, tags, span duration, time) and then on the
//! whole trace (trace duration).

use diamond_model::traceid::TraceId;
use diamond_wire::proto::otlp::{ResourceSpans, Span, status::StatusCode};

use crate::{Trace, attrs};

/// Default number of traces a search returns (Jaeger's UI default and Tempo's).
pub const DEFAULT_LIMIT: usize = 20;

/// What to search for. Every condition given must hold; `None` means "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// `service.name` of the span's resource.
    pub service: Option<String>,
    /// The span's name (Jaeger's operation).
    pub operation: Option<String>,
    /// Attribute conditions on one span: the key is looked up among the span's attributes, then its
    /// resource's; a `span.` or `resource.` prefix picks the scope. Special keys: `name` (span name),
    /// `status` (`ok`, `error`, `unset`), `error` (`true` when the status is error), `kind` / `span.kind`.
    pub tags: Vec<(String, String)>,
    /// Smallest span duration, ns (Jaeger's `minDuration`).
    pub min_span_ns: Option<u64>,
    /// Largest span duration, ns.
    pub max_span_ns: Option<u64>,
    /// Smallest trace duration, ns (Tempo's `minDuration`).
    pub min_trace_ns: Option<u64>,
    /// Largest trace duration, ns.
    pub max_trace_ns: Option<u64>,
    /// The span must end at or after this, Unix ns.
    pub start_ns: Option<u64>,
    /// The span must start at or before this, Unix ns.
    pub end_ns: Option<u64>,
    /// At most this many traces.
    pub limit: usize,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            service: None,
            operation: None,
            tags: Vec::new(),
            min_span_ns: None,
            max_span_ns: None,
            min_trace_ns: None,
            max_trace_ns: None,
            start_ns: None,
            end_ns: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// A trace found by a search, with what the result lists need.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    /// The trace ID.
    pub trace_id: TraceId,
    /// Service of the root span (or of the earliest span when no root was received).
    pub root_service: String,
    /// Name of that span.
    pub root_name: String,
    /// Earliest span start, Unix ns.
    pub start_ns: u64,
    /// Latest span end minus earliest start, ns.
    pub duration_ns: u64,
    /// The spans that matched the span-level conditions, with their services.
    pub matched: Vec<(String, Span)>,
}

impl TraceSummary {
    /// The summary of a whole trace.
    pub fn of(trace: &Trace, matched: Vec<(String, Span)>) -> TraceSummary {
        let (lo, hi) = trace.bounds();
        let (root_service, root_name) = trace
            .root()
            .or_else(|| trace.spans().min_by_key(|(_, s)| s.start_time_unix_nano))
            .map(|(svc, s)| (svc, s.name.clone()))
            .unwrap_or_default();
        TraceSummary {
            trace_id: trace.id,
            root_service,
            root_name,
            start_ns: lo,
            duration_ns: hi.saturating_sub(lo),
            matched,
        }
    }
}

/// What a search found.
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    /// Traces, newest first, at most the query's limit.
    pub traces: Vec<(TraceSummary, Trace)>,
    /// The scan stopped at the store's read budget: older matches may exist.
    pub truncated: bool,
    /// Record bytes read.
    pub inspected_bytes: u64,
}

fn status_name(s: &Span) -> &'static str {
    match s.status.as_ref().map(|st| st.code) {
        Some(c) if c == StatusCode::Error as i32 => "error",
        Some(c) if c == StatusCode::Ok as i32 => "ok",
        _ => "unset",
    }
}

fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

fn attr_is(attrs: &[diamond_wire::proto::otlp::KeyValue], key: &str, want: &str) -> bool {
    attrs::get(attrs, key)
        .and_then(attrs::value_string)
        .is_some_and(|v| v == want)
}

impl SearchQuery {
    fn tag_matches(rs: &ResourceSpans, s: &Span, key: &str, want: &str) -> bool {
        let res = rs.resource.as_ref().map(|r| &r.attributes[..]).unwrap_or(&[]);
        match key {
            "name" => return s.name == want,
            "status" | "status.code" | "otel.status_code" => return status_name(s).eq_ignore_ascii_case(want),
            "error" => return (status_name(s) == "error").to_string() == want,
            "kind" | "span.kind" => {
                return kind_name(s.kind).eq_ignore_ascii_case(want.trim_start_matches("SPAN_KIND_"));
            }
            _ => {}
        }
        if let Some(k) = key.strip_prefix("span.") {
            return attr_is(&s.attributes, k, want);
        }
        if let Some(k) = key.strip_prefix("resource.") {
            return attr_is(res, k, want);
        }
        attr_is(&s.attributes, key, want) || attr_is(res, key, want)
    }

    /// The spans of one batch that meet every span-level condition, with their service.
    pub fn matching_spans(&self, rs: &ResourceSpans) -> Vec<(String, Span)> {
        let service = attrs::service_name(rs.resource.as_ref());
        if self.service.as_ref().is_some_and(|want| *want != service) {
            return Vec::new();
        }
        let (qs, qe) = (self.start_ns.unwrap_or(0), self.end_ns.unwrap_or(u64::MAX));
        let mut out = Vec::new();
        for s in rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()) {
            let end = s.end_time_unix_nano.max(s.start_time_unix_nano);
            let dur = end - s.start_time_unix_nano;
            if end < qs || s.start_time_unix_nano > qe {
                continue;
            }
            if self.operation.as_ref().is_some_and(|op| *op != s.name) {
                continue;
            }
            if self.min_span_ns.is_some_and(|m| dur < m) || self.max_span_ns.is_some_and(|m| dur > m) {
                continue;
            }
            if !self.tags.iter().all(|(k, v)| Self::tag_matches(rs, s, k, v)) {
                continue;
            }
            out.push((service.clone(), s.clone()));
        }
        out
    }

    /// Whether the trace meets the trace-level conditions.
    pub fn trace_matches(&self, sum: &TraceSummary) -> bool {
        !(self.min_trace_ns.is_some_and(|m| sum.duration_ns < m)
            || self.max_trace_ns.is_some_and(|m| sum.duration_ns > m))
    }
}

/// Parses a duration as Jaeger and Tempo accept it (Go's `time.ParseDuration`: `1.5s`, `300ms`, `10us`,
/// `1h2m`; a bare number is taken as microseconds, as Jaeger's UI sends none), into ns.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return n.checked_mul(1_000);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * mult;
    }
    (total.is_finite() && total >= 0.0 && total < u64::MAX as f64).then_some(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("1s", Some(1_000_000_000)),
            ("1.5s", Some(1_500_000_000)),
            ("300ms", Some(300_000_000)),
            ("10us", Some(10_000)),
            ("10µs", Some(10_000)),
            ("1h2m", Some(3_720_000_000_000)),
            ("250", Some(250_000)),
            ("", None),
            ("5x", None),
            ("ms", None),
            ("-1s", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration(s), want, "{s:?}");
        }
    }
}
