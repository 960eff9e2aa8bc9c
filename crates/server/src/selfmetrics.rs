//! Diamond's own metrics, written in OpenMetrics or classic text without a metrics library: the set is
//! small and fixed, and writing both formats by hand keeps counters' `_total` naming right in each.

use std::fmt::Write as _;

/// Accumulates metric families in one exposition format.
pub(crate) struct MetricsWriter {
    om: bool,
    out: String,
}

impl MetricsWriter {
    pub(crate) fn new(openmetrics: bool) -> Self {
        MetricsWriter {
            om: openmetrics,
            out: String::with_capacity(4096),
        }
    }

    /// A counter family with one unlabelled sample. `name` has no `_total`.
    pub(crate) fn counter(&mut self, name: &str, help: &str, v: f64) {
        self.counter_vec(name, help, &[(String::new(), v)]);
    }

    /// A counter family with labelled samples; each label string is `a="b",c="d"` (already escaped).
    pub(crate) fn counter_vec(&mut self, name: &str, help: &str, rows: &[(String, f64)]) {
        let family = if self.om {
            name.to_owned()
        } else {
            format!("{name}_total")
        };
        let _ = writeln!(self.out, "# HELP {family} {help}\n# TYPE {family} counter");
        for (labels, v) in rows {
            let _ = writeln!(self.out, "{name}_total{} {}", braces(labels), fmt(*v));
        }
    }

    /// A gauge family with one unlabelled sample.
    pub(crate) fn gauge(&mut self, name: &str, help: &str, v: f64) {
        self.gauge_vec(name, help, &[(String::new(), v)]);
    }

    /// A gauge family with labelled samples.
    pub(crate) fn gauge_vec(&mut self, name: &str, help: &str, rows: &[(String, f64)]) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in rows {
            let _ = writeln!(self.out, "{name}{} {}", braces(labels), fmt(*v));
        }
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

fn fmt(v: f64) -> String {
    diamond_model::format_value(v)
}

/// `diamond_trace_link_*` (issue 6).
pub(crate) fn trace_links(w: &mut MetricsWriter, m: &diamond_api::links::LinkMetrics) {
    // Destination names are letters, digits, '_', '-', '.' (checked by the config): nothing to escape.
    let checks: Vec<(String, f64)> = m
        .checks
        .iter()
        .map(|(d, r, n)| (format!("destination=\"{d}\",result=\"{r}\""), *n as f64))
        .collect();
    w.counter_vec(
        "diamond_trace_link_checks",
        "Trace existence checks made (embedded store lookups and Tempo/Jaeger requests), by result.",
        &checks,
    );
    let hits: Vec<(String, f64)> = m
        .cache_hits
        .iter()
        .map(|(d, n)| (format!("destination=\"{d}\""), *n as f64))
        .collect();
    w.counter_vec(
        "diamond_trace_link_cache_hits",
        "Trace existence answers served from the link-check cache.",
        &hits,
    );
    w.gauge(
        "diamond_trace_link_cache_entries",
        "Entries in the link-check cache.",
        m.cache_entries as f64,
    );
}

/// The block lifecycle under Prometheus's own `prometheus_tsdb_*` names (same meaning), so dashboards
/// made for Prometheus's TSDB work.
pub(crate) fn tsdb_blocks(w: &mut MetricsWriter, b: &diamond_tsdb::BlockStats) {
    w.gauge(
        "prometheus_tsdb_blocks_loaded",
        "Number of currently loaded data blocks.",
        b.loaded as f64,
    );
    w.gauge(
        "prometheus_tsdb_storage_blocks_bytes",
        "The number of bytes that are currently used for local storage by all blocks.",
        b.bytes as f64,
    );
    if let Some(t) = b.lowest_timestamp {
        w.gauge(
            "prometheus_tsdb_lowest_timestamp",
            "Lowest timestamp value stored in the database (ms).",
            t as f64,
        );
    }
    w.counter(
        "prometheus_tsdb_compactions",
        "Total number of compactions that were executed (blocks cut from the head included).",
        (b.compactions + b.head_blocks_written) as f64,
    );
    w.counter(
        "prometheus_tsdb_compactions_failed",
        "Total number of compactions that failed.",
        b.compactions_failed as f64,
    );
    w.counter(
        "prometheus_tsdb_head_truncations",
        "Total number of head truncations attempted.",
        b.head_truncations as f64,
    );
    w.counter(
        "prometheus_tsdb_head_series_removed",
        "Total number of series removed in the head.",
        b.head_series_removed as f64,
    );
    w.counter(
        "prometheus_tsdb_checkpoint_creations",
        "Total number of checkpoint creations attempted.",
        (b.checkpoints + b.checkpoints_failed) as f64,
    );
    w.counter(
        "prometheus_tsdb_checkpoint_creations_failed",
        "Total number of checkpoint creations that failed.",
        b.checkpoints_failed as f64,
    );
    w.counter(
        "prometheus_tsdb_time_retentions",
        "The number of times that blocks were deleted because the maximum time limit was exceeded.",
        b.time_retentions as f64,
    );
    w.counter(
        "prometheus_tsdb_size_retentions",
        "The number of times that blocks were deleted because the maximum number of bytes was exceeded.",
        b.size_retentions as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_names_per_format() {
        let mut w = MetricsWriter::new(true);
        w.counter("x", "Help.", 2.0);
        assert_eq!(w.finish(), "# HELP x Help.\n# TYPE x counter\nx_total 2\n");
        let mut w = MetricsWriter::new(false);
        w.counter("x", "Help.", 2.0);
        assert_eq!(w.finish(), "# HELP x_total Help.\n# TYPE x_total counter\nx_total 2\n");
    }

    #[test]
    fn output_validates_as_openmetrics() {
        let mut w = MetricsWriter::new(true);
        w.counter_vec(
            "d",
            "Dropped.",
            &[("reason=\"a\"".into(), 1.0), ("reason=\"b\"".into(), 0.0)],
        );
        w.gauge("g", "A gauge.", 1.5);
        let mut text = w.finish();
        text.push_str("# EOF\n");
        diamond_exposition::validate_openmetrics(text.as_bytes()).expect("valid OpenMetrics");
    }
}
