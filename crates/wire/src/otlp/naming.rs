//! Prometheus names for OTLP metrics and attributes: the metric-name builder (unit words, `_total`,
//! `_ratio`), label-name sanitising, and the unit words used as metadata.

use crate::proto::otlp::{self as pb, metric};

/// Sanitises an attribute key into a label name (Prometheus's `LabelNamer` without UTF-8): characters
/// outside `[a-zA-Z0-9_]` become `_`; a leading digit gets `key_`, a single leading `_` gets `key`.
pub(super) fn label_name(key: &str) -> String {
    if key.is_empty() {
        return String::new();
    }
    let s: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{s}")
    } else if s.starts_with('_') && !s.starts_with("__") {
        format!("key{s}")
    } else {
        s
    }
}

/// The Prometheus metric name for an OTLP metric (see [`otlp_metrics_to_batch`]).
pub(super) fn metric_name(m: &pb::Metric) -> String {
    let mut tokens: Vec<String> = m
        .name
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let (main, per) = unit_suffixes(&m.unit);
    let mut main = clean_unit(&main);
    let mut per = clean_unit(&per);
    if tokens.contains(&main) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        if per.ends_with('_') {
            per.pop();
        }
        if tokens.contains(&per) {
            per.clear();
        }
    }
    if !per.is_empty() && main.ends_with('_') {
        main.pop();
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
    let is_counter = matches!(&m.data, Some(metric::Data::Sum(s)) if s.is_monotonic);
    if is_counter {
        tokens.retain(|t| t != "total");
        tokens.push("total".to_owned());
    }
    if m.unit == "1" && matches!(m.data, Some(metric::Data::Gauge(_))) {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".to_owned());
    }
    let name = tokens.join("_");
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{name}")
    } else {
        name
    }
}

/// The unit words: (`main`, `per_<per>`), either empty when absent or in braces.
fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main_otel = parts.next().unwrap_or("").trim();
    let main = if !main_otel.is_empty() && !main_otel.contains(['{', '}']) {
        unit_map(main_otel).unwrap_or(main_otel).to_owned()
    } else {
        String::new()
    };
    let per = match parts.next() {
        Some(p) if !p.is_empty() => {
            let p = p.trim();
            if !p.is_empty() && !p.contains(['{', '}']) {
                format!("per_{}", per_unit_map(p).unwrap_or(p))
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    (main, per)
}

/// Characters outside `[a-zA-Z0-9:]` become `_`, runs of `_` collapse, a leading `_` goes.
fn clean_unit(u: &str) -> String {
    let mut s = String::with_capacity(u.len());
    for c in u.chars() {
        let c = if c.is_ascii_alphanumeric() || c == ':' { c } else { '_' };
        if c == '_' && s.ends_with('_') {
            continue;
        }
        s.push(c);
    }
    s.strip_prefix('_').map(str::to_owned).unwrap_or(s)
}

/// The metadata unit: the unit words joined (`seconds`, `bytes_per_second`), empty when none.
pub(super) fn unit_word(unit: &str) -> String {
    let (main, per) = unit_suffixes(unit);
    let (main, per) = (clean_unit(&main), clean_unit(&per));
    match (main.is_empty(), per.is_empty() || per == "per_") {
        (_, true) => main,
        (true, false) => per,
        (false, false) => format!("{}_{}", main.trim_end_matches('_'), per.trim_end_matches('_')),
    }
}

fn unit_map(u: &str) -> Option<&'static str> {
    Some(match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_map(u: &str) -> Option<&'static str> {
    Some(match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, unit: &str, data: metric::Data) -> pb::Metric {
        pb::Metric {
            name: name.into(),
            unit: unit.into(),
            data: Some(data),
            ..Default::default()
        }
    }

    fn gauge() -> metric::Data {
        metric::Data::Gauge(pb::Gauge::default())
    }

    fn sum(monotonic: bool) -> metric::Data {
        metric::Data::Sum(pb::Sum {
            is_monotonic: monotonic,
            aggregation_temporality: 2,
            ..Default::default()
        })
    }

    #[test]
    fn metric_name_table() {
        let cases: &[(&str, &str, metric::Data, &str)] = &[
            (
                "http.server.duration",
                "s",
                metric::Data::Histogram(pb::Histogram::default()),
                "http_server_duration_seconds",
            ),
            (
                "http.server.request.duration",
                "ms",
                gauge(),
                "http_server_request_duration_milliseconds",
            ),
            ("system.cpu.time", "s", sum(true), "system_cpu_time_seconds_total"),
            ("requests", "1", sum(true), "requests_total"),
            ("requests.total", "", sum(true), "requests_total"),
            ("total.requests", "", sum(true), "requests_total"),
            ("queue.size", "", sum(false), "queue_size"),
            ("cpu.utilization", "1", gauge(), "cpu_utilization_ratio"),
            ("cpu.ratio.value", "1", gauge(), "cpu_value_ratio"),
            ("cpu.utilization", "1", sum(false), "cpu_utilization"),
            ("memory.usage", "By", gauge(), "memory_usage_bytes"),
            ("memory.bytes", "By", gauge(), "memory_bytes"),
            ("network.io", "By/s", sum(true), "network_io_bytes_per_second_total"),
            ("throughput", "{requests}/s", gauge(), "throughput_per_second"),
            ("active", "{connections}", gauge(), "active"),
            ("temp", "Cel", gauge(), "temp_celsius"),
            ("weird", "foo bar", gauge(), "weird_foo_bar"),
            ("disk.io", "MiBy/min", gauge(), "disk_io_mebibytes_per_min"),
            ("2xx.count", "", sum(true), "_2xx_count_total"),
            ("a..b__c", "", gauge(), "a_b_c"),
            ("ns:metric.x", "", gauge(), "ns:metric_x"),
            ("héllo", "", gauge(), "h_llo"),
            ("percent.used", "%", gauge(), "percent_used"),
            ("disk.used", "%", gauge(), "disk_used_percent"),
        ];
        for (name, unit, data, want) in cases {
            assert_eq!(metric_name(&metric(name, unit, data.clone())), *want, "{name} [{unit}]");
        }
    }

    #[test]
    fn label_name_table() {
        let cases = [
            ("http.method", "http_method"),
            ("k8s.pod.name", "k8s_pod_name"),
            ("1abc", "key_1abc"),
            ("_private", "key_private"),
            ("__reserved", "__reserved"),
            ("a-b c", "a_b_c"),
            ("ünï", "key_n_"),
            ("", ""),
        ];
        for (key, want) in cases {
            assert_eq!(label_name(key), want, "{key}");
        }
    }
}
