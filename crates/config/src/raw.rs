//! Stage one: the YAML as written, deserialised with unknown keys refused. Durations, regexes and limits
//! stay as written here; [`crate::resolve`] checks them and fills defaults.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::relabel::RawRelabelConfig;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `global`
    pub global: Option<RawGlobal>,
    /// `scrape_configs`
    pub scrape_configs: Option<Vec<RawScrapeConfig>>,
    /// `storage`
    pub storage: Option<RawStorage>,
    /// Accepted and kept, unused by Diamond.
    pub rule_files: Option<Value>,
    /// Accepted and kept, unused by Diamond.
    pub remote_write: Option<Value>,
    /// Accepted and kept, unused by Diamond.
    pub remote_read: Option<Value>,
    /// Accepted and kept, unused by Diamond.
    pub alerting: Option<Value>,
    /// Accepted and kept, unused by Diamond.
    pub scrape_config_files: Option<Value>,
    /// Accepted and kept, unused by Diamond.
    pub runtime: Option<Value>,
    /// Accepted and kept, unused by Diamond.
    pub tracing: Option<Value>,
    /// Accepted and kept, unused by Diamond.
    pub otlp: Option<Value>,
    /// Diamond's extension: where exemplar trace IDs link to (issue 6).
    pub trace_destinations: Option<Vec<crate::trace_destinations::RawTraceDestination>>,
}

/// `global`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    pub scrape_interval: Option<String>,
    pub scrape_timeout: Option<String>,
    pub evaluation_interval: Option<String>,
    #[serde(default, deserialize_with = "crate::scalar::opt_map")]
    pub external_labels: Option<BTreeMap<String, String>>,
    pub scrape_protocols: Option<Vec<String>>,
    pub body_size_limit: Option<Value>,
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    /// Prometheus keys accepted for compatibility but without effect in Diamond.
    pub rule_query_offset: Option<Value>,
    pub query_log_file: Option<Value>,
    pub scrape_failure_log_file: Option<Value>,
    pub target_limit: Option<Value>,
    pub keep_dropped_targets: Option<Value>,
    pub metric_name_validation_scheme: Option<Value>,
    pub metric_name_escaping_scheme: Option<Value>,
    pub always_scrape_classic_histograms: Option<Value>,
    pub convert_classic_histograms_to_nhcb: Option<Value>,
}

/// One `scrape_configs` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScrapeConfig {
    #[serde(default, deserialize_with = "crate::scalar::opt")]
    pub job_name: Option<String>,
    pub scrape_interval: Option<String>,
    pub scrape_timeout: Option<String>,
    pub scrape_protocols: Option<Vec<String>>,
    pub metrics_path: Option<String>,
    pub scheme: Option<String>,
    #[serde(default, deserialize_with = "crate::scalar::opt_map_vec")]
    pub params: Option<BTreeMap<String, Vec<String>>>,
    pub honor_labels: Option<bool>,
    pub honor_timestamps: Option<bool>,
    pub enable_compression: Option<bool>,
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub body_size_limit: Option<Value>,
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub tls_config: Option<RawTlsConfig>,
    pub relabel_configs: Option<Vec<RawRelabelConfig>>,
    pub metric_relabel_configs: Option<Vec<RawRelabelConfig>>,
    pub static_configs: Option<Vec<RawTargetGroup>>,
    pub file_sd_configs: Option<Vec<RawFileSd>>,
    /// Prometheus keys accepted for compatibility but without effect in Diamond (a warning is recorded).
    pub track_timestamps_staleness: Option<Value>,
    pub follow_redirects: Option<Value>,
    pub enable_http2: Option<Value>,
    pub proxy_url: Option<Value>,
    pub no_proxy: Option<Value>,
    pub proxy_from_environment: Option<Value>,
    pub proxy_connect_header: Option<Value>,
    pub http_headers: Option<Value>,
    pub oauth2: Option<Value>,
    pub target_limit: Option<Value>,
    pub keep_dropped_targets: Option<Value>,
    pub native_histogram_bucket_limit: Option<Value>,
    pub native_histogram_min_bucket_factor: Option<Value>,
    pub scrape_classic_histograms: Option<Value>,
    pub always_scrape_classic_histograms: Option<Value>,
    pub convert_classic_histograms_to_nhcb: Option<Value>,
    pub fallback_scrape_protocol: Option<String>,
    pub metric_name_validation_scheme: Option<Value>,
    pub metric_name_escaping_scheme: Option<Value>,
    pub scrape_failure_log_file: Option<Value>,
    pub kubernetes_sd_configs: Option<Value>,
    pub dns_sd_configs: Option<Value>,
    pub http_sd_configs: Option<Value>,
    pub consul_sd_configs: Option<Value>,
    pub ec2_sd_configs: Option<Value>,
    pub gce_sd_configs: Option<Value>,
    pub azure_sd_configs: Option<Value>,
    pub docker_sd_configs: Option<Value>,
    pub dockerswarm_sd_configs: Option<Value>,
}

impl RawScrapeConfig {
    /// The names of the keys that are set but have no effect in Diamond.
    pub fn unsupported_keys(&self) -> Vec<&'static str> {
        let v: [(&'static str, bool); 27] = [
            ("track_timestamps_staleness", self.track_timestamps_staleness.is_some()),
            ("follow_redirects", self.follow_redirects.is_some()),
            ("enable_http2", self.enable_http2.is_some()),
            ("proxy_url", self.proxy_url.is_some()),
            ("no_proxy", self.no_proxy.is_some()),
            ("proxy_from_environment", self.proxy_from_environment.is_some()),
            ("proxy_connect_header", self.proxy_connect_header.is_some()),
            ("http_headers", self.http_headers.is_some()),
            ("oauth2", self.oauth2.is_some()),
            ("target_limit", self.target_limit.is_some()),
            ("keep_dropped_targets", self.keep_dropped_targets.is_some()),
            (
                "native_histogram_bucket_limit",
                self.native_histogram_bucket_limit.is_some(),
            ),
            (
                "native_histogram_min_bucket_factor",
                self.native_histogram_min_bucket_factor.is_some(),
            ),
            ("scrape_classic_histograms", self.scrape_classic_histograms.is_some()),
            (
                "always_scrape_classic_histograms",
                self.always_scrape_classic_histograms.is_some(),
            ),
            (
                "convert_classic_histograms_to_nhcb",
                self.convert_classic_histograms_to_nhcb.is_some(),
            ),
            (
                "metric_name_validation_scheme",
                self.metric_name_validation_scheme.is_some(),
            ),
            (
                "metric_name_escaping_scheme",
                self.metric_name_escaping_scheme.is_some(),
            ),
            ("scrape_failure_log_file", self.scrape_failure_log_file.is_some()),
            ("kubernetes_sd_configs", self.kubernetes_sd_configs.is_some()),
            ("dns_sd_configs", self.dns_sd_configs.is_some()),
            ("http_sd_configs", self.http_sd_configs.is_some()),
            ("consul_sd_configs", self.consul_sd_configs.is_some()),
            ("ec2_sd_configs", self.ec2_sd_configs.is_some()),
            ("gce_sd_configs", self.gce_sd_configs.is_some()),
            ("azure_sd_configs", self.azure_sd_configs.is_some()),
            (
                "docker_sd_configs",
                self.docker_sd_configs.is_some() || self.dockerswarm_sd_configs.is_some(),
            ),
        ];
        v.into_iter().filter(|(_, set)| *set).map(|(k, _)| k).collect()
    }
}

impl RawGlobal {
    /// The names of the keys that are set but have no effect in Diamond.
    pub fn unsupported_keys(&self) -> Vec<&'static str> {
        let v: [(&'static str, bool); 9] = [
            ("rule_query_offset", self.rule_query_offset.is_some()),
            ("query_log_file", self.query_log_file.is_some()),
            ("scrape_failure_log_file", self.scrape_failure_log_file.is_some()),
            ("target_limit", self.target_limit.is_some()),
            ("keep_dropped_targets", self.keep_dropped_targets.is_some()),
            (
                "metric_name_validation_scheme",
                self.metric_name_validation_scheme.is_some(),
            ),
            (
                "metric_name_escaping_scheme",
                self.metric_name_escaping_scheme.is_some(),
            ),
            (
                "always_scrape_classic_histograms",
                self.always_scrape_classic_histograms.is_some(),
            ),
            (
                "convert_classic_histograms_to_nhcb",
                self.convert_classic_histograms_to_nhcb.is_some(),
            ),
        ];
        v.into_iter().filter(|(_, set)| *set).map(|(k, _)| k).collect()
    }
}

/// `basic_auth`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    #[serde(default, deserialize_with = "crate::scalar::opt")]
    pub username: Option<String>,
    pub username_file: Option<String>,
    #[serde(default, deserialize_with = "crate::scalar::opt")]
    pub password: Option<String>,
    pub password_file: Option<String>,
}

/// `authorization`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::scalar::opt")]
    pub credentials: Option<String>,
    pub credentials_file: Option<String>,
}

/// `tls_config`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsConfig {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: Option<bool>,
    pub min_version: Option<Value>,
    pub max_version: Option<Value>,
    pub ca: Option<Value>,
    pub cert: Option<Value>,
    pub key: Option<Value>,
}

/// One `static_configs` entry (also the shape of a file_sd file entry).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargetGroup {
    #[serde(default, deserialize_with = "crate::scalar::opt_vec")]
    pub targets: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::scalar::opt_map")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// One `file_sd_configs` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSd {
    pub files: Option<Vec<String>>,
    pub refresh_interval: Option<String>,
}

/// `storage`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub exemplars: Option<RawExemplars>,
    pub tsdb: Option<RawTsdb>,
}

/// `storage.exemplars`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExemplars {
    pub max_exemplars: Option<i64>,
    pub retention: Option<String>,
    pub seal_after: Option<String>,
    pub store: Option<String>,
}

/// `storage.tsdb`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTsdb {
    pub out_of_order_time_window: Option<String>,
}
