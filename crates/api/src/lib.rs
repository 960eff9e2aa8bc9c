//! Diamond's HTTP API: the Prometheus v1 read API in Prometheus's exact JSON shapes, the remote-write
//! receiver, and the lifecycle endpoints (`/-/healthy`, `/-/ready`, `/-/reload`, `/metrics`).
//!
//! The crate knows nothing of the TSDB, scrape manager or config: the server implements [`Backend`] and
//! hands it to [`router`]. That keeps every handler testable with `tower::ServiceExt::oneshot` against a
//! small in-memory backend, with no sockets.
//!
//! Principal types: [`ApiState`] (backend + PromQL engine + options), [`error::ApiError`] (the single
//! mapping of failures to Prometheus's `errorType` and HTTP status), [`params::Params`] (query string
//! merged with a form-encoded body, as Go's `Request.FormValue`).

mod ast;
mod coverage;
pub mod error;
pub mod links;
pub mod params;
mod remote_write;
mod response;
mod series_cache;
mod v1;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
pub use coverage::ExemplarCoverage;
use diamond_exemplars::SeriesExemplars;
use diamond_model::storage::{Appender, Queryable};
use diamond_model::{Matcher, Metadata, Timestamp};
pub use remote_write::RemoteWriteStats;

/// What the API needs from the rest of the server.
pub trait Backend: Send + Sync + 'static {
    /// The storage to read.
    fn queryable(&self) -> &dyn Queryable;
    /// A write transaction (remote write).
    fn appender(&self) -> Box<dyn Appender>;
    /// Exemplars of series matching any matcher set within `[start, end]`.
    fn exemplars(&self, start: Timestamp, end: Timestamp, matcher_sets: &[Vec<Matcher>]) -> Vec<SeriesExemplars>;
    /// What the exemplar store holds, per series (`/api/diamond/v1/exemplars/coverage`). The default
    /// reports an empty, disabled store.
    fn exemplar_coverage(&self) -> ExemplarCoverage {
        ExemplarCoverage::default()
    }
    /// Metadata by metric family (from targets and from remote write), possibly several per family.
    fn metadata(&self) -> Vec<(String, Metadata)>;
    /// `/api/v1/status/tsdb` data.
    fn tsdb_status(&self, limit: usize) -> serde_json::Value;
    /// `/api/v1/targets` data: `{activeTargets, droppedTargets, droppedTargetCounts}`.
    fn targets(&self) -> serde_json::Value;
    /// Reloads the configuration file.
    fn reload(&self) -> Result<(), String>;
    /// The loaded configuration as YAML.
    fn config_yaml(&self) -> String;
    /// The command-line flags as Prometheus shows them.
    fn flags(&self) -> BTreeMap<String, String>;
    /// `/api/v1/status/runtimeinfo` data.
    fn runtime_info(&self) -> serde_json::Value;
    /// Diamond's own metrics, in OpenMetrics text (without `# EOF`, which the handler adds) or classic text.
    fn self_metrics(&self, openmetrics: bool) -> String;
    /// Whether start-up (WAL replay) has finished.
    fn ready(&self) -> bool;
    /// Deletes the samples in `[start, end]` of the series matching `matchers` (admin `delete_series`).
    fn delete_series(&self, start: Timestamp, end: Timestamp, matchers: &[Matcher]) -> Result<(), String> {
        let _ = (start, end, matchers);
        Err("this storage does not support deleting series".into())
    }
    /// Removes deleted data from memory and files (admin `clean_tombstones`).
    fn clean_tombstones(&self) -> Result<(), String> {
        Err("this storage does not support tombstones".into())
    }
    /// Writes a snapshot as `<data>/snapshots/<name>`, without the head when `skip_head` (admin `snapshot`).
    fn snapshot(&self, name: &str, skip_head: bool) -> Result<(), String> {
        let _ = (name, skip_head);
        Err("this storage does not support snapshots".into())
    }
    /// The trace-link resolver (destinations from the config, the embedded store's lookup). `None`: links
    /// to the embedded store only, never checked.
    fn trace_links(&self) -> Option<Arc<links::TraceLinks>> {
        None
    }
}

/// Options of the API layer.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Largest remote-write body accepted, compressed.
    pub max_remote_write_body: usize,
    /// Largest remote-write body accepted, decompressed.
    pub max_remote_write_decompressed: usize,
    /// Whether `/-/reload` is enabled (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
    /// Whether `/api/v1/admin/tsdb/*` is enabled (`--web.enable-admin-api`; default off, as Prometheus).
    pub enable_admin_api: bool,
    /// Whether `/api/v1/write` is enabled.
    pub enable_remote_write: bool,
    /// Version reported by buildinfo.
    pub version: String,
    /// Default query timeout.
    pub query_timeout: std::time::Duration,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            max_remote_write_body: 32 << 20,
            max_remote_write_decompressed: 256 << 20,
            enable_lifecycle: true,
            enable_remote_write: true,
            enable_admin_api: false,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            query_timeout: std::time::Duration::from_secs(120),
        }
    }
}

/// Shared state of every handler.
pub struct ApiState {
    /// The server behind the API.
    pub backend: Arc<dyn Backend>,
    /// The PromQL engine.
    pub engine: diamond_promql::Engine,
    /// Options.
    pub options: ApiOptions,
    /// Remote-write counters for `/metrics`.
    pub remote_write: RemoteWriteStats,
    /// Bounds concurrent queries (`--query.max-concurrency`).
    pub query_slots: tokio::sync::Semaphore,
    /// Remote write's label bytes → series ref cache (see `series_cache.rs`).
    pub(crate) series_cache: series_cache::SeriesCache,
    /// Trace links when the backend has none of its own.
    pub(crate) fallback_links: Arc<links::TraceLinks>,
}

impl ApiState {
    /// State with the given parts and up to `max_concurrency` concurrent queries.
    pub fn new(
        backend: Arc<dyn Backend>,
        engine: diamond_promql::Engine,
        options: ApiOptions,
        max_concurrency: usize,
    ) -> Self {
        ApiState {
            backend,
            engine,
            options,
            remote_write: RemoteWriteStats::default(),
            query_slots: tokio::sync::Semaphore::new(max_concurrency.max(1)),
            series_cache: series_cache::SeriesCache::new(series_cache::DEFAULT_MAX_ENTRIES),
            fallback_links: Arc::new(links::TraceLinks::new()),
        }
    }
}

/// The whole HTTP surface.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/v1/query", get(v1::query::instant).post(v1::query::instant))
        .route("/api/v1/query_range", get(v1::query::range).post(v1::query::range))
        .route("/api/v1/format_query", get(v1::query::format).post(v1::query::format))
        .route(
            "/api/v1/parse_query",
            get(v1::query::parse_query).post(v1::query::parse_query),
        )
        .route(
            "/api/v1/query_exemplars",
            get(v1::exemplars::query).post(v1::exemplars::query),
        )
        .route(
            "/api/v1/series",
            get(v1::series::series)
                .post(v1::series::series)
                .delete(v1::series::method_not_allowed),
        )
        .route(
            "/api/diamond/v1/exemplars/links",
            get(links::handler::links).post(links::handler::links),
        )
        .route("/api/diamond/v1/exemplars/links/open", get(links::handler::open))
        .route("/api/diamond/v1/exemplars/coverage", get(coverage::handler))
        .route("/api/v1/labels", get(v1::series::labels).post(v1::series::labels))
        .route("/api/v1/label/{name}/values", get(v1::series::label_values))
        .route("/api/v1/metadata", get(v1::status::metadata))
        .route("/api/v1/targets", get(v1::status::targets))
        .route("/api/v1/targets/metadata", get(v1::status::targets_metadata))
        .route("/api/v1/rules", get(v1::status::rules))
        .route("/api/v1/alerts", get(v1::status::alerts))
        .route("/api/v1/alertmanagers", get(v1::status::alertmanagers))
        .route("/api/v1/status/buildinfo", get(v1::status::buildinfo))
        .route("/api/v1/status/config", get(v1::status::config))
        .route("/api/v1/status/flags", get(v1::status::flags))
        .route("/api/v1/status/runtimeinfo", get(v1::status::runtimeinfo))
        .route("/api/v1/status/tsdb", get(v1::status::tsdb))
        .route("/api/v1/status/walreplay", get(v1::status::walreplay))
        .route("/api/v1/write", post(remote_write::write))
        .route("/api/v1/otlp/v1/metrics", post(remote_write::otlp_metrics))
        .route("/-/healthy", get(v1::status::healthy).head(v1::status::healthy))
        .route("/-/ready", get(v1::status::ready).head(v1::status::ready))
        .route(
            "/-/reload",
            post(v1::status::reload)
                .put(v1::status::reload)
                .get(v1::status::reload_get),
        )
        .route("/metrics", get(v1::status::metrics))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(v1::admin::delete_series).put(v1::admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(v1::admin::clean_tombstones).put(v1::admin::clean_tombstones),
        )
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(v1::admin::snapshot).put(v1::admin::snapshot),
        )
        // Every route above answers a method it does not serve as Go's router does for Prometheus:
        // 405 with an `Allow` header and a plain-text body (axum's default body is empty).
        .method_not_allowed_fallback(v1::status::method_not_allowed)
        .with_state(state)
}
