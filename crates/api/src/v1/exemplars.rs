//! `/api/v1/query_exemplars`, with Diamond's optional `limit` (maximum number of exemplars in all; 0 or
//! absent: no limit), parsed as Prometheus parses `limit` elsewhere.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use diamond_exemplars::SeriesExemplars;

use crate::ApiState;
use crate::error::ApiError;
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use crate::response::{no_content, push_labels, success_raw};

/// Exemplars of every series selected by any vector selector of the query (functions and aggregations are
/// ignored: exemplars are raw), within `[start, end]`.
pub(crate) async fn query(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let limit = crate::v1::parse_limit(p.get("limit"))?;
    let Some(mut found) = select(&state, &p).await? else {
        // Prometheus answers nil data with 204 and no body.
        return Ok(no_content());
    };
    let warnings: Vec<String> = apply_limit(&mut found, limit).into_iter().collect();
    let mut b = String::with_capacity(256 + found.len() * 128);
    b.push('[');
    for (i, s) in found.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        b.push_str(r#"{"seriesLabels":"#);
        push_labels(&mut b, &s.series_labels);
        b.push_str(r#","exemplars":["#);
        for (j, e) in s.exemplars.iter().enumerate() {
            if j > 0 {
                b.push(',');
            }
            b.push_str(r#"{"labels":"#);
            push_labels(&mut b, &e.labels);
            // The value is a JSON string of digits, '.', '-', "NaN" or "±Inf": nothing to escape.
            b.push_str(r#","value":""#);
            diamond_model::write_value(&mut b, e.value);
            b.push_str(r#"","timestamp":"#);
            diamond_model::write_timestamp(&mut b, e.ts);
            b.push('}');
        }
        b.push_str("]}");
    }
    b.push(']');
    Ok(success_raw(&b, &warnings, &[]))
}

/// Keeps at most `limit` exemplars in all (0: no limit): series in order and, within the budget, each
/// series' exemplars in time order. Answers the warning to send when something was cut.
pub(crate) fn apply_limit(found: &mut Vec<SeriesExemplars>, limit: usize) -> Option<String> {
    if limit == 0 {
        return None;
    }
    let total: usize = found.iter().map(|s| s.exemplars.len()).sum();
    if total <= limit {
        return None;
    }
    let mut left = limit;
    for s in found.iter_mut() {
        s.exemplars.truncate(left);
        left -= s.exemplars.len();
    }
    found.retain(|s| !s.exemplars.is_empty());
    Some(format!("results truncated due to limit: {limit} of {total} exemplars"))
}

/// The parameters and selection of `query_exemplars`, shared with `/api/diamond/v1/exemplars/links` so both
/// answer the same exemplars and the same errors. `None` when the query has no vector selector.
pub(crate) async fn select(state: &Arc<ApiState>, p: &Params) -> Result<Option<Vec<SeriesExemplars>>, ApiError> {
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
    }
    let expr = diamond_promql::parse(p.get("query")).map_err(|e| ApiError::bad_data(e.to_string()))?;
    let sets = diamond_promql::extract_selectors(&expr);
    if sets.is_empty() {
        return Ok(None);
    }
    let backend = Arc::clone(&state.backend);
    let found = tokio::task::spawn_blocking(move || backend.exemplars(start, end, &sets))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Some(found))
}
