//! Handlers of `/api/v1/*` and the lifecycle endpoints.

pub(crate) mod admin;
pub(crate) mod exemplars;
pub(crate) mod query;
pub(crate) mod series;
pub(crate) mod status;

use diamond_model::Matcher;

use crate::error::ApiError;

/// Parses a `match[]` value: a vector selector (`up{job="x"}`, `{__name__=~"a.*"}`), into its matchers.
pub(crate) fn parse_metric_selector(s: &str) -> Result<Vec<Matcher>, ApiError> {
    let expr = diamond_promql::parse(s).map_err(|e| ApiError::bad_data(e.to_string()))?;
    match expr {
        promql_parser::parser::Expr::VectorSelector(_) => {
            let mut sets = diamond_promql::extract_selectors(&expr);
            Ok(sets.pop().unwrap_or_default())
        }
        _ => Err(ApiError::bad_data(format!(
            "1:1: parse error: unexpected expression, expected vector selector: {s}"
        ))),
    }
}

/// Parses every `match[]` value.
pub(crate) fn parse_match_params(values: &[&str]) -> Result<Vec<Vec<Matcher>>, ApiError> {
    values.iter().map(|s| parse_metric_selector(s)).collect()
}

/// Parses the `limit` parameter (0 = none).
pub(crate) fn parse_limit(s: &str) -> Result<usize, ApiError> {
    if s.is_empty() {
        return Ok(0);
    }
    let n: i64 = s
        .parse()
        .map_err(|_| ApiError::invalid_param("limit", format!("cannot parse {s:?} to a valid limit")))?;
    if n < 0 {
        return Err(ApiError::invalid_param("limit", "limit must be non-negative"));
    }
    Ok(n as usize)
}
