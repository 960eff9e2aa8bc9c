//! Diamond tracing itself, so the first `diamond serve` already shows diamonds that open real traces:
//! a middleware around the whole HTTP surface makes one server span per request (method, route, status,
//! duration; continuing the caller's trace when it sends a W3C `traceparent`) and observes
//! `diamond_http_request_duration_seconds{handler,code}`, keeping per bucket the newest request's
//! `trace_id`/`span_id` as its exemplar. `/metrics` exposes the histogram with those exemplars in
//! OpenMetrics, so the self-scrape stores them; the spans go to the embedded trace store, batched once a
//! second (the same task fsyncs the store and applies its retention every minute), so a stored
//! exemplar's trace is found by the link checker and `/api/traces/<id>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use diamond_model::traceid::{SpanId, TraceId};
use diamond_traces::Store;
use diamond_wire::proto::otlp::{
    AnyValue, ExportTraceServiceRequest, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span,
    Status, any_value,
};
use parking_lot::Mutex;

/// Upper bounds of the latency buckets, seconds: Diamond's requests are mostly sub-millisecond to a
/// few seconds (a heavy range query), so finer than Prometheus's own `{0.1 … 120}`.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Spans waiting for the next flush beyond this are dropped (counted): memory stays bounded when the
/// store is slow.
const MAX_PENDING: usize = 50_000;

#[derive(Clone, Copy)]
struct Ex {
    trace: TraceId,
    span: SpanId,
    value: f64,
    ts: f64,
}

#[derive(Default)]
struct Hist {
    /// Non-cumulative counts per bucket, the last one for +Inf.
    counts: [u64; BUCKETS.len() + 1],
    exemplars: [Option<Ex>; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

/// See the module docs.
pub(crate) struct SelfTrace {
    store: Arc<Store>,
    pending: Mutex<Vec<Span>>,
    hist: Mutex<BTreeMap<(String, u16), Hist>>,
    ids: std::collections::hash_map::RandomState,
    seq: AtomicU64,
    dropped: AtomicU64,
    flush_errors: AtomicU64,
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.to_owned())
}

/// A W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`): the caller's trace and span.
fn traceparent(v: &str) -> Option<(TraceId, SpanId)> {
    let mut it = v.trim().split('-');
    let (ver, t, p, f) = (it.next()?, it.next()?, it.next()?, it.next()?);
    if ver.len() != 2 || ver == "ff" || t.len() != 32 || p.len() != 16 || f.len() != 2 {
        return None;
    }
    let t = TraceId::parse(t).ok()?;
    let p = SpanId::parse(p).ok()?;
    (!t.is_zero()).then_some((t, p))
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn fmt(v: f64) -> String {
    diamond_model::format_value(v)
}

impl SelfTrace {
    pub(crate) fn new(store: Arc<Store>) -> Arc<SelfTrace> {
        Arc::new(SelfTrace {
            store,
            pending: Mutex::new(Vec::new()),
            hist: Mutex::new(BTreeMap::new()),
            ids: std::collections::hash_map::RandomState::new(),
            seq: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            flush_errors: AtomicU64::new(0),
        })
    }

    /// 64 unpredictable-enough, unique bits: a per-process random key hashing a counter and the clock.
    /// (IDs need uniqueness, not secrecy.)
    fn random_u64(&self) -> u64 {
        loop {
            let mut h = self.ids.build_hasher();
            h.write_u64(self.seq.fetch_add(1, Ordering::Relaxed));
            h.write_u64(diamond_traces::now_ns());
            let v = h.finish();
            if v != 0 {
                return v;
            }
        }
    }

    fn new_span_id(&self) -> SpanId {
        SpanId(self.random_u64().to_be_bytes())
    }

    fn new_trace_id(&self) -> TraceId {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.random_u64().to_be_bytes());
        b[8..].copy_from_slice(&self.random_u64().to_be_bytes());
        TraceId(b)
    }

    fn observe(&self, handler: &str, code: u16, secs: f64, ex: Ex) {
        let i = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        let mut g = self.hist.lock();
        let h = g.entry((handler.to_owned(), code)).or_default();
        h.counts[i] += 1;
        h.exemplars[i] = Some(ex);
        h.sum += secs;
        h.count += 1;
    }

    fn record(&self, span: Span) {
        let mut p = self.pending.lock();
        if p.len() >= MAX_PENDING {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        p.push(span);
    }

    /// Writes the pending spans to the store (one export request).
    pub(crate) fn flush(&self) {
        let spans = std::mem::take(&mut *self.pending.lock());
        if spans.is_empty() {
            return;
        }
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", s("diamond")),
                        kv("service.version", s(env!("CARGO_PKG_VERSION"))),
                    ],
                    dropped_attributes_count: 0,
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "diamond-server".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        if let Err(e) = self.store.ingest(&req, diamond_traces::now_ns()) {
            self.flush_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("writing Diamond's own spans to the trace store: {e}");
        }
    }

    /// The periodic task: flush every second, fsync the store, apply retention every minute.
    pub(crate) fn spawn_flusher(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_retention = Instant::now();
            loop {
                tick.tick().await;
                let m = Arc::clone(&me);
                let retention = last_retention.elapsed() >= Duration::from_secs(60);
                if retention {
                    last_retention = Instant::now();
                }
                let _ = tokio::task::spawn_blocking(move || {
                    m.flush();
                    if let Err(e) = m.store.sync() {
                        tracing::warn!("fsyncing the trace store: {e}");
                    }
                    if retention && let Err(e) = m.store.enforce_retention(diamond_traces::now_ns()) {
                        tracing::warn!("trace store retention: {e}");
                    }
                })
                .await;
            }
        });
    }

    /// `diamond_http_request_duration_seconds` (with exemplars in OpenMetrics) and the self-tracing
    /// counters.
    pub(crate) fn write_metrics(&self, om: bool, out: &mut String) {
        let name = "diamond_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Latency of Diamond's HTTP requests by route and status code; exemplars name each request's own trace.\n# TYPE {name} histogram"
        );
        if om {
            let _ = writeln!(out, "# UNIT {name} seconds");
        }
        let g = self.hist.lock();
        for ((handler, code), h) in g.iter() {
            let l = format!("handler=\"{}\",code=\"{code}\"", escape(handler));
            let mut cum = 0u64;
            for i in 0..=BUCKETS.len() {
                cum += h.counts[i];
                let le = BUCKETS.get(i).map_or_else(|| "+Inf".to_owned(), |b| fmt(*b));
                let _ = write!(out, "{name}_bucket{{{l},le=\"{le}\"}} {cum}");
                if om && let Some(e) = &h.exemplars[i] {
                    let _ = write!(
                        out,
                        " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {:.3}",
                        e.trace,
                        e.span,
                        fmt(e.value),
                        e.ts
                    );
                }
                out.push('\n');
            }
            let _ = writeln!(out, "{name}_sum{{{l}}} {}", fmt(h.sum));
            let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
        }
        drop(g);
        let st = self.store.stats();
        let rows: [(&str, &str, &str, f64); 6] = [
            (
                "diamond_traces_spans_received",
                "counter",
                "Spans stored by the embedded trace store (OTLP and Diamond's own).",
                st.spans_received as f64,
            ),
            (
                "diamond_traces_self_spans_dropped",
                "counter",
                "Diamond's own request spans dropped because too many were waiting for the store.",
                self.dropped.load(Ordering::Relaxed) as f64,
            ),
            (
                "diamond_traces_segments_deleted",
                "counter",
                "Trace segments deleted by retention.",
                st.segments_deleted as f64,
            ),
            (
                "diamond_traces_stored_bytes",
                "gauge",
                "Bytes of the embedded trace store's files.",
                st.stored_bytes as f64,
            ),
            (
                "diamond_traces_segments",
                "gauge",
                "Segment files of the embedded trace store.",
                st.segments as f64,
            ),
            (
                "diamond_traces_memory_bytes",
                "gauge",
                "Bytes of the embedded trace store's in-memory indexes.",
                st.memory_bytes as f64,
            ),
        ];
        // The classic text format names a counter family with its `_total`, OpenMetrics without.
        let family = |n: &str, kind: &str| {
            if kind == "counter" && !om {
                format!("{n}_total")
            } else {
                n.to_owned()
            }
        };
        for (n, kind, help, v) in rows {
            let f = family(n, kind);
            let _ = writeln!(out, "# HELP {f} {help}\n# TYPE {f} {kind}");
            let suffix = if kind == "counter" { "_total" } else { "" };
            let _ = writeln!(out, "{n}{suffix} {}", fmt(v));
        }
        let n = "diamond_traces_spans_refused";
        let f = family(n, "counter");
        let _ = writeln!(
            out,
            "# HELP {f} Spans the embedded trace store refused, by reason.\n# TYPE {f} counter"
        );
        for (r, v) in &st.dropped {
            let _ = writeln!(out, "{n}_total{{reason=\"{}\"}} {v}", r.as_str());
        }
    }
}

/// The middleware: a span and a histogram observation per request.
pub(crate) async fn layer(State(st): State<Arc<SelfTrace>>, req: Request, next: Next) -> Response {
    let start_ns = diamond_traces::now_ns();
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let parent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(traceparent);
    let resp = next.run(req).await;
    let secs = started.elapsed().as_secs_f64();
    let code = resp.status().as_u16();
    let (trace, parent_span) = match parent {
        Some((t, p)) => (t, Some(p)),
        None => (st.new_trace_id(), None),
    };
    let span_id = st.new_span_id();
    let handler = route.clone().unwrap_or_else(|| "unmatched".to_owned());
    st.observe(
        &handler,
        code,
        secs,
        Ex {
            trace,
            span: span_id,
            value: secs,
            ts: start_ns as f64 / 1e9,
        },
    );
    let mut attributes = vec![
        kv("http.request.method", s(&method)),
        kv("url.path", s(&path)),
        kv("http.response.status_code", any_value::Value::IntValue(i64::from(code))),
    ];
    if let Some(r) = &route {
        attributes.push(kv("http.route", s(r)));
    }
    let name = match &route {
        Some(r) => format!("{method} {r}"),
        None => method.clone(),
    };
    st.record(Span {
        trace_id: trace.0.to_vec(),
        span_id: span_id.0.to_vec(),
        parent_span_id: parent_span.map(|p| p.0.to_vec()).unwrap_or_default(),
        name,
        kind: 2, // SPAN_KIND_SERVER
        start_time_unix_nano: start_ns,
        end_time_unix_nano: start_ns + (secs * 1e9) as u64,
        attributes,
        // OTel's HTTP server convention: only 5xx marks the span as an error.
        status: (code >= 500).then(|| Status {
            message: format!("HTTP {code}"),
            code: 2,
        }),
        ..Span::default()
    });
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parsing() {
        let (t, p) = traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").expect("valid");
        assert_eq!(t.to_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(p.to_hex(), "b7ad6b7169203331");
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd-b7ad6b7169203331-01",
        ] {
            assert!(traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn histogram_exposes_exemplars_in_openmetrics_only() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let st = SelfTrace::new(Arc::new(Store::open(dir.path(), diamond_traces::Options::default())?));
        let ex = Ex {
            trace: TraceId([1; 16]),
            span: SpanId([2; 8]),
            value: 0.003,
            ts: 1_700_000_000.5,
        };
        st.observe("/api/v1/query", 200, 0.003, ex);
        st.observe("/api/v1/query", 200, 20.0, ex);
        let mut om = String::new();
        st.write_metrics(true, &mut om);
        assert!(om.contains(
            "diamond_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",code=\"200\",le=\"0.005\"} 1 # {trace_id=\"01010101010101010101010101010101\",span_id=\"0202020202020202\"} 0.003 1700000000.500\n"
        ), "{om}");
        assert!(om.contains("le=\"0.0025\"} 0\n"), "{om}");
        assert!(om.contains("le=\"+Inf\"} 2 # {"), "{om}");
        assert!(om.contains("diamond_http_request_duration_seconds_count{handler=\"/api/v1/query\",code=\"200\"} 2\n"));
        let mut text = String::new();
        st.write_metrics(false, &mut text);
        assert!(!text.contains("# {"), "no exemplars in the text format");
        assert!(text.contains("le=\"0.005\"} 1\n"));
        // Both parse with Diamond's own exposition parser, exemplars included.
        om.push_str("# EOF\n");
        diamond_exposition::validate_openmetrics(om.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let n = diamond_exposition::count_samples(text.as_bytes(), diamond_exposition::Format::PromText)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // 15 buckets, _sum and _count of one series; 6 store metrics; 4 refusal reasons.
        assert_eq!(n, 15 + 2 + 6 + 4);
        Ok(())
    }
}
