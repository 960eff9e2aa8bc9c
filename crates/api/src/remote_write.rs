//! `POST /api/v1/write`: the remote-write receiver (1.0 and 2.0).
//!
//! Status codes follow Prometheus's receiver: 204 on success; 415 for an unknown content type or
//! compression; 400 for bodies that do not decode and for samples the storage refuses as bad data
//! (out of order, duplicate, out of bounds: a retry cannot succeed); 413 for a body over the size limit;
//! 500 only when the storage itself fails (a retry may succeed). Exemplar problems never fail a request.
//!
//! Version 1.0: the first refused sample rolls the whole request back (as Prometheus 3.5 does); series
//! with invalid labels are skipped and counted. Version 2.0: refused samples are skipped, the rest is
//! committed, and the answer is 400 with the written counts in `X-Prometheus-Remote-Write-*-Written`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use diamond_model::storage::AppendError;
use diamond_model::{Labels, METRIC_NAME};
use diamond_wire::{Limits, RemoteWriteVersion, WriteBatch};

use crate::ApiState;

/// Counters exposed on `/metrics`.
#[derive(Debug, Default)]
pub struct RemoteWriteStats {
    requests: AtomicU64,
    failed_requests: AtomicU64,
    samples: AtomicU64,
    exemplars: AtomicU64,
    exemplars_rejected: AtomicU64,
    invalid_series: AtomicU64,
    histograms_dropped: AtomicU64,
}

impl RemoteWriteStats {
    /// The counters in the exposition format.
    pub fn render(&self, om: bool) -> String {
        let mut s = String::new();
        let rows = [
            (
                "diamond_remote_write_requests",
                "Remote-write requests received.",
                &self.requests,
            ),
            (
                "diamond_remote_write_failed_requests",
                "Remote-write requests answered with an error.",
                &self.failed_requests,
            ),
            (
                "diamond_remote_write_samples",
                "Samples appended from remote write.",
                &self.samples,
            ),
            (
                "diamond_remote_write_exemplars",
                "Exemplars stored from remote write.",
                &self.exemplars,
            ),
            (
                "diamond_remote_write_exemplars_rejected",
                "Exemplars from remote write the store refused.",
                &self.exemplars_rejected,
            ),
            (
                "diamond_remote_write_invalid_series",
                "Series skipped for invalid labels.",
                &self.invalid_series,
            ),
            (
                "diamond_remote_write_histograms_dropped",
                "Native histogram samples dropped (not supported yet).",
                &self.histograms_dropped,
            ),
        ];
        for (name, help, v) in rows {
            let family = if om { name.to_owned() } else { format!("{name}_total") };
            let _ = writeln!(
                s,
                "# HELP {family} {help}\n# TYPE {family} counter\n{name}_total {}",
                v.load(Ordering::Relaxed)
            );
        }
        s
    }
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", msg.into()),
    )
        .into_response()
}

/// Outcome of appending a batch.
struct Written {
    samples: u64,
    exemplars: u64,
    bad: Option<String>,
}

pub(crate) async fn write(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Body) -> Response {
    state.remote_write.requests.fetch_add(1, Ordering::Relaxed);
    let resp = handle(&state, &headers, body).await;
    if !resp.status().is_success() {
        state.remote_write.failed_requests.fetch_add(1, Ordering::Relaxed);
    }
    resp
}

async fn handle(state: &Arc<ApiState>, headers: &HeaderMap, body: Body) -> Response {
    if !state.options.enable_remote_write {
        return error(StatusCode::NOT_FOUND, "remote write receiver is disabled");
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let version = match diamond_wire::remote_write_version(ct) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()),
    };
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !enc.is_empty() && !enc.eq_ignore_ascii_case("snappy") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{enc} encoding (compression) is not accepted by this server; only snappy is acceptable"),
        );
    }
    let limits = Limits {
        max_body_bytes: state.options.max_remote_write_body,
        max_decompressed_bytes: state.options.max_remote_write_decompressed,
    };
    let bytes = match axum::body::to_bytes(body, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {} bytes", limits.max_body_bytes),
            );
        }
    };
    let raw = match diamond_wire::decompress_snappy(&bytes, &limits) {
        Ok(r) => r,
        Err(e) => return error(wire_status(&e), e.to_string()),
    };
    let batch = match version {
        RemoteWriteVersion::V1 => diamond_wire::decode_remote_write_v1(&raw),
        RemoteWriteVersion::V2 => diamond_wire::decode_remote_write_v2(&raw),
    };
    let batch = match batch {
        Ok(b) => b,
        Err(e) => return error(wire_status(&e), e.to_string()),
    };
    let st = Arc::clone(state);
    let result = tokio::task::spawn_blocking(move || append(&st, batch, version)).await;
    let written = match result {
        Ok(Ok(w)) => w,
        Ok(Err(AppendError::Storage(e))) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut resp = match &written.bad {
        Some(msg) => error(StatusCode::BAD_REQUEST, msg.clone()),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    if version == RemoteWriteVersion::V2 {
        let h = resp.headers_mut();
        for (name, v) in [
            ("x-prometheus-remote-write-samples-written", written.samples),
            ("x-prometheus-remote-write-histograms-written", 0),
            ("x-prometheus-remote-write-exemplars-written", written.exemplars),
        ] {
            h.insert(name, HeaderValue::from(v));
        }
    }
    resp
}

/// 413 for bodies over a size limit, 400 for anything that does not decode (wire decides which).
fn wire_status(e: &diamond_wire::Error) -> StatusCode {
    StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// `POST /api/v1/otlp/v1/metrics`: OTLP/HTTP metrics (protobuf, optionally gzip), translated to series as
/// Prometheus's OTLP receiver does and appended with remote-write 1.0 semantics (a refused sample fails the
/// request with 400; metrics that cannot be translated are skipped). Answers 200 with an empty
/// `ExportMetricsServiceResponse`.
pub(crate) async fn otlp_metrics(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Body) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/x-protobuf" {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content type {ct:?}: only application/x-protobuf is accepted"),
        );
    }
    let limits = Limits {
        max_body_bytes: state.options.max_remote_write_body,
        max_decompressed_bytes: state.options.max_remote_write_decompressed,
    };
    let bytes = match axum::body::to_bytes(body, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let raw: Vec<u8> = if enc.eq_ignore_ascii_case("gzip") {
        use std::io::Read;
        let mut out = Vec::new();
        let mut r = flate2::read::GzDecoder::new(&bytes[..]).take(limits.max_decompressed_bytes as u64 + 1);
        if let Err(e) = r.read_to_end(&mut out) {
            return error(StatusCode::BAD_REQUEST, format!("gzip: {e}"));
        }
        if out.len() > limits.max_decompressed_bytes {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "decompressed body too large");
        }
        out
    } else if enc.is_empty() || enc.eq_ignore_ascii_case("identity") {
        bytes.to_vec()
    } else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content encoding {enc:?}"),
        );
    };
    let req = match diamond_wire::decode_otlp_metrics(&raw) {
        Ok(r) => r,
        Err(e) => return error(wire_status(&e), e.to_string()),
    };
    let batch = diamond_wire::otlp_metrics_to_batch(&req);
    let st = Arc::clone(&state);
    match tokio::task::spawn_blocking(move || append(&st, batch, RemoteWriteVersion::V1)).await {
        Ok(Ok(_)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::<u8>::new(),
        )
            .into_response(),
        Ok(Err(AppendError::Storage(e))) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn valid_series_labels(l: &Labels) -> bool {
    l.get(METRIC_NAME).is_some_and(|n| !n.is_empty()) && l.iter().all(|x| !x.name.is_empty())
}

fn append(state: &ApiState, batch: WriteBatch, version: RemoteWriteVersion) -> Result<Written, AppendError> {
    let stats = &state.remote_write;
    let mut app = state.backend.appender();
    let mut written = Written {
        samples: 0,
        exemplars: 0,
        bad: None,
    };
    // Invalid series were left out by the decoder: 1.0 skips them silently (counted), 2.0 answers 400 after
    // committing the rest, as Prometheus's receiver does.
    stats
        .invalid_series
        .fetch_add(batch.rejected.len() as u64, Ordering::Relaxed);
    if version == RemoteWriteVersion::V2
        && let Some(r) = batch.rejected.first()
    {
        written.bad = Some(r.reason.clone());
    }
    for (family, m) in &batch.metadata {
        let l = Labels::from_pairs(&[(METRIC_NAME, family.as_str())]);
        let _ = app.update_metadata(0, &l, m);
    }
    for ts in &batch.series {
        stats
            .histograms_dropped
            .fetch_add(ts.histograms_dropped as u64, Ordering::Relaxed);
        if !valid_series_labels(&ts.labels) {
            stats.invalid_series.fetch_add(1, Ordering::Relaxed);
            if version == RemoteWriteVersion::V2 && written.bad.is_none() {
                written.bad = Some(format!("invalid metric name or labels, got {}", ts.labels));
            }
            continue;
        }
        let mut sref = 0;
        let mut series_ok = true;
        for s in &ts.samples {
            match app.append(sref, &ts.labels, s.t, s.v) {
                Ok(r) => {
                    sref = r;
                    written.samples += 1;
                }
                Err(e) if version == RemoteWriteVersion::V1 => {
                    app.rollback();
                    return Err(e);
                }
                Err(AppendError::Storage(e)) => {
                    app.rollback();
                    return Err(AppendError::Storage(e));
                }
                Err(e) => {
                    if written.bad.is_none() {
                        written.bad = Some(format!("{e} for series {}", ts.labels));
                    }
                    series_ok = false;
                    break;
                }
            }
        }
        if !series_ok {
            continue;
        }
        if let Some(m) = &ts.metadata {
            let _ = app.update_metadata(sref, &ts.labels, m);
        }
        for e in &ts.exemplars {
            match app.append_exemplar(sref, &ts.labels, e) {
                Ok(()) => written.exemplars += 1,
                // Exemplar storage errors never fail the request (as Prometheus): counted only.
                Err(_) => {
                    stats.exemplars_rejected.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    app.commit()?;
    stats.samples.fetch_add(written.samples, Ordering::Relaxed);
    stats.exemplars.fetch_add(written.exemplars, Ordering::Relaxed);
    Ok(written)
}
