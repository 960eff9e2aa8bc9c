//! Metadata, targets, status and lifecycle endpoints.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::params::Params;
use crate::response::Success;

fn int_param(p: &Params, name: &str) -> Result<i64, ApiError> {
    let s = p.get(name);
    if s.is_empty() {
        return Ok(-1);
    }
    s.parse::<i64>()
        .map_err(|_| ApiError::bad_data(format!("{name} must be a number")))
}

/// `/api/v1/metadata`: `{family: [{type, help, unit}]}` with identical entries merged.
pub(crate) async fn metadata(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let limit = int_param(&p, "limit")?;
    let per_metric = int_param(&p, "limit_per_metric")?;
    let metric = p.get("metric");
    let mut sets: BTreeMap<String, Vec<diamond_model::Metadata>> = BTreeMap::new();
    for (name, m) in state.backend.metadata() {
        if !metric.is_empty() && name != metric {
            continue;
        }
        let e = sets.entry(name).or_default();
        if !e.contains(&m) {
            e.push(m);
        }
    }
    let mut out = serde_json::Map::new();
    for (name, list) in sets {
        if limit >= 0 && out.len() as i64 >= limit {
            break;
        }
        let take = if per_metric > 0 {
            per_metric as usize
        } else {
            usize::MAX
        };
        let items: Vec<Value> = list
            .iter()
            .take(take)
            .map(|m| json!({"type": m.metric_type.as_str(), "unit": m.unit, "help": m.help}))
            .collect();
        out.insert(name, Value::Array(items));
    }
    Ok(Success::new(Value::Object(out)).into_response())
}

/// `/api/v1/targets` with the optional `state` filter (`active`, `dropped`, `any`).
pub(crate) async fn targets(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let mut data = state.backend.targets();
    let want = p.get("state").to_ascii_lowercase();
    if let Some(obj) = data.as_object_mut() {
        if want == "active" {
            obj.insert("droppedTargets".into(), json!([]));
        } else if want == "dropped" {
            obj.insert("activeTargets".into(), json!([]));
        }
        if let Some(pool) = Some(p.get("scrapePool")).filter(|s| !s.is_empty()) {
            for key in ["activeTargets", "droppedTargets"] {
                if let Some(Value::Array(list)) = obj.get_mut(key) {
                    list.retain(|t| t.get("scrapePool").and_then(Value::as_str).is_none_or(|s| s == pool));
                }
            }
        }
    }
    Ok(Success::new(data).into_response())
}

/// `/api/v1/targets/metadata` is not offered yet; answered empty rather than 404 so UIs keep working.
pub(crate) async fn targets_metadata() -> Response {
    Success::new(json!([])).into_response()
}

/// Diamond evaluates no rules.
pub(crate) async fn rules() -> Response {
    Success::new(json!({"groups": []})).into_response()
}

/// Diamond evaluates no alerts.
pub(crate) async fn alerts() -> Response {
    Success::new(json!({"alerts": []})).into_response()
}

/// Diamond sends to no Alertmanager.
pub(crate) async fn alertmanagers() -> Response {
    Success::new(json!({"activeAlertmanagers": [], "droppedAlertmanagers": []})).into_response()
}

/// The Prometheus API level Diamond implements. Grafana reads `version` from buildinfo to decide which API
/// features to use (label queries with `match[]`, `limit`, …), so it must be a Prometheus version, not ours.
pub(crate) const PROMETHEUS_API_VERSION: &str = "3.5.0";

/// `/api/v1/status/buildinfo`: the Prometheus API level in `version`, Diamond's own in `diamondVersion`.
pub(crate) async fn buildinfo(State(state): State<Arc<ApiState>>) -> Response {
    Success::new(json!({
        "version": PROMETHEUS_API_VERSION,
        "revision": option_env!("DIAMOND_GIT_REVISION").unwrap_or("unknown"),
        "branch": "main",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
        "diamondVersion": state.options.version,
    }))
    .into_response()
}

/// `/api/v1/status/config`.
pub(crate) async fn config(State(state): State<Arc<ApiState>>) -> Response {
    Success::new(json!({"yaml": state.backend.config_yaml()})).into_response()
}

/// `/api/v1/status/flags`.
pub(crate) async fn flags(State(state): State<Arc<ApiState>>) -> Response {
    Success::new(json!(state.backend.flags())).into_response()
}

/// `/api/v1/status/runtimeinfo`.
pub(crate) async fn runtimeinfo(State(state): State<Arc<ApiState>>) -> Response {
    Success::new(state.backend.runtime_info()).into_response()
}

/// `/api/v1/status/tsdb` (`limit`, default 10).
pub(crate) async fn tsdb(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let limit = match p.get("limit") {
        "" => 10,
        s => match s.parse::<i64>() {
            Ok(n) if n > 0 => n as usize,
            _ => return Err(ApiError::bad_data("limit must be a positive number")),
        },
    };
    Ok(Success::new(state.backend.tsdb_status(limit)).into_response())
}

/// `/api/v1/status/walreplay`: replay is finished before the listener opens.
pub(crate) async fn walreplay() -> Response {
    Success::new(json!({"min": 0, "max": 0, "current": 0})).into_response()
}

/// `/-/healthy`.
pub(crate) async fn healthy() -> Response {
    (StatusCode::OK, "Diamond Server is Healthy.\n").into_response()
}

/// `/-/ready`.
pub(crate) async fn ready(State(state): State<Arc<ApiState>>) -> Response {
    if state.backend.ready() {
        (StatusCode::OK, "Diamond Server is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
    }
}

/// `/-/reload`: re-reads the configuration file; a bad file keeps the running configuration.
pub(crate) async fn reload(State(state): State<Arc<ApiState>>) -> Response {
    if !state.options.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    let backend = Arc::clone(&state.backend);
    match tokio::task::spawn_blocking(move || backend.reload()).await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `GET /-/reload`: Prometheus answers 405 with this exact text (and, as its handler writes the header
/// after the status, no `Allow` header), whether or not the lifecycle API is enabled.
pub(crate) async fn reload_get() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Only POST or PUT requests allowed",
    )
        .into_response()
}

/// A method a route does not serve: 405 with Go's `http.Error` body, as Prometheus's router answers.
/// axum adds the `Allow` header listing the methods the route does serve.
pub(crate) async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        "Method Not Allowed\n",
    )
        .into_response()
}

/// `/metrics`: Diamond's own metrics, OpenMetrics when the scraper accepts it, else classic text.
pub(crate) async fn metrics(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let om = accept.contains("application/openmetrics-text");
    let mut body = state.backend.self_metrics(om);
    body.push_str(&state.remote_write.render(om));
    if om {
        body.push_str("# EOF\n");
    }
    let ct = if om {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response()
}
