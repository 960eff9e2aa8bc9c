//! `GET /api/diamond/v1/exemplars/coverage` (shape in `docs/api/diamond.md`): which series have exemplars,
//! how far back, and which series of the TSDB receive none and why.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use diamond_exemplars::{ExemplarStats, SeriesSummary};
use diamond_model::{Labels, MatchOp, Matcher};
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use crate::response::success_raw;

/// What the exemplar store holds, for the coverage endpoint.
#[derive(Debug, Clone, Default)]
pub struct ExemplarCoverage {
    /// The store's statistics.
    pub stats: ExemplarStats,
    /// Exemplar retention in seconds (0: none).
    pub retention_seconds: f64,
    /// Per series, sorted by labels.
    pub series: Vec<SeriesSummary>,
}

fn secs(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|x| (x.name.to_string(), Value::String(x.value.to_string())))
            .collect(),
    )
}

/// Why a series without exemplars has none, where Diamond can tell: its target's exposition format, or a
/// metric type (or a histogram's or counter's non-bucket series) that the client libraries and OpenMetrics
/// 1.0 never attach exemplars to (`../shared/docs/exemplar-facts.md` §2). `None`: no known reason.
struct Reasons {
    /// (job, instance) → the content type of a target whose last scrape was not OpenMetrics.
    classic_targets: std::collections::HashMap<(String, String), String>,
    /// Metric family → type, from metadata.
    types: std::collections::HashMap<String, diamond_model::MetricType>,
}

impl Reasons {
    fn new(targets: &Value, metadata: Vec<(String, diamond_model::Metadata)>) -> Reasons {
        let mut classic_targets = std::collections::HashMap::new();
        for t in targets["activeTargets"].as_array().into_iter().flatten() {
            let ct = t["contentType"].as_str().unwrap_or("");
            if t["openMetrics"].as_bool() == Some(false) && !ct.is_empty() {
                let l = &t["labels"];
                let key = (
                    l["job"].as_str().unwrap_or("").to_owned(),
                    l["instance"].as_str().unwrap_or("").to_owned(),
                );
                classic_targets.insert(key, ct.to_owned());
            }
        }
        let types = metadata.into_iter().map(|(f, m)| (f, m.metric_type)).collect();
        Reasons { classic_targets, types }
    }

    fn of(&self, l: &Labels) -> Option<String> {
        use diamond_model::MetricType as T;
        let key = (
            l.get("job").unwrap_or("").to_owned(),
            l.get("instance").unwrap_or("").to_owned(),
        );
        if let Some(ct) = self.classic_targets.get(&key) {
            return Some(format!(
                "target serves classic text ({ct}), which cannot carry exemplars; it did not answer in OpenMetrics"
            ));
        }
        let name = l.metric_name()?;
        // The family: the name itself (classic text types `x_total`), else without its suffix.
        let (family_type, suffix) = std::iter::once((name, ""))
            .chain(
                ["_total", "_bucket", "_sum", "_count", "_created", "_info"]
                    .iter()
                    .filter_map(|suf| name.strip_suffix(suf).map(|f| (f, *suf))),
            )
            .find_map(|(f, suf)| self.types.get(f).map(|t| (*t, suf)))?;
        let only =
            "client libraries and OpenMetrics 1.0 attach exemplars only to counter _total and histogram _bucket series";
        match (family_type, suffix) {
            (T::Gauge | T::Summary | T::Info | T::StateSet, _) => {
                Some(format!("a {} metric: {only}", family_type.as_str()))
            }
            (T::Histogram | T::GaugeHistogram, "_sum" | "_count" | "_created") | (T::Counter, "_created") => {
                Some(format!("a {} series of a {}: {only}", suffix, family_type.as_str()))
            }
            _ => None,
        }
    }
}

#[derive(Default)]
struct Row<'a> {
    with: u64,
    without: u64,
    exemplars: u64,
    oldest: Option<i64>,
    newest: Option<i64>,
    series: Vec<(Labels, Option<&'a SeriesSummary>)>,
}

pub(crate) async fn handler(State(state): State<Arc<ApiState>>, p: Params) -> Result<Response, ApiError> {
    let metric = p.get("metric").to_owned();
    let backend = Arc::clone(&state.backend);
    let body = tokio::task::spawn_blocking(move || -> Result<String, ApiError> {
        let cov = backend.exemplar_coverage();
        let q = backend.queryable().querier(MIN_TIME_MS, MAX_TIME_MS)?;
        let name_matcher = if metric.is_empty() {
            Matcher::new(MatchOp::Regex, "__name__", ".+").map_err(|e| ApiError::internal(e.to_string()))?
        } else {
            Matcher::equal("__name__", metric.as_str())
        };
        let tsdb_series: Vec<Labels> = q.select(&[name_matcher])?.into_iter().map(|s| s.labels).collect();
        let wanted = |l: &Labels| metric.is_empty() || l.metric_name() == Some(metric.as_str());
        let held: BTreeMap<&Labels, &SeriesSummary> = cov
            .series
            .iter()
            .filter(|s| wanted(&s.labels))
            .map(|s| (&s.labels, s))
            .collect();
        let mut rows: BTreeMap<String, Row<'_>> = BTreeMap::new();
        let name_of = |l: &Labels| l.metric_name().unwrap_or("").to_owned();
        for (l, s) in &held {
            let r = rows.entry(name_of(l)).or_default();
            r.with += 1;
            r.exemplars += s.exemplars;
            r.oldest = Some(r.oldest.map_or(s.oldest, |o| o.min(s.oldest)));
            r.newest = Some(r.newest.map_or(s.newest, |o| o.max(s.newest)));
            if !metric.is_empty() {
                r.series.push(((*l).clone(), Some(*s)));
            }
        }
        for l in &tsdb_series {
            if held.contains_key(l) {
                continue;
            }
            let r = rows.entry(name_of(l)).or_default();
            r.without += 1;
            if !metric.is_empty() {
                r.series.push((l.clone(), None));
            }
        }
        let disabled = cov.stats.max == 0;
        let reasons = (!metric.is_empty()).then(|| Reasons::new(&backend.targets(), backend.metadata()));
        let reason = |l: &Labels| -> String {
            if disabled {
                return "exemplar storage is disabled (storage.exemplars.max_exemplars is 0 or less)".to_owned();
            }
            reasons
                .as_ref()
                .and_then(|r| r.of(l))
                .unwrap_or_else(|| "no exemplars received".to_owned())
        };
        let metrics: Vec<Value> = rows
            .into_iter()
            .map(|(name, mut r)| {
                let mut row = json!({
                    "metric": name,
                    "seriesWithExemplars": r.with,
                    "seriesWithoutExemplars": r.without,
                    "exemplars": r.exemplars,
                    "oldest": r.oldest.map(secs),
                    "newest": r.newest.map(secs),
                });
                if !metric.is_empty() {
                    r.series.sort_by(|a, b| a.0.cmp(&b.0));
                    let series: Vec<Value> = r
                        .series
                        .iter()
                        .map(|(l, s)| match s {
                            Some(s) => json!({"labels": labels_json(l), "exemplars": s.exemplars,
                                "oldest": secs(s.oldest), "newest": secs(s.newest), "reason": null}),
                            None => json!({"labels": labels_json(l), "exemplars": 0,
                                "oldest": null, "newest": null, "reason": reason(l)}),
                        })
                        .collect();
                    row["series"] = Value::Array(series);
                }
                row
            })
            .collect();
        let data = json!({
            "store": {
                "maxExemplars": cov.stats.max,
                "inMemory": cov.stats.stored,
                "onDisk": cov.stats.disk_stored,
                "retentionSeconds": cov.retention_seconds,
            },
            "metrics": metrics,
        });
        Ok(data.to_string())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(success_raw(&body, &[], &[]))
}
