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
//!
//! 1.0 requests go through the series cache (`series_cache.rs`): the body is decoded with each series'
//! labels left as raw bytes, a series seen before is appended by its cached ref without decoding or looking
//! up its labels, and only new series pay for both. The outcome (status, stored data, counters) is the same
//! as decoding every label set, which 2.0 and OTLP still do.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use diamond_model::storage::AppendError;
use diamond_model::{Labels, METRIC_NAME};
use diamond_wire::{Limits, RawSeries, RemoteWriteVersion, WriteBatch};

use crate::ApiState;
use crate::series_cache::SeriesKey;

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

/// Why a request failed after its body was read.
enum Failure {
    /// The body does not decode.
    Wire(diamond_wire::Error),
    /// The storage refused the request.
    Append(AppendError),
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
    let limits = limits(state);
    let bytes = match read_body(body, &limits).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let raw = match diamond_wire::decompress_snappy(&bytes, &limits) {
        Ok(r) => r,
        Err(e) => return error(wire_status(&e), e.to_string()),
    };
    let st = Arc::clone(state);
    let result = match version {
        // 1.0 decodes in the blocking task too: with the series cache, decoding is most of what is left.
        RemoteWriteVersion::V1 => tokio::task::spawn_blocking(move || append_v1(&st, &raw)).await,
        RemoteWriteVersion::V2 => {
            let batch = match diamond_wire::decode_remote_write_v2(&raw) {
                Ok(b) => b,
                Err(e) => return error(wire_status(&e), e.to_string()),
            };
            tokio::task::spawn_blocking(move || append(&st, batch, version).map_err(Failure::Append)).await
        }
    };
    let written = match result {
        Ok(Ok(w)) => w,
        Ok(Err(Failure::Wire(e))) => return error(wire_status(&e), e.to_string()),
        Ok(Err(Failure::Append(AppendError::Storage(e)))) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Ok(Err(Failure::Append(e))) => return error(StatusCode::BAD_REQUEST, e.to_string()),
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

/// The receivers' size limits, from the API options.
fn limits(state: &ApiState) -> Limits {
    Limits {
        max_body_bytes: state.options.max_remote_write_body,
        max_decompressed_bytes: state.options.max_remote_write_decompressed,
    }
}

/// Reads the whole body, answering 413 when it is over the compressed-size limit.
async fn read_body(body: Body, limits: &Limits) -> Result<bytes::Bytes, Response> {
    axum::body::to_bytes(body, limits.max_body_bytes).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {} bytes", limits.max_body_bytes),
        )
    })
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
    let limits = limits(&state);
    let bytes = match read_body(body, &limits).await {
        Ok(b) => b,
        Err(resp) => return resp,
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

/// Appends a (decompressed) 1.0 body through the series cache; the same outcome as decoding it with
/// `decode_remote_write_v1` and calling [`append`].
fn append_v1(state: &ApiState, raw: &[u8]) -> Result<Written, Failure> {
    let mut req = diamond_wire::decode_remote_write_v1_raw(raw).map_err(Failure::Wire)?;
    // Moved to the appender, not copied; `exemplars[i]` belongs to the request's i-th series.
    let mut exemplars = req.take_exemplars();
    let stats = &state.remote_write;
    let mut app = state.backend.appender();
    let mut written = Written {
        samples: 0,
        exemplars: 0,
        bad: None,
    };
    for (family, m) in req.metadata() {
        let l = Labels::from_pairs(&[(METRIC_NAME, family.as_str())]);
        let _ = app.update_metadata(0, &l, m);
    }
    // Passed with a cached ref: the appender resolves the ref and never reads them, unless the ref is
    // stale, and then it refuses the empty set and the labels are decoded (see `series_cache.rs`).
    let no_labels = Labels::default();
    let mut invalid = 0u64;
    let mut histograms = 0u64;
    let mut series = req.series().zip(exemplars.iter_mut());
    while let Some((s, s_exemplars)) = series.next() {
        let key = s.label_key().map(SeriesKey::of);
        // The cache serves series with samples only: without one to resolve the ref in this transaction,
        // exemplars would go to the appender by a ref it may not know.
        let hint = match key {
            Some(k) if !s.samples().is_empty() && s_exemplars.is_empty() => state.series_cache.get(k),
            _ => None,
        };
        let mut labels = None;
        if hint.is_none() {
            match valid_labels(&s) {
                Some(l) => labels = Some(l),
                None => {
                    invalid += 1;
                    continue;
                }
            }
        }
        histograms += s.histograms_dropped() as u64;
        let mut sref = hint.unwrap_or(0);
        for smp in s.samples() {
            let mut res = app.append(sref, labels.as_ref().unwrap_or(&no_labels), smp.t, smp.v);
            if labels.is_none()
                && let Err(AppendError::InvalidLabels(_)) = res
            {
                // The cached ref is gone (or this appender wants labels): decode them and go by labels.
                if let Some(k) = key {
                    state.series_cache.remove(k);
                }
                // A key names one label set, and a cached one is valid: this always decodes.
                let Some(l) = valid_labels(&s) else {
                    invalid += 1;
                    break;
                };
                res = app.append(0, labels.insert(l), smp.t, smp.v);
            }
            match res {
                Ok(r) => {
                    sref = r;
                    written.samples += 1;
                }
                Err(e) => {
                    app.rollback();
                    // Count the invalid series of the rest of the request too, as decoding it all first does.
                    invalid += series.filter(|(s, _)| !is_known_valid(state, s)).count() as u64;
                    stats.invalid_series.fetch_add(invalid, Ordering::Relaxed);
                    stats.histograms_dropped.fetch_add(histograms, Ordering::Relaxed);
                    return Err(Failure::Append(e));
                }
            }
        }
        if let (Some(k), Some(_), true) = (key, &labels, sref != 0) {
            state.series_cache.insert(k, sref);
        }
        if !s_exemplars.is_empty() {
            let l = labels.as_ref().unwrap_or(&no_labels);
            for e in std::mem::take(s_exemplars) {
                match app.append_exemplar_owned(sref, l, e) {
                    Ok(()) => written.exemplars += 1,
                    // Exemplar storage errors never fail the request (as Prometheus): counted only.
                    Err(_) => {
                        stats.exemplars_rejected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
    stats.invalid_series.fetch_add(invalid, Ordering::Relaxed);
    stats.histograms_dropped.fetch_add(histograms, Ordering::Relaxed);
    app.commit().map_err(Failure::Append)?;
    stats.samples.fetch_add(written.samples, Ordering::Relaxed);
    stats.exemplars.fetch_add(written.exemplars, Ordering::Relaxed);
    Ok(written)
}

/// The series' labels when they are valid (`None` for a series 1.0 skips as invalid).
fn valid_labels(s: &RawSeries<'_, '_>) -> Option<Labels> {
    s.labels().ok().filter(valid_series_labels)
}

/// Whether the series is valid, without decoding its labels when the cache already knows it.
fn is_known_valid(state: &ApiState, s: &RawSeries<'_, '_>) -> bool {
    s.label_key()
        .is_some_and(|k| state.series_cache.get(SeriesKey::of(k)).is_some())
        || valid_labels(s).is_some()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::atomic::AtomicUsize;

    use diamond_exemplars::SeriesExemplars;
    use diamond_model::storage::memory::MemStorage;
    use diamond_model::storage::{Appender, Queryable, SeriesRef};
    use diamond_model::{Exemplar, Matcher, Metadata, Sample, Timestamp};
    use diamond_wire::TimeSeries;
    use parking_lot::Mutex;

    use super::*;
    use crate::{ApiOptions, Backend};

    /// Refs the test appender resolves without labels, as the TSDB head does.
    #[derive(Default)]
    struct Refs {
        labels: Mutex<HashMap<SeriesRef, Labels>>,
        /// Appends resolved by ref alone.
        by_ref: AtomicUsize,
        /// Appends that came with an empty label set.
        unlabelled: AtomicUsize,
    }

    /// An appender over `MemStorage` that honours hints like the TSDB's: a known ref wins over the labels,
    /// an unknown one falls back to them (and empty labels are refused).
    struct HintAppender {
        inner: Box<dyn Appender>,
        refs: Arc<Refs>,
    }

    impl HintAppender {
        fn resolve(&self, hint: SeriesRef, labels: &Labels) -> Labels {
            if labels.is_empty() {
                self.refs.unlabelled.fetch_add(1, Ordering::Relaxed);
            }
            match self.refs.labels.lock().get(&hint) {
                Some(l) if hint != 0 => {
                    self.refs.by_ref.fetch_add(1, Ordering::Relaxed);
                    l.clone()
                }
                _ => labels.clone(),
            }
        }
    }

    impl Appender for HintAppender {
        fn append(&mut self, hint: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef, AppendError> {
            let l = self.resolve(hint, labels);
            let r = self.inner.append(0, &l, t, v)?;
            self.refs.labels.lock().insert(r, l);
            Ok(r)
        }
        fn append_exemplar(&mut self, sref: SeriesRef, labels: &Labels, e: &Exemplar) -> Result<(), AppendError> {
            let l = self.resolve(sref, labels);
            self.inner.append_exemplar(0, &l, e)
        }
        fn update_metadata(&mut self, sref: SeriesRef, labels: &Labels, m: &Metadata) -> Result<(), AppendError> {
            self.inner.update_metadata(sref, labels, m)
        }
        fn commit(self: Box<Self>) -> Result<(), AppendError> {
            self.inner.commit()
        }
        fn rollback(self: Box<Self>) {
            self.inner.rollback()
        }
    }

    struct TestBackend {
        store: MemStorage,
        refs: Arc<Refs>,
    }

    impl Backend for TestBackend {
        fn queryable(&self) -> &dyn Queryable {
            &self.store
        }
        fn appender(&self) -> Box<dyn Appender> {
            Box::new(HintAppender {
                inner: self.store.appender(),
                refs: Arc::clone(&self.refs),
            })
        }
        fn exemplars(&self, _: Timestamp, _: Timestamp, _: &[Vec<Matcher>]) -> Vec<SeriesExemplars> {
            Vec::new()
        }
        fn metadata(&self) -> Vec<(String, Metadata)> {
            Vec::new()
        }
        fn tsdb_status(&self, _: usize) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn targets(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn reload(&self) -> Result<(), String> {
            Ok(())
        }
        fn config_yaml(&self) -> String {
            String::new()
        }
        fn flags(&self) -> BTreeMap<String, String> {
            BTreeMap::new()
        }
        fn runtime_info(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn self_metrics(&self, _: bool) -> String {
            String::new()
        }
        fn ready(&self) -> bool {
            true
        }
    }

    fn state() -> (ApiState, MemStorage, Arc<Refs>) {
        let store = MemStorage::new();
        let refs = Arc::new(Refs::default());
        let backend = Arc::new(TestBackend {
            store: store.clone(),
            refs: Arc::clone(&refs),
        });
        let engine = diamond_promql::Engine::new(diamond_promql::EngineOptions::default());
        (ApiState::new(backend, engine, ApiOptions::default(), 1), store, refs)
    }

    /// A 1.0 body with one sample per series at `t` (the `job="bad"` series has no metric name).
    fn body(t: i64, jobs: &[&str]) -> Vec<u8> {
        let series = jobs
            .iter()
            .map(|&job| TimeSeries {
                labels: if job == "bad" {
                    Labels::from_pairs(&[("job", job)])
                } else {
                    Labels::from_pairs(&[("__name__", "m"), ("job", job)])
                },
                samples: vec![Sample { t, v: t as f64 }],
                ..Default::default()
            })
            .collect();
        diamond_wire::encode_remote_write_v1(&WriteBatch {
            series,
            ..Default::default()
        })
    }

    fn stored(store: &MemStorage) -> Vec<(String, Vec<i64>)> {
        let q = store.querier(i64::MIN, i64::MAX).unwrap();
        q.select(&[Matcher::equal("__name__", "m")])
            .unwrap()
            .into_iter()
            .map(|s| {
                let mut it = s.data.iter(i64::MIN, i64::MAX);
                let mut ts = Vec::new();
                while let Some((t, _)) = it.next() {
                    ts.push(t);
                }
                (s.labels.to_string(), ts)
            })
            .collect()
    }

    #[test]
    fn known_series_are_appended_by_ref() {
        let (st, store, refs) = state();
        for t in [1_000, 2_000, 3_000] {
            let w = append_v1(&st, &body(t, &["a", "bad", "b"])).ok().unwrap();
            assert_eq!(w.samples, 2);
        }
        // The first request decodes; the next two append both series by ref, with no labels.
        assert_eq!(refs.by_ref.load(Ordering::Relaxed), 4);
        assert_eq!(refs.unlabelled.load(Ordering::Relaxed), 4);
        assert_eq!(st.series_cache.len(), 2);
        assert_eq!(st.remote_write.invalid_series.load(Ordering::Relaxed), 3);
        let want = vec![
            (r#"{__name__="m", job="a"}"#.to_owned(), vec![1_000, 2_000, 3_000]),
            (r#"{__name__="m", job="b"}"#.to_owned(), vec![1_000, 2_000, 3_000]),
        ];
        assert_eq!(stored(&store), want);

        // Stale refs (the storage forgot them) fall back to the labels.
        refs.labels.lock().clear();
        assert_eq!(append_v1(&st, &body(4_000, &["a", "b"])).ok().unwrap().samples, 2);
        assert_eq!(stored(&store)[1].1, vec![1_000, 2_000, 3_000, 4_000]);
        assert_eq!(refs.by_ref.load(Ordering::Relaxed), 4);
    }

    /// Exemplars moved out of the request reach the appender with their own series, in order, and a series
    /// without any keeps none (`take_exemplars` is indexed like `series()`, also past an invalid series).
    #[test]
    fn exemplars_go_to_their_series() {
        let (st, store, _) = state();
        let ex = |trace: &str, ts: i64| Exemplar {
            labels: Labels::from_pairs(&[("trace_id", trace)]),
            value: ts as f64,
            ts,
            has_ts: true,
        };
        let series = [("bad", 1), ("a", 2), ("none", 0), ("b", 3)]
            .iter()
            .map(|&(job, n)| TimeSeries {
                labels: if job == "bad" {
                    Labels::from_pairs(&[("job", job)])
                } else {
                    Labels::from_pairs(&[("__name__", "m"), ("job", job)])
                },
                samples: vec![Sample { t: 1_000, v: 1.0 }],
                exemplars: (0..n).map(|k| ex(&format!("{job}{k}"), 1_000 + k)).collect(),
                ..Default::default()
            })
            .collect();
        let raw = diamond_wire::encode_remote_write_v1(&WriteBatch {
            series,
            ..Default::default()
        });
        let w = append_v1(&st, &raw).ok().unwrap();
        assert_eq!((w.samples, w.exemplars), (3, 5));
        let got: Vec<(String, Vec<String>)> = store
            .exemplars(i64::MIN, i64::MAX, &[vec![Matcher::equal("__name__", "m")]])
            .into_iter()
            .map(|(l, es)| {
                let traces = es
                    .iter()
                    .map(|e| e.labels.get("trace_id").unwrap_or("").to_owned())
                    .collect();
                (l.to_string(), traces)
            })
            .collect();
        let want = vec![
            (
                r#"{__name__="m", job="a"}"#.to_owned(),
                vec!["a0".to_owned(), "a1".to_owned()],
            ),
            (
                r#"{__name__="m", job="b"}"#.to_owned(),
                vec!["b0".to_owned(), "b1".to_owned(), "b2".to_owned()],
            ),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_refused_sample_still_rolls_back_the_request() {
        let (st, store, _) = state();
        assert!(append_v1(&st, &body(2_000, &["a", "b"])).is_ok());
        // `a` is new at 3000, `b` out of order at 1000: nothing of the request is kept.
        let mut raw = body(3_000, &["a", "bad"]);
        raw.extend(body(1_000, &["b", "bad"]));
        match append_v1(&st, &raw) {
            Err(Failure::Append(AppendError::OutOfOrder)) => {}
            _ => panic!("want out of order"),
        }
        assert_eq!(stored(&store)[0].1, vec![2_000]);
        // Both invalid series are counted, the one after the refused sample too.
        assert_eq!(st.remote_write.invalid_series.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn bad_bodies_are_wire_errors() {
        let (st, _, _) = state();
        assert!(matches!(append_v1(&st, b"\x0a\x05junk"), Err(Failure::Wire(_))));
    }
}
