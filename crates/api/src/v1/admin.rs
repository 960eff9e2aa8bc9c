//! `/api/v1/admin/tsdb/*`, behind `--web.enable-admin-api` as in Prometheus 3.5: `delete_series`,
//! `clean_tombstones` and `snapshot`. Disabled, each answers 500 `unavailable` "admin APIs disabled"
//! (checked against the reference Prometheus 3.5 binary).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::parse_metric_selector;
use crate::ApiState;
use crate::error::{ApiError, ErrorType};
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use crate::response::Success;

fn check_enabled(state: &ApiState) -> Result<(), ApiError> {
    if state.options.enable_admin_api {
        return Ok(());
    }
    Err(ApiError {
        kind: ErrorType::Unavailable,
        message: "admin APIs disabled".into(),
    })
}

fn bad_match(e: ApiError) -> ApiError {
    if e.message.starts_with("invalid parameter") {
        e
    } else {
        ApiError::invalid_param("match[]", e.message)
    }
}

/// `POST|PUT /api/v1/admin/tsdb/delete_series?match[]=…&start=…&end=…`: 204 once the data is hidden.
/// As Prometheus, each `match[]` is parsed and deleted in turn (a bad selector after a good one fails
/// the request after the good one was applied), and `start > end` deletes nothing without an error.
pub(crate) async fn delete_series(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    check_enabled(&state)?;
    let matches: Vec<String> = p.all("match[]").into_iter().map(str::to_owned).collect();
    if matches.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    let backend = Arc::clone(&state.backend);
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        for m in &matches {
            let ms = parse_metric_selector(m).map_err(bad_match)?;
            backend.delete_series(start, end, &ms).map_err(ApiError::internal)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST|PUT /api/v1/admin/tsdb/clean_tombstones`: 204 once deleted data is removed.
pub(crate) async fn clean_tombstones(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    check_enabled(&state)?;
    let backend = Arc::clone(&state.backend);
    tokio::task::spawn_blocking(move || backend.clean_tombstones())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A snapshot's name as Prometheus makes it: `<UTC time 20060102T150405Z>-<16 hex digits of a random
/// 63-bit number>`.
pub(crate) fn snapshot_name(now: chrono::DateTime<chrono::Utc>) -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS once per process and per instance; mixing in the time keeps two
    // snapshots of one second apart, which is all the name needs.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now.timestamp_nanos_opt().unwrap_or_default());
    let r = h.finish() >> 1;
    format!("{}-{r:016x}", now.format("%Y%m%dT%H%M%SZ"))
}

/// `POST|PUT /api/v1/admin/tsdb/snapshot?skip_head=<bool>`: 200 `{"name": "<name>"}`, the snapshot
/// being `<data>/snapshots/<name>`.
pub(crate) async fn snapshot(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    check_enabled(&state)?;
    let skip = p.get("skip_head");
    let skip_head = if skip.is_empty() {
        false
    } else {
        parse_go_bool(skip).ok_or_else(|| {
            ApiError::invalid_param(
                "skip_head",
                format!("unable to parse boolean: strconv.ParseBool: parsing {skip:?}: invalid syntax"),
            )
        })?
    };
    let name = snapshot_name(chrono::Utc::now());
    let backend = Arc::clone(&state.backend);
    let n = name.clone();
    tokio::task::spawn_blocking(move || backend.snapshot(&n, skip_head))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::internal)?;
    Ok(Success::new(json!({ "name": name })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bools_and_names() {
        assert_eq!(parse_go_bool("T"), Some(true));
        assert_eq!(parse_go_bool("False"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
        assert_eq!(parse_go_bool("tRUE"), None);
        let t = chrono::DateTime::from_timestamp(1_733_325_048, 0).unwrap_or_default();
        let a = snapshot_name(t);
        assert!(a.starts_with("20241204T151048Z-"), "{a}");
        assert_eq!(a.len(), "20241204T151048Z-".len() + 16);
        assert!(
            a[17..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, snapshot_name(t), "random part differs");
    }
}
