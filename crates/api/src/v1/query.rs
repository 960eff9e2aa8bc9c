//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query`, `/api/v1/parse_query`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::Response;
use diamond_promql::{CancelToken, QueryResult, Value};

use crate::ApiState;
use crate::error::{ApiError, ErrorType};
use crate::params::{Params, parse_duration_ms, parse_time};
use crate::response::{
    close_success, json_response, json_response_stream, push_json_str, push_labels, push_point, start_success,
    success_raw,
};

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

/// Runs a query on a query thread, under the concurrency limit and the timeout; returns the result and
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
    // Straight onto one of the engine's deep-stack query threads (the engine runs in place there), not
    // through the blocking pool: one thread hand-over per query instead of two.
    let (tx, rx) = tokio::sync::oneshot::channel();
    diamond_promql::spawn_on_query_thread(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&st, &token)));
        let _ = tx.send(r);
    })
    .map_err(|e| ApiError::internal(format!("cannot start a query thread: {e}")))?;
    let res = match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(Ok(r))) => r,
        Ok(Ok(Err(_))) | Ok(Err(_)) => return Err(ApiError::internal("query panicked")),
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
    Ok(encode(res.0, stats.then_some(res.1)))
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
    Ok(encode(res.0, stats.then_some(res.1)))
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
            b.push_str(MATRIX_OPEN);
            push_series(b, series, true);
            b.push(']');
        }
    }
}

const MATRIX_OPEN: &str = r#"{"resultType":"matrix","result":["#;

/// Appends the series of a matrix result, comma-separated (`first`: no comma before the first).
fn push_series(b: &mut String, series: &[diamond_promql::RangeSeries], first: bool) {
    for (i, s) in series.iter().enumerate() {
        if i > 0 || !first {
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
}

/// Points in a matrix result from which it is streamed (see [`stream_matrix`]).
const STREAM_POINTS: usize = 200_000;

/// Points per streamed part (about 1.3 MB of JSON).
const PART_POINTS: usize = 32_768;

/// Encodes `series` part by part, handing each to `send` in order, which returns false when the client is
/// gone (encoding then stops). Parts are encoded a group at a time on rayon's pool, several per thread,
/// and each group's series are dropped once encoded, so that memory falls as the answer goes out. The
/// first part sent is `head`, the last `tail`.
fn encode_matrix_parts(
    series: Vec<diamond_promql::RangeSeries>,
    head: String,
    tail: String,
    mut send: impl FnMut(String) -> bool,
) {
    use rayon::prelude::*;
    if !send(head) {
        return;
    }
    let group_len = rayon::current_num_threads().max(1) * 2;
    let mut rest = series.into_iter().peekable();
    let mut first = true;
    while rest.peek().is_some() {
        // Runs of series of about PART_POINTS points each.
        let mut group: Vec<Vec<diamond_promql::RangeSeries>> = Vec::with_capacity(group_len);
        while group.len() < group_len && rest.peek().is_some() {
            let mut run = Vec::new();
            let mut points = 0;
            while points < PART_POINTS
                && let Some(s) = rest.next()
            {
                points += s.samples.len() + 1;
                run.push(s);
            }
            group.push(run);
        }
        let parts: Vec<String> = group
            .par_iter()
            .enumerate()
            .map(|(k, run)| {
                let mut b = String::with_capacity(encoded_size_hint_series(run));
                push_series(&mut b, run, first && k == 0);
                b
            })
            .collect();
        first = false;
        drop(group);
        for p in parts {
            if !send(p) {
                return;
            }
        }
    }
    send(tail);
}

/// A large matrix result, streamed: encoded in parts on rayon's pool by a blocking task while earlier
/// parts are being sent, at most a few parts ahead of the client. Prometheus encodes the whole answer
/// into one buffer before writing it; streaming keeps an answer of hundreds of megabytes out of memory.
/// The body is chunked (its length is not known in advance), as Go sends Prometheus's large answers.
fn stream_matrix(series: Vec<diamond_promql::RangeSeries>, tail: String) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(2 * rayon::current_num_threads().max(1) + 2);
    let mut head = start_success(0);
    head.push_str(MATRIX_OPEN);
    tokio::task::spawn_blocking(move || {
        encode_matrix_parts(series, head, tail, |p| tx.blocking_send(bytes::Bytes::from(p)).is_ok());
    });
    json_response_stream(rx)
}

/// What follows a matrix result's series: the closing bracket, stats, warnings and infos.
fn matrix_tail(res: &QueryResult, stats: Option<Duration>) -> String {
    let mut tail = String::from("]");
    if let Some(queue) = stats {
        push_stats(&mut tail, &res.stats, queue);
    }
    tail.push('}');
    close_success(&mut tail, &res.warnings, &res.infos);
    tail
}

fn encoded_size_hint_series(series: &[diamond_promql::RangeSeries]) -> usize {
    series.iter().map(|s| 96 + s.samples.len() * 40).sum()
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
        Value::Matrix(m) => encoded_size_hint_series(m),
        _ => 64,
    }
}

/// The response for `res`, with `stats` when the request asked for them (`Some(queue time)`).
fn encode(res: QueryResult, stats: Option<Duration>) -> Response {
    if let Value::Matrix(m) = &res.value
        && m.iter().map(|s| s.samples.len()).sum::<usize>() >= STREAM_POINTS
    {
        let tail = matrix_tail(&res, stats);
        let Value::Matrix(series) = res.value else {
            unreachable!("matched above")
        };
        return stream_matrix(series, tail);
    }
    json_response(encode_whole(&res, stats))
}

/// The response body for `res` in one string.
fn encode_whole(res: &QueryResult, stats: Option<Duration>) -> String {
    let mut body = start_success(encoded_size_hint(&res.value));
    encode_value_open(&mut body, &res.value);
    if let Some(queue) = stats {
        push_stats(&mut body, &res.stats, queue);
    }
    body.push('}');
    close_success(&mut body, &res.warnings, &res.infos);
    body
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

#[cfg(test)]
mod tests {
    use super::*;
    use diamond_model::Labels;
    use diamond_promql::{QueryStats, RangeSeries};

    /// A matrix streamed in parts gives, part after part, the bytes of the one-string encoding, with
    /// stats, warnings and infos, whatever the series' sizes; encoding stops when the client is gone.
    #[test]
    fn streamed_matrix_equals_the_whole() {
        let series: Vec<RangeSeries> = (0..700u32)
            .map(|i| RangeSeries {
                labels: Labels::from_pairs(&[("job", "a<b>"), ("i", &i.to_string())]),
                // Uneven sizes, some of one point.
                samples: (0..(i * 7 % 1500 + 1))
                    .map(|k| (i64::from(k) * 15_000 + 123, f64::from(k) / f64::from(i + 1)))
                    .collect(),
            })
            .collect();
        let res = QueryResult {
            value: Value::Matrix(series.clone()),
            warnings: vec!["PromQL warning: w".to_owned()],
            infos: vec!["PromQL info: i".to_owned()],
            stats: QueryStats::default(),
        };
        // A pool of its own, so that parts are encoded in parallel on a machine of one core too.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for stats in [None, Some(Duration::from_millis(3))] {
            let mut head = start_success(0);
            head.push_str(MATRIX_OPEN);
            let mut parts = Vec::new();
            pool.install(|| {
                encode_matrix_parts(series.clone(), head, matrix_tail(&res, stats), |p| {
                    parts.push(p);
                    true
                })
            });
            assert!(parts.len() > 6, "{} parts", parts.len());
            assert_eq!(parts.concat(), encode_whole(&res, stats));
        }
        let mut sent = 0;
        encode_matrix_parts(series, String::new(), String::new(), |_| {
            sent += 1;
            sent < 3
        });
        assert_eq!(sent, 3, "stops at the first refused part");
    }
}
