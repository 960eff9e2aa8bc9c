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
    /// Tempo's legacy `tags=` conditions (`/api/search?tags=`), each of which must hold somewhere in the
    /// trace rather than on one span; see [`tempo_tag_holds`] for how each key compares.
    pub trace_tags: Vec<(String, String)>,
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
            trace_tags: Vec::new(),
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

/// Tempo's well-known keys that its legacy tag search compares as substrings of a dedicated column:
/// resource-level ones (any batch of the trace), span-level ones (any span), and the trace's root.
const TEMPO_RESOURCE_SUBSTR: [&str; 9] = [
    "service.name",
    "cluster",
    "namespace",
    "pod",
    "container",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
];
const TEMPO_SPAN_SUBSTR: [&str; 3] = ["name", "http.method", "http.url"];

fn string_attr<'a>(attrs: &'a [diamond_wire::proto::otlp::KeyValue], key: &str) -> Option<&'a str> {
    match attrs::get(attrs, key)?.value.as_ref()? {
        diamond_wire::proto::otlp::any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn all_spans(batches: &[ResourceSpans]) -> impl Iterator<Item = &Span> {
    batches
        .iter()
        .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()))
}

fn span_status_code(s: &Span) -> i32 {
    s.status.as_ref().map_or(0, |st| st.code)
}

/// Whether the trace meets one condition of Tempo's legacy tag search (`/api/search?tags=k=v`), compared
/// as Tempo 2.x's block search does (`tempodb/encoding/vparquet4/block_search.go`):
/// - `root.name`, `root.service.name`: substring of the root span's name / service;
/// - `service.name`, `cluster`, `namespace`, `pod`, `container`, `k8s.{cluster,namespace,pod,container}.name`:
///   substring of that string resource attribute of any batch;
/// - `name`, `http.method`, `http.url`: substring of any span's name / string attribute;
/// - `http.status_code` with a number: any span whose integer attribute equals it;
/// - `status.code`: any span with that status (`ok`, `error`, `unset`; Tempo maps any other word to unset);
/// - anything else is generic: see [`tempo_generic_hold`].
///
/// Beyond Tempo, a `span.` or `resource.` prefix on a generic key picks the scope, as in TraceQL.
pub fn tempo_tag_holds(batches: &[ResourceSpans], root: (&str, &str), key: &str, want: &str) -> bool {
    match key {
        "root.service.name" => return root.0.contains(want),
        "root.name" => return root.1.contains(want),
        "status.code" => {
            let code = match want {
                "ok" => StatusCode::Ok as i32,
                "error" => StatusCode::Error as i32,
                _ => StatusCode::Unset as i32,
            };
            return all_spans(batches).any(|s| span_status_code(s) == code);
        }
        "http.status_code" => {
            if let Ok(n) = want.parse::<i64>() {
                return all_spans(batches).any(|s| {
                    matches!(
                        attrs::get(&s.attributes, key).and_then(|v| v.value.as_ref()),
                        Some(diamond_wire::proto::otlp::any_value::Value::IntValue(i)) if *i == n
                    )
                });
            }
        }
        _ => {}
    }
    if TEMPO_RESOURCE_SUBSTR.contains(&key) {
        return batches.iter().any(|rs| {
            let res = rs.resource.as_ref().map(|r| &r.attributes[..]).unwrap_or(&[]);
            // Tempo's service column is never null: a batch without the attribute holds "".
            let v = string_attr(res, key).unwrap_or("");
            (key == "service.name" || string_attr(res, key).is_some()) && v.contains(want)
        });
    }
    if TEMPO_SPAN_SUBSTR.contains(&key) {
        return all_spans(batches).any(|s| {
            if key == "name" {
                s.name.contains(want)
            } else {
                string_attr(&s.attributes, key).is_some_and(|v| v.contains(want))
            }
        });
    }
    tempo_generic_hold(batches, &[(key, want)])
}

/// Tempo's generic tag conditions: exact comparison with string attributes, and all of them met within
/// one batch (its resource or any of its spans), as Tempo's key/value group predicate checks them.
pub fn tempo_generic_hold(batches: &[ResourceSpans], conds: &[(&str, &str)]) -> bool {
    batches.iter().any(|rs| {
        let res = rs.resource.as_ref().map(|r| &r.attributes[..]).unwrap_or(&[]);
        conds.iter().all(|&(key, want)| {
            let (k, in_res, in_span) = if let Some(k) = key.strip_prefix("span.") {
                (k, false, true)
            } else if let Some(k) = key.strip_prefix("resource.") {
                (k, true, false)
            } else {
                (key, true, true)
            };
            (in_res && string_attr(res, k) == Some(want))
                || (in_span
                    && rs
                        .scope_spans
                        .iter()
                        .flat_map(|ss| ss.spans.iter())
                        .any(|s| string_attr(&s.attributes, k) == Some(want)))
        })
    })
}

fn is_tempo_generic(key: &str, want: &str) -> bool {
    !(matches!(key, "root.service.name" | "root.name" | "status.code")
        || (key == "http.status_code" && want.parse::<i64>().is_ok())
        || TEMPO_RESOURCE_SUBSTR.contains(&key)
        || TEMPO_SPAN_SUBSTR.contains(&key))
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

    /// Whether one batch can belong to a trace meeting [`Self::trace_tags`]: it meets the first of them
    /// (every matching trace has such a batch, so searching only these candidates loses nothing).
    pub fn batch_may_match(&self, rs: &ResourceSpans) -> bool {
        let Some((key, want)) = self.trace_tags.first() else {
            return true;
        };
        if matches!(key.as_str(), "root.service.name" | "root.name") {
            return true;
        }
        tempo_tag_holds(std::slice::from_ref(rs), ("", ""), key, want)
    }

    /// Whether the trace meets the trace-level conditions: durations and Tempo's legacy tags.
    pub fn trace_matches(&self, sum: &TraceSummary, trace: &Trace) -> bool {
        if self.min_trace_ns.is_some_and(|m| sum.duration_ns < m)
            || self.max_trace_ns.is_some_and(|m| sum.duration_ns > m)
        {
            return false;
        }
        let root = (sum.root_service.as_str(), sum.root_name.as_str());
        let mut generic = Vec::new();
        for (k, v) in &self.trace_tags {
            if is_tempo_generic(k, v) {
                generic.push((k.as_str(), v.as_str()));
            } else if !tempo_tag_holds(&trace.batches, root, k, v) {
                return false;
            }
        }
        generic.is_empty() || tempo_generic_hold(&trace.batches, &generic)
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
    use diamond_wire::proto::otlp::{AnyValue, KeyValue, Status, any_value::Value};

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
        }
    }

    use crate::attrs::string_kv as s;

    use crate::attrs::batch;

    fn sp(id: u8, parent: Option<u8>, name: &str, attrs: Vec<KeyValue>, status: i32) -> Span {
        Span {
            trace_id: vec![7; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: name.into(),
            start_time_unix_nano: 1_000 + u64::from(id),
            end_time_unix_nano: 2_000,
            attributes: attrs,
            status: Some(Status {
                message: String::new(),
                code: status,
            }),
            ..Span::default()
        }
    }

    /// A frontend root span calling a checkout service, whose span fails with HTTP 503.
    fn trace() -> Trace {
        Trace::new(
            TraceId([7; 16]),
            vec![
                batch(
                    vec![
                        s("service.name", "frontend"),
                        s("cluster", "eu-west-1"),
                        s("team", "web"),
                    ],
                    vec![sp(
                        1,
                        None,
                        "GET /cart",
                        vec![s("http.method", "GET"), s("http.url", "/cart?id=3")],
                        0,
                    )],
                ),
                batch(
                    vec![s("service.name", "checkout"), s("team", "payments")],
                    vec![sp(
                        2,
                        Some(1),
                        "charge card",
                        vec![kv("http.status_code", Value::IntValue(503)), s("region", "eu")],
                        2,
                    )],
                ),
            ],
        )
    }

    fn tempo(tags: &[(&str, &str)]) -> bool {
        let t = trace();
        let q = SearchQuery {
            trace_tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            ..SearchQuery::default()
        };
        let sum = TraceSummary::of(&t, Vec::new());
        let whole = q.trace_matches(&sum, &t);
        // Every match must also be found by the per-batch candidate filter on some batch.
        if whole {
            assert!(t.batches.iter().any(|b| q.batch_may_match(b)), "{tags:?}");
        }
        whole
    }

    #[test]
    fn tempo_legacy_tags_compare_as_tempo_does() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            // Well-known columns: substrings.
            (&[("service.name", "check")], true),
            (&[("service.name", "frontend")], true),
            (&[("service.name", "billing")], false),
            (&[("cluster", "west")], true),
            (&[("name", "card")], true),
            (&[("http.url", "cart?")], true),
            (&[("http.method", "POST")], false),
            (&[("root.service.name", "front")], true),
            (&[("root.service.name", "checkout")], false),
            (&[("root.name", "/cart")], true),
            (&[("root.name", "charge")], false),
            // Numbers and statuses: exact.
            (&[("http.status_code", "503")], true),
            (&[("http.status_code", "50")], false),
            (&[("status.code", "error")], true),
            (&[("status.code", "ok")], false),
            (&[("status.code", "unset")], true),
            // Generic attributes: exact, on the resource or a span of one batch.
            (&[("team", "payments")], true),
            (&[("team", "pay")], false),
            (&[("region", "eu")], true),
            (&[("team", "payments"), ("region", "eu")], true),
            (&[("team", "web"), ("region", "eu")], false),
            (&[("resource.team", "web")], true),
            (&[("span.team", "web")], false),
            // Each well-known condition may hold on a different span of the trace.
            (
                &[
                    ("service.name", "frontend"),
                    ("name", "charge"),
                    ("http.status_code", "503"),
                ],
                true,
            ),
            (&[("service.name", "frontend"), ("name", "refund")], false),
        ];
        for (tags, want) in cases {
            assert_eq!(tempo(tags), *want, "{tags:?}");
        }
    }

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
