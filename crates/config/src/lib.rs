//! Diamond's configuration: the part of Prometheus's `prometheus.yml` that applies to Diamond, with
//! Prometheus's keys, defaults and validation rules.
//!
//! Loading has two stages, like ripgrep's low/high args: the YAML is deserialised into raw structs that
//! refuse unknown keys, then [`parse`] resolves them into [`Config`]: durations parsed, regexes compiled,
//! defaults filled and inherited from `global`, rules checked. Every error names a `file:line:column`, also
//! for problems found after deserialisation (the key is re-located in the source text).
//!
//! Sections Diamond does not use (`remote_write`, `remote_read`, `rule_files`, `alerting`, …) are accepted
//! and kept so a user can reuse their `prometheus.yml`; each one is listed in [`Config::warnings`].
//!
//! Also here: [`relabel`] (relabelling rules and their application) and [`file_sd`] (target files).
//!
//! ```
//! let yaml = "
//! global:
//!   scrape_interval: 15s
//! scrape_configs:
//!   - job_name: node
//!     static_configs:
//!       - targets: [localhost:9100]
//! ";
//! let cfg = diamond_config::parse(yaml, "prometheus.yml").unwrap();
//! assert_eq!(cfg.scrape_configs[0].scrape_interval, std::time::Duration::from_secs(15));
//! assert_eq!(cfg.scrape_configs[0].scrape_timeout, std::time::Duration::from_secs(10));
//!
//! let err = diamond_config::parse("global:\n  scrape_intervl: 15s\n", "prometheus.yml").unwrap_err();
//! assert!(err.to_string().starts_with("prometheus.yml:2:3: unknown field `scrape_intervl`"));
//! ```

mod duration;
pub mod file_sd;
#[doc(hidden)]
pub mod fuzzing;
mod locate;
mod output;
mod raw;
pub mod relabel;
mod scalar;
mod trace_destinations;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diamond_model::Labels;

pub use duration::{format_duration, parse_duration};
use locate::{Seg, locate};
pub use output::to_yaml;
use raw::*;
use relabel::{RawRelabelConfig, RelabelConfig};
pub use trace_destinations::{
    DEFAULT_TRACE_CHECK_TIMEOUT, EMBEDDED_DESTINATION, TraceDestination, TraceDestinationKind,
    render as render_trace_url,
};

/// A configuration error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not valid YAML, has an unknown key, or has a bad value. Line and column are 1-based.
    #[error("{source_name}:{line}:{column}: {message}")]
    Invalid {
        /// The file name given to [`parse`].
        source_name: String,
        /// Line of the offending key or value.
        line: usize,
        /// Column of the offending key or value.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A duration string is not in Prometheus's format.
    #[error("{0}")]
    Duration(String),
}

/// Default `global.scrape_interval`.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
/// Default `global.scrape_timeout`.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `global.evaluation_interval`.
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);
/// Default `storage.exemplars.max_exemplars`.
pub const DEFAULT_MAX_EXEMPLARS: i64 = 100_000;
/// Default `file_sd_configs[].refresh_interval`.
pub const DEFAULT_FILE_SD_REFRESH: Duration = Duration::from_secs(300);

/// The embedded default configuration: Prometheus's defaults and no scrape configs (the server adds its own
/// self-scrape job).
pub const DEFAULT_YAML: &str = "\
# Diamond's default configuration: Prometheus's defaults, no scrape jobs.
global:
  scrape_interval: 1m
  scrape_timeout: 10s
  evaluation_interval: 1m
storage:
  exemplars:
    max_exemplars: 100000
";

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `global`
    pub global: GlobalConfig,
    /// `scrape_configs`, with `global` defaults inherited.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// `storage`
    pub storage: StorageConfig,
    /// `trace_destinations` (a Diamond extension): external trace links, in file order.
    pub trace_destinations: Vec<TraceDestination>,
    /// Sections accepted but unused by Diamond, kept as written (name, value), in this fixed order:
    /// `rule_files`, `remote_write`, `remote_read`, `alerting`, `scrape_config_files`, `runtime`, `tracing`,
    /// `otlp`.
    pub ignored_sections: Vec<(String, serde_yaml_ng::Value)>,
    /// Human-readable notes about accepted but ignored sections and keys.
    pub warnings: Vec<String>,
    /// The text the configuration was parsed from.
    pub original_yaml: String,
    /// The name given to [`parse`] (used in error messages).
    pub source_name: String,
}

impl Default for Config {
    fn default() -> Self {
        // DEFAULT_YAML is a constant checked by the `default_config_is_prometheus_defaults` test.
        parse(DEFAULT_YAML, "<default>").expect("the embedded default configuration is valid")
    }
}

/// `global`
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    /// Default 1m.
    pub scrape_interval: Duration,
    /// Default 10s (or the interval, if shorter).
    pub scrape_timeout: Duration,
    /// Accepted; default 1m.
    pub evaluation_interval: Duration,
    /// Labels added to data sent elsewhere; kept for the status API.
    pub external_labels: Labels,
    /// Default `[OpenMetricsText1.0.0, OpenMetricsText0.0.1, PrometheusText1.0.0, PrometheusText0.0.4]`.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// Inherited by scrape configs; 0 means no limit.
    pub body_size_limit: u64,
    /// Inherited by scrape configs; 0 means no limit.
    pub sample_limit: u64,
    /// Inherited by scrape configs; 0 means no limit.
    pub label_limit: u64,
    /// Inherited by scrape configs; 0 means no limit.
    pub label_name_length_limit: u64,
    /// Inherited by scrape configs; 0 means no limit.
    pub label_value_length_limit: u64,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            external_labels: Labels::empty(),
            scrape_protocols: ScrapeProtocol::DEFAULT.to_vec(),
            body_size_limit: 0,
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
        }
    }
}

/// An exposition format a scrape may negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    /// `PrometheusProto` (delimited protobuf `MetricFamily`).
    PrometheusProto,
    /// `PrometheusText0.0.4`
    PrometheusText0_0_4,
    /// `PrometheusText1.0.0`
    PrometheusText1_0_0,
    /// `OpenMetricsText0.0.1`
    OpenMetricsText0_0_1,
    /// `OpenMetricsText1.0.0`
    OpenMetricsText1_0_0,
}

impl ScrapeProtocol {
    /// Every protocol, in the order Prometheus lists them as supported.
    pub const ALL: [ScrapeProtocol; 5] = [
        ScrapeProtocol::PrometheusProto,
        ScrapeProtocol::PrometheusText0_0_4,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::OpenMetricsText1_0_0,
    ];

    /// Prometheus 3.x's default preference order.
    pub const DEFAULT: [ScrapeProtocol; 4] = [
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::PrometheusText0_0_4,
    ];

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
        }
    }

    /// Parses the configuration spelling (case-sensitive, as Prometheus).
    pub fn parse(s: &str) -> Option<ScrapeProtocol> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The media type sent in the Accept header, without q value or escaping parameter.
    pub fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
        }
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `scheme`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scheme {
    /// `http` (default)
    #[default]
    Http,
    /// `https`
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One scrape job, with defaults filled and `global` values inherited.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// Unique job name; the `job` label of its targets.
    pub job_name: String,
    /// Inherited from `global` when unset.
    pub scrape_interval: Duration,
    /// Inherited from `global` when unset (capped at the interval); never above the interval.
    pub scrape_timeout: Duration,
    /// Preference order for content negotiation.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// The format assumed when a response has a blank or unsupported `Content-Type` (Prometheus 3's
    /// `fallback_scrape_protocol`); without it such a scrape fails.
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    /// Default `/metrics`.
    pub metrics_path: String,
    /// Default `http`.
    pub scheme: Scheme,
    /// URL query parameters.
    pub params: BTreeMap<String, Vec<String>>,
    /// Default false.
    pub honor_labels: bool,
    /// Default true.
    pub honor_timestamps: bool,
    /// Request gzip; default true.
    pub enable_compression: bool,
    /// 0 means no limit.
    pub sample_limit: u64,
    /// 0 means no limit.
    pub label_limit: u64,
    /// 0 means no limit.
    pub label_name_length_limit: u64,
    /// 0 means no limit.
    pub label_value_length_limit: u64,
    /// Bytes of uncompressed body; 0 means no limit.
    pub body_size_limit: u64,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization` header.
    pub authorization: Option<Authorization>,
    /// TLS settings.
    pub tls_config: TlsConfig,
    /// Applied to target labels before scraping.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Applied to each scraped sample's labels.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Static targets.
    pub static_configs: Vec<TargetGroup>,
    /// File discovery.
    pub file_sd_configs: Vec<FileSdConfig>,
}

impl ScrapeConfig {
    /// A job with every default, inheriting from `global` (what a `- job_name: <name>` entry resolves to).
    /// The server builds its self-scrape job with this.
    pub fn new(job_name: &str, global: &GlobalConfig) -> ScrapeConfig {
        ScrapeConfig {
            job_name: job_name.to_owned(),
            scrape_interval: global.scrape_interval,
            scrape_timeout: global.scrape_timeout.min(global.scrape_interval),
            scrape_protocols: global.scrape_protocols.clone(),
            fallback_scrape_protocol: None,
            metrics_path: "/metrics".to_owned(),
            scheme: Scheme::Http,
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            enable_compression: true,
            sample_limit: global.sample_limit,
            label_limit: global.label_limit,
            label_name_length_limit: global.label_name_length_limit,
            label_value_length_limit: global.label_value_length_limit,
            body_size_limit: global.body_size_limit,
            basic_auth: None,
            authorization: None,
            tls_config: TlsConfig::default(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
        }
    }
}

/// `basic_auth`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password given inline.
    pub password: Option<String>,
    /// File holding the password (read at each scrape).
    pub password_file: Option<PathBuf>,
}

/// `authorization`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authorization {
    /// Scheme word; default `Bearer`.
    pub kind: String,
    /// Credentials given inline.
    pub credentials: Option<String>,
    /// File holding the credentials.
    pub credentials_file: Option<PathBuf>,
}

/// `tls_config`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    /// CA certificate(s) to verify the server.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// Client key.
    pub key_file: Option<PathBuf>,
    /// Server name for SNI and verification.
    pub server_name: Option<String>,
    /// Skip server certificate verification.
    pub insecure_skip_verify: bool,
}

/// A group of targets sharing labels (a `static_configs` entry or an entry of a file_sd file).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetGroup {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels added to every target of the group.
    pub labels: BTreeMap<String, String>,
    /// Where the group came from (`"0"` for the first static group, `"<file>:<index>"` for file_sd).
    pub source: String,
}

/// `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSdConfig {
    /// Paths; the last path element may hold a `*` glob.
    pub files: Vec<String>,
    /// Default 5m.
    pub refresh_interval: Duration,
}

/// `storage`
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// `storage.exemplars.max_exemplars`; 0 or less disables exemplar storage. Default 100000.
    pub max_exemplars: i64,
    /// `storage.exemplars.retention` (Diamond): how long exemplars are kept; `None` means the series
    /// retention (`--storage.tsdb.retention.time`).
    pub exemplar_retention: Option<Duration>,
    /// `storage.exemplars.seal_after` (Diamond, fair store): at a flush, time windows that ended this
    /// long before the newest exemplar leave memory for a sealed segment on disk; `None` means one hour,
    /// `0s` never seals. Read at start.
    pub exemplar_seal_after: Option<Duration>,
    /// `storage.exemplars.store` (Diamond): the retention policy, read at start.
    pub exemplar_store: ExemplarStoreKind,
    /// `storage.tsdb.out_of_order_time_window`; default 0.
    pub out_of_order_time_window: Duration,
}

/// `storage.exemplars.store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExemplarStoreKind {
    /// `fair` (default): per (series, minute) coverage, persisted (docs/exemplars.md).
    #[default]
    Fair,
    /// `circular`: Prometheus's one ring, newest kept, memory only.
    Circular,
}

impl ExemplarStoreKind {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExemplarStoreKind::Fair => "fair",
            ExemplarStoreKind::Circular => "circular",
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            max_exemplars: DEFAULT_MAX_EXEMPLARS,
            exemplar_retention: None,
            exemplar_seal_after: None,
            exemplar_store: ExemplarStoreKind::Fair,
            out_of_order_time_window: Duration::ZERO,
        }
    }
}

/// Reads and parses a configuration file; errors are prefixed with the path. As in Prometheus, relative
/// paths inside it (file_sd files, TLS files, password and credentials files) are relative to the file's
/// directory, not to the working directory.
pub fn load_file(path: &Path) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut cfg = parse(&text, &path.display().to_string())?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        cfg.set_directory(dir);
    }
    Ok(cfg)
}

impl Config {
    /// Makes the relative paths of the configuration relative to `dir` (Prometheus's `SetDirectory`).
    pub fn set_directory(&mut self, dir: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        for sc in &mut self.scrape_configs {
            for f in &mut sc.file_sd_configs {
                for pattern in &mut f.files {
                    if Path::new(pattern.as_str()).is_relative() {
                        *pattern = dir.join(pattern.as_str()).display().to_string();
                    }
                }
            }
            let t = &mut sc.tls_config;
            for p in [&mut t.ca_file, &mut t.cert_file, &mut t.key_file]
                .into_iter()
                .flatten()
            {
                join(p);
            }
            if let Some(p) = sc.basic_auth.as_mut().and_then(|b| b.password_file.as_mut()) {
                join(p);
            }
            if let Some(p) = sc.authorization.as_mut().and_then(|a| a.credentials_file.as_mut()) {
                join(p);
            }
        }
    }
}

/// Parses and resolves a configuration. `source_name` prefixes error messages (`prometheus.yml:12:3: …`).
pub fn parse(yaml: &str, source_name: &str) -> Result<Config, Error> {
    let raw: RawConfig = serde_yaml_ng::from_str(yaml).map_err(|e| yaml_error(&e, source_name))?;
    Resolver {
        src: yaml,
        source_name,
        warnings: Vec::new(),
    }
    .resolve(raw)
}

/// Turns a serde_yaml_ng error into ours: the location moves to the front, as compilers print it.
fn yaml_error(e: &serde_yaml_ng::Error, source_name: &str) -> Error {
    let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
    let mut message = e.to_string();
    // The location is already in front; drop serde_yaml_ng's " at line N column M".
    if let Some(at) = message.find(" at line ") {
        let rest = &message[at + " at line ".len()..];
        let tail = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ' ' || "column".contains(c)))
            .map_or("", |i| &rest[i..]);
        message = format!("{}{}", &message[..at], tail);
    }
    // serde_yaml_ng prefixes the key path (`scrape_configs[0]: …`); the line already says where.
    if let Some((path, msg)) = message.split_once(": ")
        && !path.is_empty()
        && path.chars().all(|c| c.is_alphanumeric() || "_.[]".contains(c))
    {
        message = msg.to_owned();
    }
    Error::Invalid {
        source_name: source_name.to_owned(),
        line,
        column,
        message,
    }
}

struct Resolver<'a> {
    src: &'a str,
    source_name: &'a str,
    warnings: Vec<String>,
}

fn path(segs: &[Seg], more: &[Seg]) -> Vec<Seg> {
    segs.iter().chain(more).cloned().collect()
}

impl Resolver<'_> {
    fn err(&self, at: &[Seg], message: impl Into<String>) -> Error {
        let (line, column) = locate(self.src, at);
        Error::Invalid {
            source_name: self.source_name.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn duration(&self, at: &[Seg], s: &Option<String>) -> Result<Option<Duration>, Error> {
        match s {
            None => Ok(None),
            Some(s) => parse_duration(s).map(Some).map_err(|e| self.err(at, e.to_string())),
        }
    }

    fn resolve(mut self, raw: RawConfig) -> Result<Config, Error> {
        let global = self.global(raw.global.unwrap_or_default())?;
        let mut scrape_configs: Vec<ScrapeConfig> = Vec::new();
        for (i, sc) in raw.scrape_configs.unwrap_or_default().into_iter().enumerate() {
            let at = ["scrape_configs".into(), Seg::Idx(i)];
            let sc = self.scrape_config(&at, sc, &global)?;
            if scrape_configs.iter().any(|o| o.job_name == sc.job_name) {
                return Err(self.err(
                    &path(&at, &["job_name".into()]),
                    format!("found multiple scrape configs with job name {:?}", sc.job_name),
                ));
            }
            scrape_configs.push(sc);
        }
        let storage = self.storage(raw.storage.unwrap_or_default())?;
        let trace_destinations = self.trace_destinations(raw.trace_destinations)?;
        let mut ignored_sections = Vec::new();
        for (name, v) in [
            ("rule_files", raw.rule_files),
            ("remote_write", raw.remote_write),
            ("remote_read", raw.remote_read),
            ("alerting", raw.alerting),
            ("scrape_config_files", raw.scrape_config_files),
            ("runtime", raw.runtime),
            ("tracing", raw.tracing),
            ("otlp", raw.otlp),
        ] {
            if let Some(v) = v {
                let (line, _) = locate(self.src, &[name.into()]);
                self.warnings.push(format!(
                    "{}:{line}: section `{name}` is accepted for compatibility with Prometheus but ignored by Diamond",
                    self.source_name
                ));
                ignored_sections.push((name.to_owned(), v));
            }
        }
        Ok(Config {
            global,
            scrape_configs,
            storage,
            trace_destinations,
            ignored_sections,
            warnings: self.warnings,
            original_yaml: self.src.to_owned(),
            source_name: self.source_name.to_owned(),
        })
    }

    fn warn_keys(&mut self, at: &[Seg], keys: Vec<&'static str>) {
        for k in keys {
            let (line, _) = locate(self.src, &path(at, &[k.into()]));
            self.warnings.push(format!(
                "{}:{line}: `{k}` is accepted for compatibility with Prometheus but ignored by Diamond",
                self.source_name
            ));
        }
    }

    fn global(&mut self, g: RawGlobal) -> Result<GlobalConfig, Error> {
        let at: &[Seg] = &["global".into()];
        self.warn_keys(at, g.unsupported_keys());
        let scrape_interval = self
            .duration(&path(at, &["scrape_interval".into()]), &g.scrape_interval)?
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_SCRAPE_INTERVAL);
        let timeout = self.duration(&path(at, &["scrape_timeout".into()]), &g.scrape_timeout)?;
        // As Prometheus: zero means unset; an unset timeout is the default capped at the interval.
        let scrape_timeout = match timeout.filter(|d| !d.is_zero()) {
            Some(t) if t > scrape_interval => {
                return Err(self.err(
                    &path(at, &["scrape_timeout".into()]),
                    "global scrape timeout greater than scrape interval",
                ));
            }
            Some(t) => t,
            None => DEFAULT_SCRAPE_TIMEOUT.min(scrape_interval),
        };
        let evaluation_interval = self
            .duration(&path(at, &["evaluation_interval".into()]), &g.evaluation_interval)?
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_EVALUATION_INTERVAL);
        let mut ext = Vec::new();
        for (k, v) in g.external_labels.unwrap_or_default() {
            if k.is_empty() {
                return Err(self.err(
                    &path(at, &["external_labels".into()]),
                    format!("{k:?} is not a valid label name"),
                ));
            }
            ext.push((k, v));
        }
        let scrape_protocols = match &g.scrape_protocols {
            Some(p) => self.protocols(&path(at, &["scrape_protocols".into()]), p, None)?,
            None => ScrapeProtocol::DEFAULT.to_vec(),
        };
        Ok(GlobalConfig {
            scrape_interval,
            scrape_timeout,
            evaluation_interval,
            external_labels: Labels::from_pairs(&ext),
            scrape_protocols,
            body_size_limit: self.bytes(&path(at, &["body_size_limit".into()]), &g.body_size_limit)?,
            sample_limit: g.sample_limit.unwrap_or(0),
            label_limit: g.label_limit.unwrap_or(0),
            label_name_length_limit: g.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: g.label_value_length_limit.unwrap_or(0),
        })
    }

    /// `job` is `Some(name)` for a scrape config (Prometheus then names the job in its messages).
    fn protocols(&self, at: &[Seg], p: &[String], job: Option<&str>) -> Result<Vec<ScrapeProtocol>, Error> {
        let ctx = job
            .map(|j| format!(" for scrape config with job name {j:?}"))
            .unwrap_or_default();
        let mut out = Vec::new();
        for s in p {
            let Some(sp) = ScrapeProtocol::parse(s) else {
                let mut all: Vec<&str> = ScrapeProtocol::ALL.iter().map(|p| p.as_str()).collect();
                all.sort_unstable();
                return Err(self.err(
                    at,
                    format!("unknown scrape protocol {s}, supported: [{}]{ctx}", all.join(" ")),
                ));
            };
            if out.contains(&sp) {
                return Err(self.err(at, format!("duplicated protocol in scrape_protocols, got {p:?}{ctx}")));
            }
            out.push(sp);
        }
        if out.is_empty() {
            return Err(self.err(at, format!("scrape_protocols cannot be empty{ctx}")));
        }
        Ok(out)
    }

    /// `body_size_limit`: a size with a base-2 unit (`B`, `KB`/`KiB`, `MB`/`MiB`, … up to `EB`), as
    /// Prometheus's `units.Base2Bytes`.
    fn bytes(&self, at: &[Seg], v: &Option<serde_yaml_ng::Value>) -> Result<u64, Error> {
        let s = match v {
            None => return Ok(0),
            // Prometheus requires a unit: a bare number is an error ("units: unknown unit"), except 0.
            Some(serde_yaml_ng::Value::Number(n)) if n.as_u64() == Some(0) => return Ok(0),
            Some(serde_yaml_ng::Value::Number(n)) => {
                return Err(self.err(at, format!("invalid size {n}: a unit is required (B, KB, MB, GB, …)")));
            }
            Some(serde_yaml_ng::Value::String(s)) => s.trim(),
            Some(_) => return Err(self.err(at, "invalid size")),
        };
        parse_bytes(s).ok_or_else(|| self.err(at, format!("invalid size {s:?}")))
    }

    fn scrape_config(&mut self, at: &[Seg], r: RawScrapeConfig, g: &GlobalConfig) -> Result<ScrapeConfig, Error> {
        self.warn_keys(at, r.unsupported_keys());
        let k = |key: &str| path(at, &[key.into()]);
        let job_name = match r.job_name.clone() {
            Some(j) if !j.is_empty() => j,
            _ => return Err(self.err(at, "job_name is empty")),
        };
        let mut c = ScrapeConfig::new(&job_name, g);
        if let Some(i) = self.duration(&k("scrape_interval"), &r.scrape_interval)?
            && !i.is_zero()
        {
            c.scrape_interval = i;
        }
        let timeout = self.duration(&k("scrape_timeout"), &r.scrape_timeout)?;
        c.scrape_timeout = match timeout.filter(|d| !d.is_zero()) {
            Some(t) if t > c.scrape_interval => {
                return Err(self.err(
                    &k("scrape_timeout"),
                    format!("scrape timeout greater than scrape interval for scrape config with job name {job_name:?}"),
                ));
            }
            Some(t) => t,
            None => g.scrape_timeout.min(c.scrape_interval),
        };
        if let Some(p) = &r.scrape_protocols {
            c.scrape_protocols = self.protocols(&k("scrape_protocols"), p, Some(&job_name))?;
        }
        if let Some(f) = &r.fallback_scrape_protocol {
            c.fallback_scrape_protocol = Some(ScrapeProtocol::parse(f).ok_or_else(|| {
                let mut all: Vec<&str> = ScrapeProtocol::ALL.iter().map(|p| p.as_str()).collect();
                all.sort_unstable();
                self.err(
                    &k("fallback_scrape_protocol"),
                    format!(
                        "invalid fallback_scrape_protocol for scrape config with job name {job_name:?}: unknown scrape protocol {f}, supported: [{}]",
                        all.join(" ")
                    ),
                )
            })?);
        }
        if let Some(p) = r.metrics_path {
            c.metrics_path = p;
        }
        c.scheme = match r.scheme.as_deref() {
            None | Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(s) => return Err(self.err(&k("scheme"), format!("scheme must be \"http\" or \"https\", got {s:?}"))),
        };
        c.params = r.params.unwrap_or_default();
        c.honor_labels = r.honor_labels.unwrap_or(false);
        c.honor_timestamps = r.honor_timestamps.unwrap_or(true);
        c.enable_compression = r.enable_compression.unwrap_or(true);
        // Limits left unset (or 0) inherit the global value, as Prometheus does.
        let inherit = |v: Option<u64>, gv: u64| v.filter(|x| *x != 0).unwrap_or(gv);
        c.sample_limit = inherit(r.sample_limit, g.sample_limit);
        c.label_limit = inherit(r.label_limit, g.label_limit);
        c.label_name_length_limit = inherit(r.label_name_length_limit, g.label_name_length_limit);
        c.label_value_length_limit = inherit(r.label_value_length_limit, g.label_value_length_limit);
        let b = self.bytes(&k("body_size_limit"), &r.body_size_limit)?;
        c.body_size_limit = if b == 0 { g.body_size_limit } else { b };
        if let Some(ba) = r.basic_auth {
            let at = k("basic_auth");
            if ba.password.is_some() && ba.password_file.is_some() {
                return Err(self.err(
                    &at,
                    "at most one of basic_auth password & password_file must be configured",
                ));
            }
            if ba.username_file.is_some() {
                self.warn_keys(&at, vec!["username_file"]);
            }
            c.basic_auth = Some(BasicAuth {
                username: ba.username.unwrap_or_default(),
                password: ba.password,
                password_file: ba.password_file.map(PathBuf::from),
            });
        }
        if let Some(a) = r.authorization {
            let at = k("authorization");
            if c.basic_auth.is_some() {
                return Err(self.err(
                    &at,
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            let kind = a
                .kind
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| "Bearer".to_owned());
            if kind.eq_ignore_ascii_case("basic") {
                return Err(self.err(
                    &at,
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                ));
            }
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err(self.err(
                    &at,
                    "at most one of authorization credentials & credentials_file must be configured",
                ));
            }
            c.authorization = Some(Authorization {
                kind,
                credentials: a.credentials,
                credentials_file: a.credentials_file.map(PathBuf::from),
            });
        }
        if let Some(t) = r.tls_config {
            let at = k("tls_config");
            if t.cert_file.is_some() && t.key_file.is_none() {
                return Err(self.err(
                    &at,
                    "exactly one of key or key_file must be configured when a client certificate is configured",
                ));
            }
            if t.key_file.is_some() && t.cert_file.is_none() {
                return Err(self.err(
                    &at,
                    "exactly one of cert or cert_file must be configured when a client key is configured",
                ));
            }
            let mut unsupported = Vec::new();
            for (name, set) in [
                ("min_version", t.min_version.is_some()),
                ("max_version", t.max_version.is_some()),
                ("ca", t.ca.is_some()),
                ("cert", t.cert.is_some()),
                ("key", t.key.is_some()),
            ] {
                if set {
                    unsupported.push(name);
                }
            }
            self.warn_keys(&at, unsupported);
            c.tls_config = TlsConfig {
                ca_file: t.ca_file.map(PathBuf::from),
                cert_file: t.cert_file.map(PathBuf::from),
                key_file: t.key_file.map(PathBuf::from),
                server_name: t.server_name,
                insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
            };
        }
        c.relabel_configs = self.relabels(&k("relabel_configs"), r.relabel_configs.unwrap_or_default())?;
        c.metric_relabel_configs = self.relabels(
            &k("metric_relabel_configs"),
            r.metric_relabel_configs.unwrap_or_default(),
        )?;
        for (i, tg) in r.static_configs.unwrap_or_default().into_iter().enumerate() {
            let at = path(&k("static_configs"), &[Seg::Idx(i)]);
            let group = file_sd::resolve_group(tg, i.to_string()).map_err(|m| self.err(&at, m))?;
            if let Some(bad) = group.targets.iter().find(|t| t.contains('/')) {
                return Err(self.err(
                    &path(&at, &["targets".into()]),
                    format!("{bad:?} is not a valid hostname"),
                ));
            }
            c.static_configs.push(group);
        }
        for (i, f) in r.file_sd_configs.unwrap_or_default().into_iter().enumerate() {
            let at = path(&k("file_sd_configs"), &[Seg::Idx(i)]);
            let refresh = self
                .duration(&path(&at, &["refresh_interval".into()]), &f.refresh_interval)?
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_FILE_SD_REFRESH);
            let files = f.files.unwrap_or_default();
            for name in &files {
                if !file_sd::valid_pattern(name) {
                    return Err(self.err(
                        &path(&at, &["files".into()]),
                        format!("path name {name:?} is not valid for file discovery"),
                    ));
                }
            }
            c.file_sd_configs.push(FileSdConfig {
                files,
                refresh_interval: refresh,
            });
        }
        Ok(c)
    }

    fn relabels(&self, at: &[Seg], raws: Vec<RawRelabelConfig>) -> Result<Vec<RelabelConfig>, Error> {
        let mut out = Vec::with_capacity(raws.len());
        for (i, r) in raws.into_iter().enumerate() {
            let cfg = r
                .resolve()
                .map_err(|e| self.err(&path(at, &[Seg::Idx(i), e.key.into()]), e.message))?;
            out.push(cfg);
        }
        Ok(out)
    }

    fn storage(&self, s: RawStorage) -> Result<StorageConfig, Error> {
        let mut out = StorageConfig::default();
        if let Some(e) = s.exemplars {
            if let Some(m) = e.max_exemplars {
                out.max_exemplars = m;
            }
            let at = ["storage".into(), "exemplars".into(), "retention".into()];
            out.exemplar_retention = self.duration(&at, &e.retention)?;
            let at = ["storage".into(), "exemplars".into(), "seal_after".into()];
            out.exemplar_seal_after = self.duration(&at, &e.seal_after)?;
            if let Some(kind) = e.store {
                out.exemplar_store = match kind.as_str() {
                    "fair" => ExemplarStoreKind::Fair,
                    "circular" => ExemplarStoreKind::Circular,
                    other => {
                        let at = ["storage".into(), "exemplars".into(), "store".into()];
                        return Err(self.err(
                            &at,
                            format!("unknown exemplar store {other:?}: expected fair or circular"),
                        ));
                    }
                };
            }
        }
        if let Some(t) = s.tsdb {
            let at = ["storage".into(), "tsdb".into(), "out_of_order_time_window".into()];
            out.out_of_order_time_window = self
                .duration(&at, &t.out_of_order_time_window)?
                .unwrap_or(Duration::ZERO);
        }
        Ok(out)
    }
}

/// Formats a byte size as Go's `units.Base2Bytes.String()` does: base-2 units from the largest down,
/// `10MiB`, `1KiB512B`, `0B`.
pub(crate) fn format_bytes(mut n: u64) -> String {
    if n == 0 {
        return "0B".to_owned();
    }
    let units = [
        ("EiB", 60),
        ("PiB", 50),
        ("TiB", 40),
        ("GiB", 30),
        ("MiB", 20),
        ("KiB", 10),
    ];
    let mut out = String::new();
    for (u, shift) in units {
        let v = n >> shift;
        if v > 0 {
            out.push_str(&format!("{v}{u}"));
            n -= v << shift;
        }
    }
    if n > 0 {
        out.push_str(&format!("{n}B"));
    }
    out
}

/// Parses a byte size as Prometheus's `units.ParseBase2Bytes`: a number (decimals allowed) followed by a
/// base-2 unit (`B`, `KB`/`KiB`, … `EB`/`EiB`), several terms allowed (`1GB512MB`); `0` alone is accepted.
fn parse_bytes(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if n == 0 {
            return None;
        }
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let mult: f64 = match &rest[..u] {
            "B" => 1.0,
            "KB" | "KiB" => 1024.0,
            "MB" | "MiB" => 1024f64.powi(2),
            "GB" | "GiB" => 1024f64.powi(3),
            "TB" | "TiB" => 1024f64.powi(4),
            "PB" | "PiB" => 1024f64.powi(5),
            "EB" | "EiB" => 1024f64.powi(6),
            _ => return None,
        };
        rest = &rest[u..];
        total += num * mult;
    }
    (total < u64::MAX as f64).then_some(total as u64)
}

#[cfg(test)]
mod tests;
