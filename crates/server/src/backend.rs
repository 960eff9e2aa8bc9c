//! The server's implementation of [`diamond_api::Backend`]: the TSDB, the scrape manager and the live
//! configuration behind one object.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use diamond_exemplars::SeriesExemplars;
use diamond_model::storage::{Appender, Queryable};
use diamond_model::{Matcher, Metadata, Timestamp};
use parking_lot::RwLock;
use serde_json::{Value, json};

use crate::cli::ServeArgs;
use crate::selfmetrics::MetricsWriter;

struct ConfigState {
    config: diamond_config::Config,
    last_reload_ok: bool,
    last_reload_time: SystemTime,
    reloads_total: u64,
    reload_failures_total: u64,
}

/// See the module docs.
pub(crate) struct ServerBackend {
    db: Arc<diamond_tsdb::Db>,
    scrape: Arc<diamond_scrape::ScrapeManager>,
    config: RwLock<ConfigState>,
    args: ServeArgs,
    self_addr: SocketAddr,
    ready: AtomicBool,
    start_time: SystemTime,
    /// Trace links (issue 6): destinations from the config, and the embedded store's lookup once it runs.
    links: Arc<diamond_api::links::TraceLinks>,
    /// The embedded trace store's metrics and Diamond's own request histogram (issue 6), once wired.
    self_trace: std::sync::OnceLock<Arc<crate::selftrace::SelfTrace>>,
}

impl ServerBackend {
    pub(crate) fn new(
        db: Arc<diamond_tsdb::Db>,
        scrape: Arc<diamond_scrape::ScrapeManager>,
        config: diamond_config::Config,
        args: ServeArgs,
        self_addr: SocketAddr,
    ) -> Self {
        ServerBackend {
            db,
            scrape,
            config: RwLock::new(ConfigState {
                config,
                last_reload_ok: true,
                last_reload_time: SystemTime::now(),
                reloads_total: 0,
                reload_failures_total: 0,
            }),
            args,
            self_addr,
            ready: AtomicBool::new(false),
            start_time: SystemTime::now(),
            links: Arc::new(diamond_api::links::TraceLinks::new()),
            self_trace: std::sync::OnceLock::new(),
        }
    }

    /// Applies the current configuration to the running parts.
    pub(crate) fn apply_current(&self) {
        let g = self.config.read();
        self.db.resize_exemplars(g.config.storage.max_exemplars.max(0) as usize);
        self.links.configure(&g.config.trace_destinations);
        if let Err(e) = self.scrape.apply_config(&g.config) {
            tracing::error!("applying the scrape configuration: {e}");
        }
    }

    /// Gives the link checker the embedded trace store's lookup (`None` while it does not run).
    pub(crate) fn set_trace_lookup(&self, lookup: Option<Arc<dyn diamond_model::traceid::TraceLookup>>) {
        self.links.set_embedded(lookup);
    }

    /// Adds the trace store's and self-tracing's metrics to `/metrics`.
    pub(crate) fn set_self_trace(&self, st: Arc<crate::selftrace::SelfTrace>) {
        let _ = self.self_trace.set(st);
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }
}

fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm), to avoid a date crate for one timestamp.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

impl diamond_api::Backend for ServerBackend {
    fn queryable(&self) -> &dyn Queryable {
        &*self.db
    }

    fn appender(&self) -> Box<dyn Appender> {
        self.db.appender()
    }

    fn exemplars(&self, start: Timestamp, end: Timestamp, matcher_sets: &[Vec<Matcher>]) -> Vec<SeriesExemplars> {
        self.db.exemplars().select(start, end, matcher_sets)
    }

    fn exemplar_coverage(&self) -> diamond_api::ExemplarCoverage {
        let store = self.db.exemplars();
        let retention = {
            let g = self.config.read();
            g.config
                .storage
                .exemplar_retention
                .or_else(|| {
                    self.args
                        .retention()
                        .ok()
                        .map(|r| std::time::Duration::from_millis(r.0))
                })
                .unwrap_or_default()
        };
        diamond_api::ExemplarCoverage {
            stats: store.stats(),
            retention_seconds: retention.as_secs_f64(),
            series: store.series_summary(),
        }
    }

    fn metadata(&self) -> Vec<(String, Metadata)> {
        self.db.metadata()
    }

    fn tsdb_status(&self, limit: usize) -> Value {
        let c = self.db.cardinality(limit);
        let list = |v: &[(String, u64)]| -> Value { v.iter().map(|(n, c)| json!({"name": n, "value": c})).collect() };
        json!({
            "headStats": {
                "numSeries": c.head_stats.num_series,
                "numLabelPairs": c.head_stats.num_label_pairs,
                "chunkCount": c.head_stats.chunk_count,
                // Prometheus reports an empty head as MaxInt64/MinInt64.
                "minTime": c.head_stats.min_time.unwrap_or(i64::MAX),
                "maxTime": c.head_stats.max_time.unwrap_or(i64::MIN),
            },
            "seriesCountByMetricName": list(&c.series_count_by_metric_name),
            "labelValueCountByLabelName": list(&c.label_value_count_by_label_name),
            "memoryInBytesByLabelName": list(&c.memory_in_bytes_by_label_name),
            "seriesCountByLabelValuePair": list(&c.series_count_by_label_value_pair),
        })
    }

    fn targets(&self) -> Value {
        let dropped = self.scrape.dropped_targets();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for t in self.scrape.active_targets() {
            counts.entry(t.scrape_pool).or_default();
        }
        for t in &dropped {
            *counts.entry(t.scrape_pool.clone()).or_default() += 1;
        }
        json!({
            "activeTargets": self.scrape.active_targets().iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            "droppedTargets": dropped.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            "droppedTargetCounts": counts,
        })
    }

    fn reload(&self) -> Result<(), String> {
        let loaded = match &self.args.config_file {
            Some(p) => diamond_config::load_file(p).map_err(|e| e.to_string()),
            None => crate::serve::default_config(&self.self_addr).map_err(|e| format!("{e:#}")),
        };
        let mut g = self.config.write();
        g.reloads_total += 1;
        g.last_reload_time = SystemTime::now();
        match loaded {
            Ok(cfg) => {
                g.config = cfg;
                g.last_reload_ok = true;
                drop(g);
                self.apply_current();
                Ok(())
            }
            Err(e) => {
                g.last_reload_ok = false;
                g.reload_failures_total += 1;
                Err(e)
            }
        }
    }

    fn config_yaml(&self) -> String {
        diamond_config::to_yaml(&self.config.read().config)
    }

    fn flags(&self) -> BTreeMap<String, String> {
        self.args.as_map()
    }

    fn runtime_info(&self) -> Value {
        let g = self.config.read();
        json!({
            "startTime": rfc3339(self.start_time),
            "CWD": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
            "reloadConfigSuccess": g.last_reload_ok,
            "lastConfigTime": rfc3339(g.last_reload_time),
            "corruptionCount": 0,
            "goroutineCount": 0,
            "GOMAXPROCS": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "GOMEMLIMIT": 0,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": self.args.storage_retention(),
        })
    }

    fn self_metrics(&self, openmetrics: bool) -> String {
        let mut w = MetricsWriter::new(openmetrics);
        let st = self.db.stats();
        w.gauge("diamond_tsdb_head_series", "Series in the head.", st.num_series as f64);
        w.counter(
            "diamond_tsdb_head_samples_appended",
            "Samples appended to the head.",
            st.samples_appended as f64,
        );
        w.counter(
            "diamond_tsdb_out_of_order_samples",
            "Samples refused because they were older than the series' newest.",
            st.out_of_order_rejected as f64,
        );
        w.gauge(
            "diamond_tsdb_wal_segments",
            "WAL segment files.",
            st.wal_segments as f64,
        );
        w.gauge(
            "diamond_tsdb_wal_bytes",
            "Bytes in WAL segment files.",
            st.wal_bytes as f64,
        );
        w.counter("diamond_tsdb_wal_fsyncs", "WAL fsync calls.", st.wal_fsyncs as f64);
        w.gauge(
            "diamond_tsdb_wal_replay_duration_seconds",
            "Duration of the last WAL replay.",
            st.replay_duration.as_secs_f64(),
        );
        crate::selfmetrics::tsdb_blocks(&mut w, &st.blocks);
        let ex = self.db.exemplars().stats();
        // Prometheus's names where they exist (same meaning), Diamond's for the rest.
        w.counter(
            "prometheus_tsdb_exemplar_exemplars_appended",
            "Total number of appended exemplars.",
            ex.appended_total as f64,
        );
        w.gauge(
            "prometheus_tsdb_exemplar_exemplars_in_storage",
            "Number of exemplars currently in circular storage.",
            ex.stored as f64,
        );
        w.gauge(
            "prometheus_tsdb_exemplar_series_with_exemplars_in_storage",
            "Number of series with exemplars currently in circular storage.",
            ex.series as f64,
        );
        w.gauge(
            "prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds",
            "The timestamp of the oldest exemplar stored in circular storage.",
            ex.oldest_ts as f64 / 1000.0,
        );
        w.gauge(
            "prometheus_tsdb_exemplar_max_exemplars",
            "Total number of exemplars the exemplar storage can store, resizeable.",
            ex.max as f64,
        );
        w.counter(
            "prometheus_tsdb_exemplar_out_of_order_exemplars",
            "Total number of out of order exemplar ingestion failed attempts.",
            ex.out_of_order_total as f64,
        );
        w.gauge(
            "diamond_exemplar_memory_bytes",
            "Estimated heap bytes of the exemplars held in memory and their index.",
            ex.memory_bytes as f64,
        );
        w.gauge(
            "diamond_exemplar_disk_exemplars",
            "Exemplars held in segment files on disk.",
            ex.disk_stored as f64,
        );
        w.gauge(
            "diamond_exemplar_disk_bytes",
            "Bytes of exemplar segment files on disk.",
            ex.disk_bytes as f64,
        );
        w.gauge(
            "diamond_exemplar_disk_segments",
            "Exemplar segment files on disk.",
            ex.disk_segments as f64,
        );
        w.counter_vec(
            "diamond_exemplar_removed",
            "Exemplars removed from memory after being stored, by reason (thinned: a dense window lost its least telling one; coarsened: two windows merged; evicted_series: a series lost its only one; expired: retention; circular: Prometheus's ring overwrote it).",
            &[
                ("reason=\"thinned\"".into(), ex.thinned_total as f64),
                ("reason=\"coarsened\"".into(), ex.coarsened_total as f64),
                ("reason=\"evicted_series\"".into(), ex.evicted_series_total as f64),
                ("reason=\"expired\"".into(), ex.expired_total as f64),
                (
                    "reason=\"circular\"".into(),
                    ex.evicted_total
                        .saturating_sub(ex.thinned_total + ex.coarsened_total + ex.evicted_series_total)
                        as f64,
                ),
            ],
        );
        w.counter_vec(
            "diamond_exemplar_dropped",
            "Exemplars offered but not stored, by reason.",
            &[
                ("reason=\"out_of_order\"".into(), ex.out_of_order_total as f64),
                ("reason=\"too_old\"".into(), ex.too_old_total as f64),
                ("reason=\"label_length\"".into(), ex.label_length_total as f64),
                ("reason=\"duplicate\"".into(), ex.duplicate_total as f64),
            ],
        );
        let unparsable: Vec<(String, f64)> = self
            .db
            .trace_id_stats()
            .unparsable()
            .into_iter()
            .map(|(label, n)| (format!("label=\"{label}\""), n as f64))
            .collect();
        w.counter_vec(
            "diamond_exemplar_trace_id_unparsable",
            "Stored exemplars whose trace label (named by `label`) holds no trace ID in any known format.",
            &unparsable,
        );
        crate::selfmetrics::trace_links(&mut w, &self.links.metrics());
        let g = self.config.read();
        w.gauge(
            "diamond_config_last_reload_successful",
            "Whether the last reload succeeded.",
            f64::from(u8::from(g.last_reload_ok)),
        );
        w.counter(
            "diamond_config_reload_failures",
            "Failed configuration reloads.",
            g.reload_failures_total as f64,
        );
        drop(g);
        let mut out = w.finish();
        if let Some(st) = self.self_trace.get() {
            st.write_metrics(openmetrics, &mut out);
        }
        out
    }

    fn delete_series(
        &self,
        start: diamond_model::Timestamp,
        end: diamond_model::Timestamp,
        matchers: &[diamond_model::Matcher],
    ) -> Result<(), String> {
        self.db
            .delete(start, end, matchers)
            .map(|_| ())
            .map_err(|e| format!("delete series: {:#}", anyhow::Error::from(e)))
    }

    fn clean_tombstones(&self) -> Result<(), String> {
        self.db
            .clean_tombstones()
            .map(|_| ())
            .map_err(|e| format!("clean tombstones: {:#}", anyhow::Error::from(e)))
    }

    fn snapshot(&self, name: &str, skip_head: bool) -> Result<(), String> {
        let dir = self.args.tsdb_path.join("snapshots").join(name);
        self.db
            .snapshot(&dir, !skip_head)
            .map_err(|e| format!("create snapshot: {:#}", anyhow::Error::from(e)))
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn trace_links(&self) -> Option<Arc<diamond_api::links::TraceLinks>> {
        Some(Arc::clone(&self.links))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_known_dates() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(super::rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            super::rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
