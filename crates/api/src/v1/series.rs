//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use diamond_model::Labels;

use super::{parse_limit, parse_match_params};
use crate::ApiState;
use crate::error::{ApiError, ErrorType};
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use crate::response::{push_json_str, push_labels, success_raw};

const TRUNCATED: &str = "results truncated due to limit";

/// `/api/v1/series`: label sets of the series matching any `match[]`, sorted and de-duplicated.
pub(crate) async fn series(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let matches = p.all("match[]");
    if matches.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    let sets = parse_match_params(&matches)?;
    let limit = parse_limit(p.get("limit"))?;
    let backend = Arc::clone(&state.backend);
    let found: BTreeSet<Labels> = tokio::task::spawn_blocking(move || -> Result<BTreeSet<Labels>, ApiError> {
        let q = backend.queryable().querier(start, end)?;
        let mut out = BTreeSet::new();
        for set in &sets {
            for s in q.select(set)? {
                out.insert(s.labels);
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let mut warnings = Vec::new();
    let mut b = String::from("[");
    for (i, l) in found.iter().enumerate() {
        if limit > 0 && i >= limit {
            warnings.push(TRUNCATED.to_owned());
            break;
        }
        if i > 0 {
            b.push(',');
        }
        push_labels(&mut b, l);
    }
    b.push(']');
    Ok(success_raw(&b, &warnings, &[]))
}

fn string_list(items: &BTreeSet<String>, limit: usize) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    let mut b = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if limit > 0 && i >= limit {
            warnings.push(TRUNCATED.to_owned());
            break;
        }
        if i > 0 {
            b.push(',');
        }
        push_json_str(&mut b, s);
    }
    b.push(']');
    (b, warnings)
}

/// `/api/v1/labels`.
pub(crate) async fn labels(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    let sets = parse_match_params(&p.all("match[]"))?;
    let limit = parse_limit(p.get("limit"))?;
    let backend = Arc::clone(&state.backend);
    let names = tokio::task::spawn_blocking(move || -> Result<BTreeSet<String>, ApiError> {
        let q = backend.queryable().querier(start, end)?;
        let mut out = BTreeSet::new();
        if sets.is_empty() {
            out.extend(q.label_names(&[])?);
        }
        for set in &sets {
            out.extend(q.label_names(set)?);
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let (b, w) = string_list(&names, limit);
    Ok(success_raw(&b, &w, &[]))
}

/// `/api/v1/label/<name>/values`.
pub(crate) async fn label_values(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let name = unescape_label_name(&name);
    if name.is_empty() {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    let sets = parse_match_params(&p.all("match[]"))?;
    let limit = parse_limit(p.get("limit"))?;
    let backend = Arc::clone(&state.backend);
    let values = tokio::task::spawn_blocking(move || -> Result<BTreeSet<String>, ApiError> {
        let q = backend.queryable().querier(start, end)?;
        let mut out = BTreeSet::new();
        if sets.is_empty() {
            out.extend(q.label_values(&name, &[])?);
        }
        for set in &sets {
            out.extend(q.label_values(&name, set)?);
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let (b, w) = string_list(&values, limit);
    Ok(success_raw(&b, &w, &[]))
}

/// Prometheus 3 accepts UTF-8 label names in the path escaped as `U__` + underscore escapes
/// (`U__a_2e_b` is `a.b`); plain names pass through.
fn unescape_label_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else {
        return name.to_owned();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let hex: String = chars.by_ref().take_while(|c| *c != '_').collect();
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            None => return name.to_owned(),
        }
    }
    out
}

/// `DELETE /api/v1/series` belongs to the admin API (issue 4).
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError {
        kind: ErrorType::Unavailable,
        message: "admin APIs disabled".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::unescape_label_name;

    #[test]
    fn utf8_label_names() {
        assert_eq!(unescape_label_name("job"), "job");
        assert_eq!(unescape_label_name("U__a_2e_b"), "a.b");
        assert_eq!(unescape_label_name("U__a__b"), "a_b");
    }
}
