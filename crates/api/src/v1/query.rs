//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query`, `/api/v1/parse_query`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::Response;
use diamond_promql::{CancelToken, QueryResult, Value};

use crate::ApiState;
use crate::error::{ApiError, ErrorType};
use crate::params::{Params, parse_duration_ms, parse_time};
use crate::response::{finish_success, push_json_str, push_labels, push_point, start_success, success_raw};

/// Prometheus refuses range queries with more points than this per series.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Cancels the query when the request future is dropped (the client went away).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn timeout_param(state: &ApiState, p: &Params) -> Result<Duration, ApiError> {
    let default = state.options.query_timeout;
    let t = p.get("timeout");
    if t.is_empty() {
        return Ok(default);
    }
    let ms = parse_duration_ms(t).map_err(|e| ApiError::invalid_param("timeout", e))?;
    Ok(Duration::from_millis(ms.max(0) as u64).min(default))
}

/// Runs a query on the blocking pool, under the concurrency limit and the timeout; returns the result and
/// how long it waited for a slot (`execQueueTime`).
async fn run(
    state: Arc<ApiState>,
    timeout: Duration,
    f: impl FnOnce(&ApiState, &CancelToken) -> Result<QueryResult, diamond_promql::Error> + Send + 'static,
) -> Result<(QueryResult, Duration), ApiError> {
    let queued = Instant::now();
    let _permit = state
        .query_slots
        .acquire()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let queue_time = queued.elapsed();
    let cancel = CancelToken::new();
    let guard = CancelOnDrop(cancel.clone());
    let st = Arc::clone(&state);
    let token = cancel.clone();
    let task = tokio::task::spawn_blocking(move || f(&st, &token));
    let res = match tokio::time::timeout(timeout, task).await {
        Ok(joined) => joined.map_err(|e| ApiError::internal(format!("query panicked: {e}")))?,
        Err(_) => {
            cancel.cancel();
            return Err(ApiError {
                kind: ErrorType::Timeout,
                message: "query timed out in expression evaluation".into(),
            });
        }
    };
    drop(guard);
    res.map(|r| (r, queue_time)).map_err(|e| {
        // Prometheus rejects a query that does not parse as a bad `query` parameter
        // (`invalid parameter "query": 1:5: parse error: ...`); evaluation errors are not wrapped. Every
        // parse error, and only those, carries the `parse error:` marker.
        let parse = e.kind == diamond_promql::ErrorKind::BadData && e.message.contains("parse error: ");
        let api = ApiError::from(e);
        if parse {
            ApiError::invalid_param("query", api.message)
        } else {
            api
        }
    })
}

/// `/api/v1/query`.
pub(crate) async fn instant(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let query = p.get("query").to_owned();
    let ts = p.time_or("time", now_ms())?;
    let timeout = timeout_param(&state, &p)?;
    let stats = !p.get("stats").is_empty();
    let res = run(state, timeout, move |st, cancel| {
        if stats {
            let e = st.engine.counting_queryable_samples();
            e.instant_query(st.backend.queryable(), &query, ts, cancel)
        } else {
            st.engine.instant_query(st.backend.queryable(), &query, ts, cancel)
        }
    })
    .await?;
    Ok(encode(&res.0, stats.then_some(res.1)))
}

/// `/api/v1/query_range`.
pub(crate) async fn range(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let start = parse_time(p.get("start")).map_err(|e| ApiError::invalid_param("start", e))?;
    let end = parse_time(p.get("end")).map_err(|e| ApiError::invalid_param("end", e))?;
    if end < start {
        return Err(ApiError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step = parse_duration_ms(p.get("step")).map_err(|e| ApiError::invalid_param("step", e))?;
    if step <= 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = timeout_param(&state, &p)?;
    let query = p.get("query").to_owned();
    let stats = !p.get("stats").is_empty();
    let res = run(state, timeout, move |st, cancel| {
        if stats {
            let e = st.engine.counting_queryable_samples();
            e.range_query(st.backend.queryable(), &query, start, end, step, cancel)
        } else {
            st.engine
                .range_query(st.backend.queryable(), &query, start, end, step, cancel)
        }
    })
    .await?;
    Ok(encode(&res.0, stats.then_some(res.1)))
}

/// Appends a result to `b` as Prometheus's `{"resultType":…,"result":…` without the closing brace, so that
/// `stats` can follow the result.
fn encode_value_open(b: &mut String, v: &Value) {
    let b = &mut *b;
    match v {
        Value::Scalar { t, v } => {
            b.push_str(r#"{"resultType":"scalar","result":"#);
            push_point(b, *t, *v);
        }
        Value::String { t, s } => {
            b.push_str(r#"{"resultType":"string","result":["#);
            diamond_model::write_timestamp(b, *t);
            b.push(',');
            push_json_str(b, s);
            b.push(']');
        }
        Value::Vector(samples) => {
            b.push_str(r#"{"resultType":"vector","result":["#);
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    b.push(',');
                }
                b.push_str(r#"{"metric":"#);
                push_labels(b, &s.labels);
                b.push_str(r#","value":"#);
                push_point(b, s.t, s.v);
                b.push('}');
            }
            b.push(']');
        }
        Value::Matrix(series) => {
            b.push_str(r#"{"resultType":"matrix","result":["#);
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    b.push(',');
                }
                b.push_str(r#"{"metric":"#);
                push_labels(b, &s.labels);
                b.push_str(r#","values":["#);
                for (j, (t, v)) in s.samples.iter().enumerate() {
                    if j > 0 {
                        b.push(',');
                    }
                    push_point(b, *t, *v);
                }
                b.push_str("]}");
            }
            b.push(']');
        }
    }
}

/// Appends Prometheus's `"stats"` member (the `stats` request parameter: any value but empty): timings in
/// seconds and the sample counters. Prometheus adds `totalQueryableSamplesPerStep` only behind its
/// `promql-per-step-stats` feature; Diamond has no such feature, so never.
fn push_stats(b: &mut String, s: &diamond_promql::QueryStats, queue: Duration) {
    use std::fmt::Write as _;
    let prep = s.prepare_time.as_secs_f64();
    let inner = s.eval_time.as_secs_f64();
    let _ = write!(
        b,
        r#","stats":{{"timings":{{"evalTotalTime":{},"resultSortTime":0,"queryPreparationTime":{},"innerEvalTime":{},"execQueueTime":{},"execTotalTime":{}}},"samples":{{"totalQueryableSamples":{},"peakSamples":{}}}}}"#,
        prep + inner,
        prep,
        inner,
        queue.as_secs_f64(),
        prep + inner,
        s.queryable_samples,
        s.peak_samples,
    );
}

/// A rough size of the encoded result, so the body is allocated once.
fn encoded_size_hint(v: &Value) -> usize {
    match v {
        Value::Vector(s) => s.len() * 96,
        // `[1796418660.123,"0.123456789012"],` is about 36 bytes; undershooting costs a copy of the body.
        Value::Matrix(m) => m.iter().map(|s| 96 + s.samples.len() * 40).sum(),
        _ => 64,
    }
}

/// The response for `res`, with `stats` when the request asked for them (`Some(queue time)`).
fn encode(res: &QueryResult, stats: Option<Duration>) -> Response {
    let mut body = start_success(encoded_size_hint(&res.value));
    encode_value_open(&mut body, &res.value);
    if let Some(queue) = stats {
        push_stats(&mut body, &res.stats, queue);
    }
    body.push('}');
    finish_success(body, &res.warnings, &res.infos)
}

/// `/api/v1/format_query`: the expression pretty-printed.
pub(crate) async fn format(p: Params) -> Result<Response, ApiError> {
    let expr = diamond_promql::parse(p.get("query")).map_err(|e| ApiError::invalid_param("query", e))?;
    let mut b = String::new();
    push_json_str(&mut b, &expr.prettify());
    Ok(success_raw(&b, &[], &[]))
}

/// `/api/v1/parse_query`: the syntax tree as JSON.
pub(crate) async fn parse_query(p: Params) -> Result<Response, ApiError> {
    let expr = diamond_promql::parse(p.get("query")).map_err(|e| ApiError::invalid_param("query", e))?;
    let tree = crate::ast::to_json(&expr);
    Ok(success_raw(&tree.to_string(), &[], &[]))
}
