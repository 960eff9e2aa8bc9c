//! Request parameters as Prometheus reads them: the URL query merged with a form-encoded POST body (body
//! values first, as Go's `Request.FormValue`), and its time and duration syntaxes.

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Method, Request, header};
use chrono::DateTime;

use crate::error::ApiError;

/// Lowest timestamp the API accepts and the default `start` (ms). Matches Prometheus's `minTime`.
pub const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// Highest timestamp the API accepts and the default `end` (ms). Matches Prometheus's `maxTime`.
pub const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;

/// Largest form body read (Go's default for ParseForm is 10 MB).
const MAX_FORM_BYTES: usize = 10 << 20;

/// All parameters of a request, in Go's `Request.Form` order.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Builds from pairs (for tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Params {
            pairs: pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect(),
        }
    }

    /// The first value of `name` (empty when absent, as `FormValue`).
    pub fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether `name` was given at all.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A timestamp parameter, or `default` when absent or empty.
    pub fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        let v = self.get(name);
        if v.is_empty() {
            return Ok(default);
        }
        // Prometheus 3.5's parseTimeParam wraps the parse error once more.
        parse_time(v).map_err(|e| ApiError::invalid_param(name, format!("invalid time value for '{name}': {e}")))
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, Self::Rejection> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let query_pairs: Vec<(String, String)> = req
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if (req.method() == Method::POST || req.method() == Method::PUT) && is_form {
            let body = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))?;
            if body.len() > MAX_FORM_BYTES {
                return Err(ApiError::bad_data("error parsing form values: http: POST too large"));
            }
            pairs.extend(form_urlencoded::parse(&body).into_owned());
        }
        pairs.extend(query_pairs);
        Ok(Params { pairs })
    }
}

/// Parses a timestamp as Prometheus's API does: float Unix seconds (rounded to ms) or RFC 3339, plus the
/// formatted min/max times.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>()
        && !s.contains(['x', 'X', '_'])
        && !s.to_ascii_lowercase().contains("inf")
        && !s.to_ascii_lowercase().contains("nan")
    {
        let secs = f.trunc();
        let frac = ((f - secs) * 1000.0).round();
        let ms = secs * 1000.0 + frac;
        if !ms.is_finite() || ms > i64::MAX as f64 || ms < i64::MIN as f64 {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        return Ok(ms as i64);
    }
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => Ok(t.timestamp_millis()),
        Err(_) => Err(format!("cannot parse {s:?} to a valid timestamp")),
    }
}

/// Parses a duration as Prometheus's API does: float seconds, or a Prometheus duration (`5m`, `1h30m`).
/// Returns milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>()
        && !s.to_ascii_lowercase().contains("inf")
        && !s.to_ascii_lowercase().contains("nan")
    {
        let ns = f * 1e9;
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!("cannot parse {s:?} to a valid duration. It overflows int64"));
        }
        return Ok((f * 1000.0).round() as i64);
    }
    prom_duration_ms(s).ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// A Prometheus duration string (`1y2w3d4h5m6s7ms`, units in descending order, each once) in ms; the one
/// parser of that syntax lives in the config crate.
pub fn prom_duration_ms(s: &str) -> Option<i64> {
    diamond_config::parse_duration(s)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000.123"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("1.0006"), Ok(1001));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.5+01:00"), Ok(1_699_996_400_500));
        assert!(parse_time("abc").is_err());
        assert!(parse_time("NaN").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("15"), Ok(15_000));
        assert_eq!(parse_duration_ms("0.5"), Ok(500));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("100ms"), Ok(100));
        assert!(parse_duration_ms("1s1m").is_err());
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("1e30").is_err());
    }

    #[test]
    fn bounds_match_prometheus() {
        // Prometheus: minTime = -292273086-05-16T16:47:06Z, maxTime = 292277025-08-18T07:12:54.999999999Z.
        assert_eq!(MIN_TIME_MS, -9_223_309_901_257_974_000);
        assert_eq!(MAX_TIME_MS, 9_223_309_901_257_974_999);
    }
}
