//! Targets: turning a discovered address and its group labels into a scrape target (Prometheus's
//! `PopulateLabels`), the target's URL, identity hash and scrape offset, and its health for the API.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diamond_config::relabel;
use diamond_config::{ScrapeConfig, TargetGroup, format_duration, parse_duration};
use diamond_model::{Labels, LabelsBuilder};

/// `__address__`
pub const ADDRESS_LABEL: &str = "__address__";
/// `__scheme__`
pub const SCHEME_LABEL: &str = "__scheme__";
/// `__metrics_path__`
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// `__scrape_interval__`
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// `__scrape_timeout__`
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// Prefix of URL parameter labels.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// Prefix of discovery metadata labels, removed after relabelling.
pub const META_LABEL_PREFIX: &str = "__meta_";
/// `job`
pub const JOB_LABEL: &str = "job";
/// `instance`
pub const INSTANCE_LABEL: &str = "instance";

/// A target ready to scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Labels after relabelling, `__`-prefixed ones included (they carry the scheme, path, params, …).
    pub full_labels: Labels,
    /// The labels before relabelling (`discoveredLabels` in the API).
    pub discovered_labels: Labels,
    /// The scrape URL.
    pub url: String,
    /// From `__scrape_interval__`.
    pub interval: Duration,
    /// From `__scrape_timeout__`.
    pub timeout: Duration,
}

/// Why a discovered address cannot become a target (Prometheus logs these and skips the target).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

/// The outcome of building a target from a discovered address.
#[derive(Debug, Clone, PartialEq)]
pub enum Populated {
    /// A target to scrape.
    Target(Target),
    /// Relabelling dropped it; the labels before relabelling.
    Dropped(Labels),
}

impl Target {
    /// The labels attached to every scraped series: the non-`__` labels.
    pub fn labels(&self) -> Labels {
        Labels::from_sorted(
            self.full_labels
                .iter()
                .filter(|l| !l.name.starts_with("__"))
                .cloned()
                .collect(),
        )
    }

    /// Identity of the target within its pool: label set and URL. Two discoveries of the same target have
    /// the same hash, so a re-discovered target keeps its running loop.
    pub fn hash(&self) -> u64 {
        let mut h = self.labels().stable_hash();
        for b in self.url.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    /// How long to wait before the first scrape, so the targets of a pool spread over the interval. The
    /// phase is fixed by the target's hash and pinned to absolute time (as Prometheus's `Target.offset`), so a
    /// target keeps its slot across restarts.
    pub fn offset(&self, now: SystemTime, seed: u64) -> Duration {
        let interval = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX).max(1);
        let now_ns = u64::try_from(now.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()).unwrap_or(0);
        let base = interval - now_ns % interval;
        let offset = (self.hash() ^ seed) % interval;
        let mut next = base + offset;
        if next > interval {
            next -= interval;
        }
        Duration::from_nanos(next)
    }
}

/// Go's `url.Values.Encode`: keys sorted, each `k=v` query-escaped.
fn encode_query(params: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::new();
    for (k, vs) in params {
        for v in vs {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&query_escape(k));
            out.push('=');
            out.push_str(&query_escape(v));
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Builds a target from one address of a group, as Prometheus's `PopulateLabels`: target labels over group
/// labels, then `job`, `__scrape_interval__`, `__scrape_timeout__`, `__metrics_path__`, `__scheme__` and
/// `__param_*` where not already set, then `relabel_configs`, checks, `__meta_*` removal and the `instance`
/// default. An error means the target is skipped (Prometheus logs it).
pub fn populate(cfg: &ScrapeConfig, address: &str, group: &TargetGroup) -> Result<Populated, TargetError> {
    populate_inner(cfg, address, group).map_err(TargetError)
}

fn populate_inner(cfg: &ScrapeConfig, address: &str, group: &TargetGroup) -> Result<Populated, String> {
    let mut lb = LabelsBuilder::new();
    for (k, v) in &group.labels {
        lb.set(k, v);
    }
    lb.set(ADDRESS_LABEL, address);
    let defaults = [
        (JOB_LABEL, cfg.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, format_duration(cfg.scrape_interval)),
        (SCRAPE_TIMEOUT_LABEL, format_duration(cfg.scrape_timeout)),
        (METRICS_PATH_LABEL, cfg.metrics_path.clone()),
        (SCHEME_LABEL, cfg.scheme.as_str().to_owned()),
    ];
    for (k, v) in defaults {
        if lb.get(k).is_none() {
            lb.set(k, &v);
        }
    }
    for (k, v) in &cfg.params {
        let name = format!("{PARAM_LABEL_PREFIX}{k}");
        if let Some(first) = v.first()
            && lb.get(&name).is_none()
        {
            lb.set(&name, first);
        }
    }
    let discovered = lb.build();
    let Some(after) = relabel::process(&discovered, &cfg.relabel_configs) else {
        return Ok(Populated::Dropped(discovered));
    };
    let Some(addr) = after.get(ADDRESS_LABEL).map(str::to_owned) else {
        return Err("no address".into());
    };
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    let interval_s = after.get(SCRAPE_INTERVAL_LABEL).unwrap_or("");
    let interval = parse_duration(interval_s).map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".into());
    }
    let timeout_s = after.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("");
    let timeout = parse_duration(timeout_s).map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".into());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_s:?} > {interval_s:?})"
        ));
    }
    let mut lb = after.builder();
    lb.retain(|l| !l.name.starts_with(META_LABEL_PREFIX));
    if lb.get(INSTANCE_LABEL).is_none() {
        lb.set(INSTANCE_LABEL, &addr);
    }
    let full = lb.build();
    // URL parameters: the configured ones, with the first value replaced by any `__param_<name>` label.
    let mut params = cfg.params.clone();
    for l in full.iter() {
        if let Some(k) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
            let e = params.entry(k.to_owned()).or_default();
            match e.first_mut() {
                Some(first) => *first = l.value.to_string(),
                None => e.push(l.value.to_string()),
            }
        }
    }
    let scheme = full.get(SCHEME_LABEL).unwrap_or("http");
    let path = full.get(METRICS_PATH_LABEL).unwrap_or("");
    let query = encode_query(&params);
    let url = if query.is_empty() {
        format!("{scheme}://{addr}{path}")
    } else {
        format!("{scheme}://{addr}{path}?{query}")
    };
    Ok(Populated::Target(Target {
        full_labels: full,
        discovered_labels: discovered,
        url,
        interval,
        timeout,
    }))
}

/// Health of a target as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl Health {
    /// `up`, `down` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What the last scrape of a target found, updated by its loop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeState {
    /// Health after the last scrape.
    pub health: Health,
    /// The last scrape's error, empty when it succeeded.
    pub last_error: String,
    /// When the last scrape started.
    pub last_scrape: Option<SystemTime>,
    /// How long it took.
    pub last_scrape_duration: Duration,
    /// The response's `Content-Type`.
    pub content_type: String,
    /// Whether the response was OpenMetrics.
    pub openmetrics: bool,
    /// Exemplars found in the last scrape.
    pub exemplars: usize,
    /// Diagnostics about the last scrape (e.g. exemplars lost to the classic format).
    pub warnings: Vec<String>,
}

/// One active target for `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetStatus {
    /// Labels before relabelling.
    pub discovered_labels: Labels,
    /// Labels after relabelling (the non-`__` ones).
    pub labels: Labels,
    /// The job name.
    pub scrape_pool: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// The URL as reachable from elsewhere; Diamond reports the scrape URL.
    pub global_url: String,
    /// Interval in effect.
    pub scrape_interval: Duration,
    /// Timeout in effect.
    pub scrape_timeout: Duration,
    /// What the last scrape found.
    pub state: ScrapeState,
}

/// A target dropped by relabelling, for `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedTarget {
    /// Labels before relabelling.
    pub discovered_labels: Labels,
    /// The job name.
    pub scrape_pool: String,
}

fn labels_json(l: &Labels) -> serde_json::Value {
    serde_json::Value::Object(
        l.iter()
            .map(|x| (x.name.to_string(), serde_json::Value::String(x.value.to_string())))
            .collect(),
    )
}

/// RFC 3339 in UTC with nanoseconds trimmed like Go's `time.RFC3339Nano`; the zero time when `None`.
pub fn rfc3339(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return "0001-01-01T00:00:00Z".to_owned();
    };
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = d.subsec_nanos();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

impl TargetStatus {
    /// The target in the JSON shape of Prometheus's `/api/v1/targets` `activeTargets` entries, plus Diamond's
    /// fields `contentType`, `openMetrics`, `exemplarsLastScrape` and `warnings`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "discoveredLabels": labels_json(&self.discovered_labels),
            "labels": labels_json(&self.labels),
            "scrapePool": self.scrape_pool,
            "scrapeUrl": self.scrape_url,
            "globalUrl": self.global_url,
            "lastError": self.state.last_error,
            "lastScrape": rfc3339(self.state.last_scrape),
            "lastScrapeDuration": self.state.last_scrape_duration.as_secs_f64(),
            "health": self.state.health.as_str(),
            "scrapeInterval": format_duration(self.scrape_interval),
            "scrapeTimeout": format_duration(self.scrape_timeout),
            "contentType": self.state.content_type,
            "openMetrics": self.state.openmetrics,
            "exemplarsLastScrape": self.state.exemplars,
            "warnings": self.state.warnings,
        })
    }
}

impl DroppedTarget {
    /// The JSON shape of Prometheus's `droppedTargets` entries.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "discoveredLabels": labels_json(&self.discovered_labels),
            "scrapePool": self.scrape_pool,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diamond_config::parse;

    fn job(yaml: &str) -> ScrapeConfig {
        let cfg = parse(yaml, "t.yml").expect("valid test config");
        cfg.scrape_configs.into_iter().next().expect("one job")
    }

    #[test]
    fn populate_defaults() {
        let cfg = job("scrape_configs:\n  - job_name: node\n    params: {module: [m1, m2]}\n");
        let g = TargetGroup {
            targets: vec![],
            labels: [
                ("env".to_owned(), "prod".to_owned()),
                ("__meta_x".to_owned(), "y".to_owned()),
            ]
            .into(),
            source: "0".into(),
        };
        let Ok(Populated::Target(t)) = populate(&cfg, "host:9100", &g) else {
            panic!("a target")
        };
        assert_eq!(
            t.labels().to_string(),
            r#"{env="prod", instance="host:9100", job="node"}"#
        );
        assert_eq!(t.url, "http://host:9100/metrics?module=m1&module=m2");
        assert_eq!(t.interval, Duration::from_secs(60));
        assert_eq!(t.timeout, Duration::from_secs(10));
        assert_eq!(t.discovered_labels.get("__meta_x"), Some("y"));
        assert_eq!(t.discovered_labels.get("__param_module"), Some("m1"));
        assert!(t.full_labels.get("__meta_x").is_none());
    }

    #[test]
    fn populate_relabel_cases() {
        let cfg = job("scrape_configs:
  - job_name: j
    relabel_configs:
      - {source_labels: [__address__], regex: 'drop.*', action: drop}
      - {source_labels: [__address__], regex: '(.*):.*', target_label: instance}
      - {source_labels: [__address__], regex: 'https.*', target_label: __scheme__, replacement: https}
      - {source_labels: [__address__], regex: 'param.*', target_label: __param_x, replacement: 'a b'}
      - {source_labels: [__address__], regex: 'slow.*', target_label: __scrape_timeout__, replacement: 2m}
");
        let g = TargetGroup::default();
        assert!(matches!(populate(&cfg, "drop:1", &g), Ok(Populated::Dropped(_))));
        let Ok(Populated::Target(t)) = populate(&cfg, "https-host:1", &g) else {
            panic!("target")
        };
        assert_eq!(t.url, "https://https-host:1/metrics");
        assert_eq!(t.labels().get("instance"), Some("https-host"));
        let Ok(Populated::Target(t)) = populate(&cfg, "param:1", &g) else {
            panic!("target")
        };
        assert_eq!(t.url, "http://param:1/metrics?x=a+b");
        assert_eq!(
            populate(&cfg, "slow:1", &g),
            Err(TargetError(
                "scrape timeout cannot be greater than scrape interval (\"2m\" > \"1m\")".to_owned()
            ))
        );
        assert_eq!(
            populate(&cfg, "a/b", &g),
            Err(TargetError("\"a/b\" is not a valid hostname".to_owned()))
        );
    }

    #[test]
    fn offset_is_within_interval_and_stable() {
        let cfg = job("scrape_configs:\n  - job_name: j\n    scrape_interval: 10s\n");
        let Ok(Populated::Target(t)) = populate(&cfg, "a:1", &TargetGroup::default()) else {
            panic!("target")
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let o = t.offset(now, 0);
        assert!(o <= Duration::from_secs(10));
        // The scrape lands on the same phase of the interval whenever it is computed.
        let later = now + Duration::from_millis(3_300);
        let phase = |n: SystemTime, o: Duration| {
            (n + o).duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() % 10_000_000_000
        };
        assert_eq!(phase(now, o), phase(later, t.offset(later, 0)));
    }

    #[test]
    fn rfc3339_table() {
        let cases = [
            (None, "0001-01-01T00:00:00Z"),
            (Some(UNIX_EPOCH), "1970-01-01T00:00:00Z"),
            (
                Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)),
                "2023-11-14T22:13:20.5Z",
            ),
            (
                Some(UNIX_EPOCH + Duration::from_secs(951_782_400)),
                "2000-02-29T00:00:00Z",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(rfc3339(t), want);
        }
    }
}
