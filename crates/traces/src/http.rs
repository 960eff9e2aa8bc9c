//! The trace store's HTTP surface, as one axum [`Router`] the server merges beside the API's:
//!
//! - `POST /v1/traces` and `POST /api/v1/otlp/v1/traces`: OTLP/HTTP ingest, protobuf
//!   (`application/x-protobuf`) or JSON (`application/json`), optionally `Content-Encoding: gzip`. Answers
//!   as the OTLP/HTTP spec says: 200 with an `ExportTraceServiceResponse` (with `partial_success` when spans
//!   were refused) in the request's encoding; 400 with a `google.rpc.Status` for a body that does not
//!   decode; 413 over the size limits; 415 for another media type or encoding; 503 (retryable) when the
//!   store cannot write.
//! - Jaeger's query API (`model/json`, what Grafana's Jaeger data source and Diamond's UI read):
//!   `GET /api/traces/<id>`, `/api/traces?service=&operation=&tags=&minDuration=&maxDuration=&start=&end=&limit=`,
//!   `/api/services`, `/api/services/<s>/operations`, `/api/operations?service=`.
//! - Tempo's query API (what Grafana's Tempo data source calls): `GET /api/v2/traces/<id>`,
//!   `/api/traces/<id>` with `Accept: application/protobuf`, `/api/search` (tags, TraceQL subset),
//!   `/api/search/tags`, `/api/v2/search/tags`, `/api/search/tag/<t>/values`, `/api/v2/search/tag/<t>/values`,
//!   `/api/echo`.
//!
//! `/api/traces/<id>` is shared by Jaeger and Tempo. Grafana's Tempo data source asks it (or `/api/v2/…`)
//! with `Accept: application/protobuf` and Tempo answers protobuf then; Grafana's Jaeger data source, the
//! Jaeger UI and Diamond's UI ask for JSON. So `Accept` decides: `application/protobuf` (or
//! `application/x-protobuf`) gets Tempo's `tempopb.Trace`, anything else Jaeger's JSON. Tempo's own v1
//! JSON (`{"batches":…}`) is available as `GET /api/traces/<id>?format=tempo`.
//!
//! Trace IDs in paths are parsed with [`diamond_model::traceid::TraceId::parse`], so every format in the
//! wild (short, `0x`, UUID, base64, decimal) finds the trace. The store is synchronous: every call runs in
//! `spawn_blocking`.

use std::io::Read as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use diamond_model::traceid::TraceId;
use prost::Message;
use serde_json::{Value, json};

use crate::search::{DEFAULT_LIMIT, SearchQuery, parse_duration};
use crate::{Store, Trace, jaeger, now_ns, tempo, traceql};

/// Limits of the HTTP layer, with documented defaults.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest request body as sent (compressed), bytes (default 20 MiB, the OpenTelemetry Collector's
    /// default `max_request_body_size`).
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression, bytes (default 64 MiB).
    pub max_decompressed_bytes: usize,
    /// Largest `limit` a search may ask (default 1000).
    pub max_search_limit: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body_bytes: 20 << 20,
            max_decompressed_bytes: 64 << 20,
            max_search_limit: 1000,
        }
    }
}

struct Ctx {
    store: Arc<Store>,
    opts: HttpOptions,
}

/// The routes above over `store`.
pub fn router(store: Arc<Store>, opts: HttpOptions) -> Router {
    let ctx = Arc::new(Ctx { store, opts });
    Router::new()
        .route("/v1/traces", post(ingest))
        .route("/api/v1/otlp/v1/traces", post(ingest))
        .route("/api/traces", get(jaeger_search))
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/v2/traces/{id}", get(trace_v2))
        .route("/api/services", get(services))
        .route("/api/services/{service}/operations", get(service_operations))
        .route("/api/operations", get(operations))
        .route("/api/search", get(tempo_search))
        .route("/api/search/tags", get(tempo_tags))
        .route("/api/v2/search/tags", get(tempo_tags_v2))
        .route("/api/search/tag/{tag}/values", get(tempo_tag_values))
        .route("/api/v2/search/tag/{tag}/values", get(tempo_tag_values_v2))
        .route("/api/echo", get(|| async { "echo" }))
        .with_state(ctx)
}

// ---------------------------------------------------------------------------------------------------
// OTLP ingest

#[derive(Clone, Copy, PartialEq, Eq)]
enum Enc {
    Proto,
    Json,
}

/// `google.rpc.Status { int32 code = 1; string message = 2; }`, the OTLP/HTTP error body.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// `ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }`.
#[derive(Clone, PartialEq, prost::Message)]
struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<PartialSuccess>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartialSuccess {
    #[prost(int64, tag = "1")]
    rejected_spans: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

// gRPC codes used in the Status body (OTLP/HTTP reuses them).
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;
const UNIMPLEMENTED: i32 = 12;

fn otlp_error(enc: Enc, status: StatusCode, code: i32, msg: impl Into<String>) -> Response {
    let message = msg.into();
    match enc {
        Enc::Proto => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            RpcStatus { code, message }.encode_to_vec(),
        )
            .into_response(),
        Enc::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"code": code, "message": message}).to_string(),
        )
            .into_response(),
    }
}

/// Decompresses `bytes` per `Content-Encoding`, at most `limit` bytes out.
pub fn decode_body(encoding: &str, bytes: &[u8], limit: usize) -> Result<Vec<u8>, (StatusCode, String)> {
    let enc = encoding.trim();
    if enc.is_empty() || enc.eq_ignore_ascii_case("identity") {
        return Ok(bytes.to_vec());
    }
    if !enc.eq_ignore_ascii_case("gzip") {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content encoding {enc:?}: only gzip is accepted"),
        ));
    }
    let mut out = Vec::new();
    let mut r = flate2::read::GzDecoder::new(bytes).take(limit as u64 + 1);
    r.read_to_end(&mut out)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("gzip: {e}")))?;
    if out.len() > limit {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed body larger than {limit} bytes"),
        ));
    }
    Ok(out)
}

/// Decodes an export request body (already decompressed) in the given encoding.
pub fn decode_request(json: bool, raw: &[u8]) -> Result<diamond_wire::proto::otlp::ExportTraceServiceRequest, String> {
    if json {
        crate::otlp_json::decode_request(raw).map_err(|e| e.to_string())
    } else {
        diamond_wire::decode_otlp_traces(raw).map_err(|e| e.to_string())
    }
}

async fn ingest(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Body) -> Response {
    let ct = header_str(&headers, header::CONTENT_TYPE);
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let enc = match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Enc::Proto,
        "application/json" => Enc::Json,
        _ => {
            return otlp_error(
                Enc::Json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                UNIMPLEMENTED,
                format!("unsupported content type {ct:?}: use application/x-protobuf or application/json"),
            );
        }
    };
    let bytes = match axum::body::to_bytes(body, ctx.opts.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return otlp_error(
                enc,
                StatusCode::PAYLOAD_TOO_LARGE,
                RESOURCE_EXHAUSTED,
                format!("request body larger than {} bytes", ctx.opts.max_body_bytes),
            );
        }
    };
    let raw = match decode_body(
        &header_str(&headers, header::CONTENT_ENCODING),
        &bytes,
        ctx.opts.max_decompressed_bytes,
    ) {
        Ok(r) => r,
        Err((status, msg)) => {
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                RESOURCE_EXHAUSTED
            } else {
                INVALID_ARGUMENT
            };
            return otlp_error(enc, status, code, msg);
        }
    };
    let req = match decode_request(enc == Enc::Json, &raw) {
        Ok(r) => r,
        Err(e) => return otlp_error(enc, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, e),
    };
    let store = Arc::clone(&ctx.store);
    let outcome = match tokio::task::spawn_blocking(move || store.ingest(&req, now_ns())).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            tracing::error!("trace store write failed: {e}");
            return otlp_error(enc, StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, e.to_string());
        }
        Err(e) => return otlp_error(enc, StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, e.to_string()),
    };
    let rejected = outcome.rejected_total();
    match enc {
        Enc::Proto => {
            let resp = ExportResponse {
                partial_success: (rejected > 0).then(|| PartialSuccess {
                    rejected_spans: rejected as i64,
                    error_message: outcome.message(),
                }),
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                resp.encode_to_vec(),
            )
                .into_response()
        }
        Enc::Json => {
            let v = if rejected > 0 {
                json!({"partialSuccess": {"rejectedSpans": rejected.to_string(), "errorMessage": outcome.message()}})
            } else {
                json!({})
            };
            json_response(StatusCode::OK, &v)
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Trace by ID

fn header_str(h: &HeaderMap, name: header::HeaderName) -> String {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

fn wants_protobuf(h: &HeaderMap) -> bool {
    header_str(h, header::ACCEPT).split(',').any(|m| {
        let m = m.split(';').next().unwrap_or("").trim();
        m.eq_ignore_ascii_case("application/protobuf") || m.eq_ignore_ascii_case("application/x-protobuf")
    })
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg.into(),
    )
        .into_response()
}

fn jaeger_error(status: StatusCode, msg: &str) -> Response {
    json_response(status, &jaeger::error(status.as_u16(), msg))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::Error> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

async fn find(ctx: &Ctx, id: TraceId) -> Result<Option<Trace>, String> {
    let store = Arc::clone(&ctx.store);
    blocking(move || store.trace(&id)).await
}

fn query_pairs(q: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

async fn trace_v1(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let proto = wants_protobuf(&headers);
    let tempo_json = param(&query_pairs(&q), "format") == Some("tempo");
    let Ok(tid) = TraceId::parse(&id) else {
        let msg = format!("invalid trace ID {id:?}");
        return if proto || tempo_json {
            text(StatusCode::BAD_REQUEST, msg)
        } else {
            jaeger_error(StatusCode::BAD_REQUEST, &msg)
        };
    };
    match find(&ctx, tid).await {
        Err(e) if proto || tempo_json => text(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => jaeger_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Ok(None) if proto || tempo_json => text(StatusCode::NOT_FOUND, "trace not found"),
        Ok(None) => jaeger_error(StatusCode::NOT_FOUND, "trace not found"),
        Ok(Some(t)) if proto => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/protobuf")],
            tempo::trace_v1_proto(&t),
        )
            .into_response(),
        Ok(Some(t)) if tempo_json => json_response(StatusCode::OK, &tempo::trace_v1_json(&t)),
        Ok(Some(t)) => json_response(StatusCode::OK, &jaeger::envelope(json!([jaeger::trace_json(&t)]), 0)),
    }
}

async fn trace_v2(State(ctx): State<Arc<Ctx>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Ok(tid) = TraceId::parse(&id) else {
        return text(StatusCode::BAD_REQUEST, format!("invalid trace ID {id:?}"));
    };
    match find(&ctx, tid).await {
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e),
        Ok(None) => text(StatusCode::NOT_FOUND, "trace not found"),
        Ok(Some(t)) if wants_protobuf(&headers) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/protobuf")],
            tempo::trace_v2_proto(&t),
        )
            .into_response(),
        Ok(Some(t)) => json_response(StatusCode::OK, &tempo::trace_v2_json(&t)),
    }
}

// ---------------------------------------------------------------------------------------------------
// Jaeger: services, operations, search

async fn services(State(ctx): State<Arc<Ctx>>) -> Response {
    let store = Arc::clone(&ctx.store);
    match blocking(move || Ok(store.services())).await {
        Ok(s) => {
            let n = s.len();
            json_response(StatusCode::OK, &jaeger::envelope(json!(s), n))
        }
        Err(e) => jaeger_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

async fn service_operations(State(ctx): State<Arc<Ctx>>, Path(service): Path<String>) -> Response {
    let store = Arc::clone(&ctx.store);
    match blocking(move || Ok(store.operations(&service))).await {
        Ok(ops) => {
            let n = ops.len();
            json_response(StatusCode::OK, &jaeger::envelope(json!(ops), n))
        }
        Err(e) => jaeger_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// `/api/operations?service=` (Jaeger ≥ 1.16): `[{name, spanKind}]`. Span kinds are not indexed, so
/// `spanKind` is empty, which Jaeger answers for "any".
async fn operations(State(ctx): State<Arc<Ctx>>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(&q);
    let Some(service) = param(&pairs, "service").map(str::to_owned) else {
        return jaeger_error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
    };
    let store = Arc::clone(&ctx.store);
    match blocking(move || Ok(store.operations(&service))).await {
        Ok(ops) => {
            let n = ops.len();
            let v: Vec<Value> = ops.into_iter().map(|o| json!({"name": o, "spanKind": ""})).collect();
            json_response(StatusCode::OK, &jaeger::envelope(json!(v), n))
        }
        Err(e) => jaeger_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

fn parse_limit(s: Option<&str>, max: usize) -> Result<usize, String> {
    match s {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<usize>() {
            Ok(0) => Ok(DEFAULT_LIMIT),
            Ok(n) => Ok(n.min(max)),
            Err(_) => Err(format!("invalid limit {s:?}: not a non-negative integer")),
        },
    }
}

fn parse_u64(name: &str, s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("invalid {name} {s:?}: not a non-negative integer"))
}

/// The Jaeger search parameters as a [`SearchQuery`] (times in µs, durations Go-style, `tags` a JSON
/// object or repeated `tag=key:value`).
fn jaeger_query(pairs: &[(String, String)], max_limit: usize) -> Result<SearchQuery, String> {
    let mut q = SearchQuery {
        service: param(pairs, "service").map(str::to_owned),
        operation: param(pairs, "operation").map(str::to_owned),
        limit: parse_limit(param(pairs, "limit"), max_limit)?,
        ..SearchQuery::default()
    };
    if q.service.is_none() {
        return Err("parameter 'service' is required".into());
    }
    let us = |name: &str| -> Result<Option<u64>, String> {
        param(pairs, name)
            .map(|s| parse_u64(name, s).map(|v| v.saturating_mul(1000)))
            .transpose()
    };
    q.start_ns = us("start")?;
    q.end_ns = us("end")?;
    let dur = |name: &str| -> Result<Option<u64>, String> {
        param(pairs, name)
            .map(|s| parse_duration(s).ok_or_else(|| format!("invalid {name} {s:?}: not a duration")))
            .transpose()
    };
    q.min_span_ns = dur("minDuration")?;
    q.max_span_ns = dur("maxDuration")?;
    for (k, v) in pairs {
        if k == "tags" && !v.is_empty() {
            let m: serde_json::Map<String, Value> =
                serde_json::from_str(v).map_err(|e| format!("invalid tags {v:?}: {e}"))?;
            for (tk, tv) in m {
                let tv = match tv {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                q.tags.push((tk, tv));
            }
        } else if k == "tag" {
            let (tk, tv) = v
                .split_once(':')
                .ok_or_else(|| format!("invalid tag {v:?}: expected key:value"))?;
            q.tags.push((tk.to_owned(), tv.to_owned()));
        }
    }
    Ok(q)
}

async fn jaeger_search(State(ctx): State<Arc<Ctx>>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(&q);
    // `traceID=a&traceID=b` fetches those traces (Jaeger's UI compare view).
    let ids: Vec<&str> = pairs
        .iter()
        .filter(|(k, v)| k == "traceID" && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect();
    if !ids.is_empty() {
        let mut out = Vec::new();
        for id in ids {
            let Ok(tid) = TraceId::parse(id) else {
                return jaeger_error(StatusCode::BAD_REQUEST, &format!("invalid trace ID {id:?}"));
            };
            match find(&ctx, tid).await {
                Ok(Some(t)) => out.push(jaeger::trace_json(&t)),
                Ok(None) => {}
                Err(e) => return jaeger_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
            }
        }
        let n = out.len();
        return json_response(StatusCode::OK, &jaeger::envelope(json!(out), n));
    }
    let query = match jaeger_query(&pairs, ctx.opts.max_search_limit) {
        Ok(q) => q,
        Err(e) => return jaeger_error(StatusCode::BAD_REQUEST, &e),
    };
    let store = Arc::clone(&ctx.store);
    match blocking(move || store.search(&query)).await {
        Ok(r) => {
            let data: Vec<Value> = r.traces.iter().map(|(_, t)| jaeger::trace_json(t)).collect();
            let n = data.len();
            json_response(StatusCode::OK, &jaeger::envelope(json!(data), n))
        }
        Err(e) => jaeger_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

// ---------------------------------------------------------------------------------------------------
// Tempo: search and tags

/// Splits Tempo's logfmt `tags` (`a=b c="d e"`).
pub fn logfmt(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("invalid tags {s:?}: expected key=value"))?;
        let key = rest[..eq].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("invalid tags {s:?}: expected key=value"));
        }
        rest = &rest[eq + 1..];
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = r.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let end = end.ok_or_else(|| format!("invalid tags {s:?}: unterminated quote"))?;
            value = v;
            rest = &r[end + 1..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = rest[..end].to_owned();
            rest = &rest[end..];
        }
        out.push((key.to_owned(), value));
        rest = rest.trim_start();
    }
    Ok(out)
}

fn tempo_query(pairs: &[(String, String)], max_limit: usize) -> Result<SearchQuery, String> {
    let mut q = SearchQuery {
        limit: parse_limit(param(pairs, "limit"), max_limit)?,
        ..SearchQuery::default()
    };
    let secs = |name: &str| -> Result<Option<u64>, String> {
        param(pairs, name)
            .map(|s| parse_u64(name, s).map(|v| v.saturating_mul(1_000_000_000)))
            .transpose()
    };
    q.start_ns = secs("start")?;
    // `end` is a whole second: include spans starting within it.
    q.end_ns = secs("end")?.map(|e| e.saturating_add(999_999_999));
    let dur = |name: &str| -> Result<Option<u64>, String> {
        param(pairs, name)
            .map(|s| parse_duration(s).ok_or_else(|| format!("invalid {name} {s:?}: not a duration")))
            .transpose()
    };
    q.min_trace_ns = dur("minDuration")?;
    q.max_trace_ns = dur("maxDuration")?;
    if let Some(t) = param(pairs, "tags") {
        // Tempo's legacy tags: substrings for its well-known keys, each met anywhere in the trace
        // (see `search::tempo_tag_holds`); TraceQL below compares exactly, on one span.
        q.trace_tags = logfmt(t)?;
    }
    if let Some(tql) = param(pairs, "q") {
        traceql::apply(tql, &mut q)?;
    }
    Ok(q)
}

async fn tempo_search(State(ctx): State<Arc<Ctx>>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(&q);
    let query = match tempo_query(&pairs, ctx.opts.max_search_limit) {
        Ok(q) => q,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let store = Arc::clone(&ctx.store);
    let segments = store.stats().segments;
    match blocking(move || store.search(&query)).await {
        Ok(r) => {
            let traces: Vec<Value> = r.traces.iter().map(|(s, _)| tempo::search_hit(s)).collect();
            json_response(
                StatusCode::OK,
                &json!({
                    "traces": traces,
                    "metrics": {
                        "inspectedBytes": r.inspected_bytes.to_string(),
                        "totalBlocks": segments,
                    },
                }),
            )
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Tempo's intrinsics, listed under the `intrinsic` scope.
const INTRINSICS: [&str; 6] = ["duration", "kind", "name", "status", "statusMessage", "traceDuration"];

async fn tempo_tags(State(ctx): State<Arc<Ctx>>) -> Response {
    let (res, span) = ctx.store.tag_names();
    let mut all: Vec<String> = res.into_iter().chain(span).collect();
    all.sort();
    all.dedup();
    json_response(StatusCode::OK, &json!({"tagNames": all}))
}

async fn tempo_tags_v2(State(ctx): State<Arc<Ctx>>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(&q);
    let scope = param(&pairs, "scope").unwrap_or("all");
    let (res, span) = ctx.store.tag_names();
    let mut scopes = Vec::new();
    if matches!(scope, "all" | "resource") {
        scopes.push(json!({"name": "resource", "tags": res}));
    }
    if matches!(scope, "all" | "span") {
        scopes.push(json!({"name": "span", "tags": span}));
    }
    if matches!(scope, "all" | "intrinsic") {
        scopes.push(json!({"name": "intrinsic", "tags": INTRINSICS}));
    }
    json_response(StatusCode::OK, &json!({"scopes": scopes}))
}

/// The tag name without a `resource.`/`span.`/`.` scope prefix (v2 names are scoped).
fn unscoped(tag: &str) -> &str {
    tag.strip_prefix("resource.")
        .or_else(|| tag.strip_prefix("span."))
        .or_else(|| tag.strip_prefix('.'))
        .unwrap_or(tag)
}

fn tag_values(ctx: &Ctx, tag: &str) -> Vec<String> {
    let key = unscoped(tag);
    if key == "service.name" {
        return ctx.store.services();
    }
    ctx.store.tag_values(key)
}

async fn tempo_tag_values(State(ctx): State<Arc<Ctx>>, Path(tag): Path<String>) -> Response {
    json_response(StatusCode::OK, &json!({"tagValues": tag_values(&ctx, &tag)}))
}

async fn tempo_tag_values_v2(State(ctx): State<Arc<Ctx>>, Path(tag): Path<String>) -> Response {
    let vals: Vec<Value> = match unscoped(&tag) {
        "status" => ["ok", "error", "unset"]
            .iter()
            .map(|v| json!({"type": "keyword", "value": v}))
            .collect(),
        "kind" => ["unspecified", "internal", "server", "client", "producer", "consumer"]
            .iter()
            .map(|v| json!({"type": "keyword", "value": v}))
            .collect(),
        "name" => {
            let mut ops: Vec<String> = ctx
                .store
                .services()
                .iter()
                .flat_map(|s| ctx.store.operations(s))
                .collect();
            ops.sort();
            ops.dedup();
            ops.into_iter().map(|v| json!({"type": "string", "value": v})).collect()
        }
        _ => tag_values(&ctx, &tag)
            .into_iter()
            .map(|v| json!({"type": "string", "value": v}))
            .collect(),
    };
    json_response(StatusCode::OK, &json!({"tagValues": vals}))
}

#[cfg(test)]
mod tests;
