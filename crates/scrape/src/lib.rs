//! Scraping: Diamond's pull ingest, with Prometheus 3.5's behaviour.
//!
//! This crate owns everything between a `scrape_configs` entry and the
//! [`Appender`](diamond_model::storage::Appender) seam:
//! - [`ScrapeManager`] keeps one scrape pool per job. [`ScrapeManager::apply_config`] builds each pool's
//!   targets from `static_configs` and `file_sd_configs` (files re-read every `refresh_interval`), with
//!   `relabel_configs` applied ([`target::populate`]), and diffs them against what runs: unchanged targets
//!   keep their loop, new ones start, removed ones write staleness markers and stop.
//! - One tokio task per target (module `scrape_loop`) scrapes at a fixed phase of its interval (spread by the
//!   target's hash), with Prometheus's request headers ([`http::accept_header`]), gzip, limits and timeout.
//! - [`append`] turns a body into appends: a series cache keyed by the raw series text, `honor_labels` /
//!   `exported_*`, `metric_relabel_configs`, sample and label limits, exemplars, metadata, staleness markers
//!   and the `up` / `scrape_*` report series. It is synchronous, and tested directly against `MemStorage`.
//! - [`TargetStatus`] / [`DroppedTarget`] are what `/api/v1/targets` shows, plus Diamond's exemplar
//!   diagnostics: the negotiated content type, whether it was OpenMetrics, exemplars seen, and a warning when a
//!   target answering classic text makes exemplars impossible.
//!
//! ```no_run
//! use std::sync::Arc;
//! use diamond_model::storage::{memory::MemStorage, Appender};
//! use diamond_scrape::ScrapeManager;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let storage = MemStorage::new();
//! let s = storage.clone();
//! let manager = ScrapeManager::new(Arc::new(move || s.appender()));
//! let cfg = diamond_config::parse(
//!     "scrape_configs:\n  - job_name: node\n    static_configs: [{targets: ['localhost:9100']}]\n",
//!     "prometheus.yml",
//! )?;
//! manager.apply_config(&cfg)?;
//! for t in manager.active_targets() {
//!     println!("{} {}", t.scrape_url, t.state.health.as_str());
//! }
//! manager.stop().await;
//! # Ok(())
//! # }
//! ```

pub mod append;
pub mod http;
mod manager;
mod scrape_loop;
pub mod target;

use diamond_model::storage::AppendError;

pub use manager::{Appendable, ScrapeManager, TargetMetadata};
pub use target::{DroppedTarget, Health, ScrapeState, TargetError, TargetStatus};

/// Why a scrape failed; its Display is the target's `lastError`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// The request could not be made or the connection failed.
    #[error("{0}")]
    Http(String),
    /// The target answered with a non-2xx status.
    #[error("server returned HTTP status {0}")]
    Status(String),
    /// The scrape took longer than `scrape_timeout`.
    #[error("context deadline exceeded")]
    Timeout,
    /// The body exceeded `body_size_limit`.
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// The response had no `Content-Type`.
    #[error(
        "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target"
    )]
    BlankContentType,
    /// The response's `Content-Type` is not a format Diamond parses.
    #[error("received unsupported Content-Type {0:?} and no fallback_scrape_protocol specified for target")]
    UnsupportedContentType(String),
    /// The body does not parse.
    #[error("{0}")]
    Parse(String),
    /// The target answered the classic text format with an exemplar suffix, which that format cannot carry.
    #[error(
        "line {line}: the target answered the classic text format (text/plain) with an exemplar, which that format \
         cannot carry; exemplars need OpenMetrics: enable OpenMetrics on the target (e.g. Go promhttp \
         HandlerOpts{{EnableOpenMetrics: true}})"
    )]
    ExemplarInClassicText {
        /// Line of the first exemplar.
        line: usize,
    },
    /// More samples than `sample_limit` after metric relabelling.
    #[error("sample limit exceeded")]
    SampleLimit,
    /// A label limit was exceeded.
    #[error("{0}")]
    LabelLimit(String),
    /// The storage refused the scrape.
    #[error("{0}")]
    Storage(AppendError),
}

/// A manager error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `apply_config` was called outside a Tokio runtime.
    #[error("the scrape manager must be used from within a Tokio runtime")]
    NoRuntime,
    /// The HTTP client of a job could not be built (TLS files, …).
    #[error("scrape pool {job}: {message}")]
    Client {
        /// The job.
        job: String,
        /// What failed.
        message: String,
    },
    /// The manager was stopped.
    #[error("the scrape manager is stopped")]
    Stopped,
}
