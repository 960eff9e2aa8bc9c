//! `GET|POST /api/diamond/v1/exemplars/links`: `query_exemplars`' answer with each exemplar's trace link
//! (shape in `docs/api/diamond.md`). Parameters and errors are `query_exemplars`' own (the same parsing
//! code), plus `limit`, parsed as Prometheus parses `limit` elsewhere.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use diamond_model::Labels;

use super::{ExemplarTrace, TraceLinks};
use crate::ApiState;
use crate::error::ApiError;
use crate::params::Params;
use crate::response::{finish_success, push_json_str, push_labels, start_success};

pub(crate) async fn links(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let limit = crate::v1::parse_limit(p.get("limit"))?;
    let mut found = crate::v1::exemplars::select(&state, &p).await?.unwrap_or_default();
    let warnings: Vec<String> = crate::v1::exemplars::apply_limit(&mut found, limit)
        .into_iter()
        .collect();
    let links: Arc<TraceLinks> = state
        .backend
        .trace_links()
        .unwrap_or_else(|| Arc::clone(&state.fallback_links));
    let labels: Vec<&Labels> = found
        .iter()
        .flat_map(|s| s.exemplars.iter().map(|e| &e.labels))
        .collect();
    let traces = links.resolve(&labels).await;
    let mut b = start_success(256 + labels.len() * 512);
    let mut traces = traces.iter();
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
            b.push_str(r#","value":""#);
            diamond_model::write_value(&mut b, e.value);
            b.push_str(r#"","timestamp":"#);
            diamond_model::write_timestamp(&mut b, e.ts);
            b.push_str(r#","trace":"#);
            match traces.next() {
                Some(t) => push_trace(&mut b, t),
                None => b.push_str("null"),
            }
            b.push('}');
        }
        b.push_str("]}");
    }
    b.push(']');
    Ok(finish_success(b, &warnings, &[]))
}

fn push_opt(b: &mut String, v: Option<&str>) {
    match v {
        Some(s) => push_json_str(b, s),
        None => b.push_str("null"),
    }
}

fn push_trace(b: &mut String, t: &ExemplarTrace) {
    b.push_str(r#"{"label":"#);
    push_opt(b, t.label.as_deref());
    b.push_str(r#","raw":"#);
    push_opt(b, t.raw.as_deref());
    b.push_str(r#","traceId":"#);
    push_opt(b, t.trace_id.map(|i| i.to_hex()).as_deref());
    b.push_str(r#","spanId":"#);
    push_opt(b, t.span_id.map(|i| i.to_hex()).as_deref());
    b.push_str(r#","status":""#);
    b.push_str(t.status.as_str());
    b.push_str(r#"","error":"#);
    push_opt(b, t.error.as_ref().map(ToString::to_string).as_deref());
    b.push_str(r#","links":["#);
    for (i, l) in t.links.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        b.push_str(r#"{"name":"#);
        push_json_str(b, &l.name);
        b.push_str(r#","url":"#);
        push_json_str(b, &l.url);
        b.push_str(r#","internal":"#);
        b.push_str(if l.internal { "true" } else { "false" });
        b.push_str(r#","status":""#);
        b.push_str(l.status);
        b.push_str("\"}");
    }
    b.push_str("]}");
}

/// `GET /api/diamond/v1/exemplars/links/open?destination=<name>&trace_id=<raw>[&span_id=<raw>]`: a 302 to
/// the destination's link for the *normalised* ID. Grafana substitutes the raw label value into a data
/// link (`${__value.raw}`), so an uppercase, base64, UUID or 64-bit ID would break a Tempo or Jaeger link;
/// `diamond grafana-datasource` points Grafana here instead. `destination=diamond` (the default) opens the
/// embedded store's trace view.
pub(crate) async fn open(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;
    let id = diamond_model::traceid::TraceId::parse(p.get("trace_id"))
        .map_err(|e| ApiError::invalid_param("trace_id", e))?;
    let span = match p.get("span_id") {
        "" => None,
        s => diamond_model::traceid::SpanId::parse(s).ok(),
    };
    let hex = id.to_hex();
    let span_hex = span.map(|s| s.to_hex());
    let name = match p.get("destination") {
        "" => diamond_config::EMBEDDED_DESTINATION,
        n => n,
    };
    let url = if name == diamond_config::EMBEDDED_DESTINATION {
        format!("/trace/{hex}")
    } else {
        let links: Arc<TraceLinks> = state
            .backend
            .trace_links()
            .unwrap_or_else(|| Arc::clone(&state.fallback_links));
        let dest = links.destinations().into_iter().find(|d| d.name == name);
        match dest {
            Some(d) => d.link(&hex, span_hex.as_deref()),
            None => {
                return Err(ApiError::invalid_param(
                    "destination",
                    format!("no trace destination named {name:?}"),
                ));
            }
        }
    };
    Ok((axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, url)]).into_response())
}
