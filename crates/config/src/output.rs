//! The resolved configuration as YAML, in Prometheus's key order and with defaults filled, for
//! `/api/v1/status/config`. Secrets are shown as `<secret>`, as Prometheus does.

use serde_yaml_ng::{Mapping, Value};

use crate::relabel::{DEFAULT_REGEX, RelabelConfig};
use crate::{Config, ScrapeConfig, ScrapeProtocol, TargetGroup, format_bytes, format_duration};

const SECRET: &str = "<secret>";

struct Map(Mapping);

impl Map {
    fn new() -> Self {
        Map(Mapping::new())
    }
    fn put(&mut self, k: &str, v: impl Into<Value>) -> &mut Self {
        self.0.insert(Value::String(k.to_owned()), v.into());
        self
    }
    fn put_nonzero(&mut self, k: &str, v: u64) -> &mut Self {
        if v != 0 {
            self.put(k, v);
        }
        self
    }
    fn value(self) -> Value {
        Value::Mapping(self.0)
    }
}

fn strs<I: IntoIterator<Item = S>, S: Into<String>>(v: I) -> Value {
    Value::Sequence(v.into_iter().map(|s| Value::String(s.into())).collect())
}

fn protocols(p: &[ScrapeProtocol]) -> Value {
    strs(p.iter().map(|p| p.as_str()))
}

fn relabel(r: &RelabelConfig) -> Value {
    let mut m = Map::new();
    if !r.source_labels.is_empty() {
        m.put("source_labels", strs(r.source_labels.iter().cloned()));
    }
    m.put("separator", r.separator.as_str());
    // Prometheus omits the regex when it is the default.
    if r.regex.as_str() != DEFAULT_REGEX {
        m.put("regex", r.regex.as_str());
    }
    m.put_nonzero("modulus", r.modulus);
    if !r.target_label.is_empty() {
        m.put("target_label", r.target_label.as_str());
    }
    m.put("replacement", r.replacement.as_str());
    m.put("action", r.action.as_str());
    m.value()
}

fn trace_destination(d: &crate::TraceDestination) -> Value {
    let mut m = Map::new();
    m.put("name", d.name.as_str());
    m.put("kind", d.kind.as_str());
    if let crate::TraceDestinationKind::Tempo { v2 } = d.kind {
        m.put("tempo_api", if v2 { "v2" } else { "v1" });
    }
    m.put("url", d.url.as_str());
    if let Some(a) = &d.api_url {
        m.put("api_url", a.as_str());
    }
    m.put("label_names", strs(d.label_names.iter().cloned()));
    m.put("timeout", format_duration(d.timeout));
    m.value()
}

fn group(g: &TargetGroup) -> Value {
    let mut m = Map::new();
    m.put("targets", strs(g.targets.iter().cloned()));
    if !g.labels.is_empty() {
        let mut l = Map::new();
        for (k, v) in &g.labels {
            l.put(k, v.as_str());
        }
        m.put("labels", l.value());
    }
    m.value()
}

fn scrape_config(c: &ScrapeConfig) -> Value {
    let mut m = Map::new();
    m.put("job_name", c.job_name.as_str());
    // Prometheus omits honor_labels and an empty tls_config (omitempty).
    if c.honor_labels {
        m.put("honor_labels", true);
    }
    m.put("honor_timestamps", c.honor_timestamps);
    m.put("scrape_interval", format_duration(c.scrape_interval));
    m.put("scrape_timeout", format_duration(c.scrape_timeout));
    m.put("scrape_protocols", protocols(&c.scrape_protocols));
    if let Some(f) = c.fallback_scrape_protocol {
        m.put("fallback_scrape_protocol", f.as_str());
    }
    m.put("metrics_path", c.metrics_path.as_str());
    m.put("scheme", c.scheme.as_str());
    if !c.params.is_empty() {
        let mut p = Map::new();
        for (k, v) in &c.params {
            p.put(k, strs(v.iter().cloned()));
        }
        m.put("params", p.value());
    }
    m.put("enable_compression", c.enable_compression);
    if c.body_size_limit != 0 {
        m.put("body_size_limit", format_bytes(c.body_size_limit));
    }
    m.put_nonzero("sample_limit", c.sample_limit);
    m.put_nonzero("label_limit", c.label_limit);
    m.put_nonzero("label_name_length_limit", c.label_name_length_limit);
    m.put_nonzero("label_value_length_limit", c.label_value_length_limit);
    if let Some(b) = &c.basic_auth {
        let mut a = Map::new();
        a.put("username", b.username.as_str());
        if b.password.is_some() {
            a.put("password", SECRET);
        }
        if let Some(f) = &b.password_file {
            a.put("password_file", f.display().to_string());
        }
        m.put("basic_auth", a.value());
    }
    if let Some(z) = &c.authorization {
        let mut a = Map::new();
        a.put("type", z.kind.as_str());
        if z.credentials.is_some() {
            a.put("credentials", SECRET);
        }
        if let Some(f) = &z.credentials_file {
            a.put("credentials_file", f.display().to_string());
        }
        m.put("authorization", a.value());
    }
    let t = &c.tls_config;
    let mut tls = Map::new();
    for (k, v) in [
        ("ca_file", &t.ca_file),
        ("cert_file", &t.cert_file),
        ("key_file", &t.key_file),
    ] {
        if let Some(p) = v {
            tls.put(k, p.display().to_string());
        }
    }
    if let Some(s) = &t.server_name {
        tls.put("server_name", s.as_str());
    }
    if t.insecure_skip_verify {
        tls.put("insecure_skip_verify", true);
    }
    if !tls.0.is_empty() {
        m.put("tls_config", tls.value());
    }
    if !c.relabel_configs.is_empty() {
        m.put(
            "relabel_configs",
            Value::Sequence(c.relabel_configs.iter().map(relabel).collect()),
        );
    }
    if !c.metric_relabel_configs.is_empty() {
        m.put(
            "metric_relabel_configs",
            Value::Sequence(c.metric_relabel_configs.iter().map(relabel).collect()),
        );
    }
    if !c.file_sd_configs.is_empty() {
        let v = c
            .file_sd_configs
            .iter()
            .map(|f| {
                let mut x = Map::new();
                x.put("files", strs(f.files.iter().cloned()));
                x.put("refresh_interval", format_duration(f.refresh_interval));
                x.value()
            })
            .collect();
        m.put("file_sd_configs", Value::Sequence(v));
    }
    if !c.static_configs.is_empty() {
        m.put(
            "static_configs",
            Value::Sequence(c.static_configs.iter().map(group).collect()),
        );
    }
    m.value()
}

/// The configuration as Prometheus's `/api/v1/status/config` shows it: every default filled in.
pub fn to_yaml(cfg: &Config) -> String {
    let g = &cfg.global;
    let mut global = Map::new();
    global.put("scrape_interval", format_duration(g.scrape_interval));
    global.put("scrape_timeout", format_duration(g.scrape_timeout));
    global.put("scrape_protocols", protocols(&g.scrape_protocols));
    global.put("evaluation_interval", format_duration(g.evaluation_interval));
    if !g.external_labels.is_empty() {
        let mut l = Map::new();
        for x in g.external_labels.iter() {
            l.put(&x.name, x.value.as_str());
        }
        global.put("external_labels", l.value());
    }
    if g.body_size_limit != 0 {
        global.put("body_size_limit", format_bytes(g.body_size_limit));
    }
    global.put_nonzero("sample_limit", g.sample_limit);
    global.put_nonzero("label_limit", g.label_limit);
    global.put_nonzero("label_name_length_limit", g.label_name_length_limit);
    global.put_nonzero("label_value_length_limit", g.label_value_length_limit);
    let mut root = Map::new();
    root.put("global", global.value());
    for (name, v) in &cfg.ignored_sections {
        if name == "rule_files" || name == "alerting" {
            root.put(name, v.clone());
        }
    }
    if !cfg.scrape_configs.is_empty() {
        root.put(
            "scrape_configs",
            Value::Sequence(cfg.scrape_configs.iter().map(scrape_config).collect()),
        );
    }
    for (name, v) in &cfg.ignored_sections {
        if name != "rule_files" && name != "alerting" {
            root.put(name, v.clone());
        }
    }
    let mut storage = Map::new();
    let mut ex = Map::new();
    ex.put("max_exemplars", cfg.storage.max_exemplars);
    if let Some(r) = cfg.storage.exemplar_retention {
        ex.put("retention", format_duration(r));
    }
    if let Some(r) = cfg.storage.exemplar_seal_after {
        ex.put("seal_after", format_duration(r));
    }
    if cfg.storage.exemplar_store != crate::ExemplarStoreKind::Fair {
        ex.put("store", cfg.storage.exemplar_store.as_str());
    }
    storage.put("exemplars", ex.value());
    if !cfg.storage.out_of_order_time_window.is_zero() {
        let mut t = Map::new();
        t.put(
            "out_of_order_time_window",
            format_duration(cfg.storage.out_of_order_time_window),
        );
        storage.put("tsdb", t.value());
    }
    root.put("storage", storage.value());
    if !cfg.trace_destinations.is_empty() {
        root.put(
            "trace_destinations",
            Value::Sequence(cfg.trace_destinations.iter().map(trace_destination).collect()),
        );
    }
    // Serialising a tree of plain values cannot fail; fall back to the original text if it somehow does.
    serde_yaml_ng::to_string(&root.value()).unwrap_or_else(|_| cfg.original_yaml.clone())
}
