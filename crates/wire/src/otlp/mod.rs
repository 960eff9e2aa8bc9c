//! OTLP (protobuf over HTTP): decoding, and translation of metrics into a [`WriteBatch`] the way
//! Prometheus's OTLP receiver does with its default settings (`translation_strategy:
//! UnderscoreEscapingWithSuffixes`, no promoted resource attributes, no scope labels, delta temporality
//! refused, classic histograms).
//!
//! The rules follow a reading of Prometheus's 3.x `storage/remote/otlptranslator/prometheusremotewrite`
//! (`helper.go`, `metrics_to_prw.go`) and its metric-name builder. They are NOT checked against a running
//! Prometheus: the reference 3.5.3 binary is the Debian build, which has the OTLP endpoint disabled
//! (changelog: "Disable OTLP Ingestion endpoint", Debian #1080354).

use std::collections::HashMap;
use std::mem::size_of;

use diamond_model::{Exemplar, Label, Labels, METRIC_NAME, Metadata, MetricType, STALE_NAN, Sample};
use prost::Message;

use crate::batch::{bounded, exemplar_labels, series_labels};
use crate::proto::otlp as pb;
use crate::proto::otlp::{metric, number_data_point};

mod naming;
mod value;

use crate::{Error, Rejection, TimeSeries, WriteBatch};
use naming::{label_name, metric_name, unit_word};
use value::{format_float, to_hex, value_string};

/// Decodes an OTLP/HTTP protobuf metrics body (`ExportMetricsServiceRequest`), already decompressed.
///
/// Besides protobuf errors, a non-empty trace id that is not 16 bytes or span id that is not 8 bytes is
/// [`Error::InvalidOtlp`]: the Go pdata decoder Prometheus uses refuses the whole request for that. A body
/// that would decode into more than 1 GiB is [`Error::DecodedTooLarge`] (estimated before decoding, as
/// for remote write).
pub fn decode_otlp_metrics(raw: &[u8]) -> Result<pb::ExportMetricsServiceRequest, Error> {
    crate::budget::check_otlp_metrics(raw)?;
    let req = pb::ExportMetricsServiceRequest::decode(raw)?;
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                for e in metric_exemplars(m) {
                    check_id("trace_id", &e.trace_id, 16)?;
                    check_id("span_id", &e.span_id, 8)?;
                }
            }
        }
    }
    Ok(req)
}

/// Decodes an OTLP/HTTP protobuf traces body (`ExportTraceServiceRequest`), already decompressed.
///
/// Ids are checked as in [`decode_otlp_metrics`]: a span's trace id must be 16 bytes and its span id 8 (a
/// parent span id and link ids may also be empty). The same 1 GiB decoded-size budget applies.
pub fn decode_otlp_traces(raw: &[u8]) -> Result<pb::ExportTraceServiceRequest, Error> {
    crate::budget::check_otlp_traces(raw)?;
    let req = pb::ExportTraceServiceRequest::decode(raw)?;
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                check_id("trace_id", &s.trace_id, 16)?;
                check_id("span_id", &s.span_id, 8)?;
                check_id("parent_span_id", &s.parent_span_id, 8)?;
                for l in &s.links {
                    check_id("link trace_id", &l.trace_id, 16)?;
                    check_id("link span_id", &l.span_id, 8)?;
                }
            }
        }
    }
    Ok(req)
}

/// Decodes an OTLP/HTTP protobuf traces body under the same decoded-size budget as
/// [`decode_otlp_traces`], but leaves ids unchecked: the trace store validates each span and reports the
/// bad ones in OTLP's partial-success answer instead of refusing the whole request.
pub fn decode_otlp_traces_unchecked(raw: &[u8]) -> Result<pb::ExportTraceServiceRequest, Error> {
    crate::budget::check_otlp_traces(raw)?;
    Ok(pb::ExportTraceServiceRequest::decode(raw)?)
}

fn check_id(what: &str, id: &[u8], len: usize) -> Result<(), Error> {
    if id.is_empty() || id.len() == len {
        Ok(())
    } else {
        Err(Error::InvalidOtlp(format!("{what} of {} bytes, want {len}", id.len())))
    }
}

fn metric_exemplars(m: &pb::Metric) -> Box<dyn Iterator<Item = &pb::Exemplar> + '_> {
    match &m.data {
        Some(metric::Data::Gauge(g)) => Box::new(g.data_points.iter().flat_map(|p| &p.exemplars)),
        Some(metric::Data::Sum(s)) => Box::new(s.data_points.iter().flat_map(|p| &p.exemplars)),
        Some(metric::Data::Histogram(h)) => Box::new(h.data_points.iter().flat_map(|p| &p.exemplars)),
        Some(metric::Data::ExponentialHistogram(h)) => Box::new(h.data_points.iter().flat_map(|p| &p.exemplars)),
        Some(metric::Data::Summary(_)) | None => Box::new(std::iter::empty()),
    }
}

/// The `target_info` sample interval: half of Prometheus's default 5m lookback delta, so an instant query
/// anywhere between the resource's first and last point finds a sample.
const TARGET_INFO_INTERVAL_MS: i64 = 150_000;

/// Most `target_info` samples generated for one resource before the latest one. Prometheus has no cap, so a
/// request with points 500 years apart makes it generate about 10^8 samples; 1000 covers 41 hours of
/// points in one request, far more than any real export.
const TARGET_INFO_MAX_SAMPLES: usize = 1000;

/// The OpenMetrics limit on an exemplar's label set, in runes.
const MAX_EXEMPLAR_RUNES: usize = 128;

/// Translates OTLP metrics into a [`WriteBatch`] as Prometheus's OTLP receiver does (defaults listed in the
/// module docs):
///
/// - **Names**: the metric name is split on characters outside `[a-zA-Z0-9:]` and rejoined with `_`; the
///   unit is appended as a word (`s`→`seconds`, `ms`→`milliseconds`, `By`→`bytes`, …; `a/b` → `a_per_b`
///   with `s`→`second` etc.; units in braces ignored) unless the name already has that word; monotonic sums
///   get `_total` (moved to the end), gauges with unit `1` get `_ratio`; a leading digit gets a `_` prefix.
/// - **Labels**: point attributes, names sanitised (invalid characters → `_`, a leading digit → `key_`, a
///   single leading `_` → `key_`), values colliding after sanitising joined with `;` in key order;
///   `service.name` (prefixed `service.namespace/` when set) → `job`, `service.instance.id` → `instance`.
/// - **`target_info`**: one series per resource with other attributes than those three, labelled with
///   job/instance and the other resource attributes, value 1 from the resource's earliest to latest point
///   every 2.5 minutes and at the latest point (at most 1000 samples before the latest one; Prometheus has
///   no cap).
/// - **Types**: gauge and non-monotonic sum → gauge; monotonic sum → counter; histogram →
///   `_bucket{le}` (cumulative, `+Inf` = count), `_sum` (when present), `_count`; summary → `_sum`, `_count`
///   and `{quantile}`. A point flagged "no recorded value" becomes the staleness marker.
/// - **Exemplars**: `trace_id` and `span_id` as lowercase hex (omitted when empty or all zero), then the
///   filtered attributes, all of them or none: they are added only if the whole label set stays within 128
///   runes. Int values become floats; time in ms (`has_ts` when non-zero). Gauge and sum exemplars go on the
///   sample's series; histogram exemplars on the first bucket (by bound) whose bound is ≥ the value.
///
/// Refused, and listed in [`WriteBatch::rejected`] with `series_index` = the metric's position in request
/// order (counted across resources and scopes) and Prometheus's message: sums and histograms whose
/// temporality is not cumulative, metrics without data points or without data. Exponential histograms
/// (native histograms in Prometheus) are not supported by Diamond yet: they are rejected the same way and
/// their points counted in `histograms`. Prometheus's OTLP receiver only logs such problems and still
/// answers 200. Series whose translated labels are invalid (an empty attribute key) are rejected too, as
/// the 1.0 write path Prometheus uses drops them.
///
/// Metadata (type, description as help, unit as a Prometheus unit word) is listed in
/// [`WriteBatch::metadata`] under the translated family name.
pub fn otlp_metrics_to_batch(req: &pb::ExportMetricsServiceRequest) -> WriteBatch {
    let mut out = Builder::default();
    let mut metric_index = 0usize;
    for rm in &req.resource_metrics {
        let resource = Resource::new(rm.resource.as_ref());
        let mut earliest = i64::MAX;
        let mut latest = i64::MIN;
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let index = metric_index;
                metric_index += 1;
                for t in point_times(m) {
                    earliest = earliest.min(t);
                    latest = latest.max(t);
                }
                if let Err(rejection) = out.add_metric(&resource, m, index) {
                    out.reject(rejection);
                }
            }
        }
        if earliest <= latest {
            out.add_target_info(&resource, earliest, latest, metric_index.saturating_sub(1));
        }
    }
    out.finish()
}

/// A resource's attributes, with the job and instance it maps to.
struct Resource<'a> {
    attributes: &'a [pb::KeyValue],
    job: Option<String>,
    instance: Option<String>,
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

impl<'a> Resource<'a> {
    fn new(r: Option<&'a pb::Resource>) -> Self {
        let attributes = r.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        let get = |k: &str| {
            attributes
                .iter()
                .find(|kv| kv.key == k)
                .map(|kv| value_string(kv.value.as_ref()))
        };
        let job = get(SERVICE_NAME).map(|name| match get(SERVICE_NAMESPACE) {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        });
        Resource {
            attributes,
            job,
            instance: get(SERVICE_INSTANCE_ID),
        }
    }
}

#[derive(Default)]
struct Builder {
    series: Vec<TimeSeries>,
    by_labels: HashMap<Labels, usize>,
    metadata: Vec<(String, Metadata)>,
    rejected: Vec<Rejection>,
    /// Bytes of labels, samples and exemplars built so far (see [`MAX_TRANSLATED`]).
    used: usize,
    /// Set once `used` passed the budget: every later point is dropped without building its labels.
    exhausted: bool,
    /// Position in `rejected` of the entry that sums up rejections past [`MAX_REJECTIONS`].
    overflow: Option<usize>,
}

/// The most bytes of labels and samples one translation builds. Translation copies the resource's job and
/// instance into every point's labels, so a request with a long `service.name` and many tiny points would
/// otherwise build far more than it decoded to. Points past the budget are dropped and reported.
const MAX_TRANSLATED: usize = 1 << 30;

/// Rejections listed one by one; later ones are summed into one entry.
const MAX_REJECTIONS: usize = 1000;

/// The data of one translated point before it is placed in a series.
struct Point {
    t: i64,
    v: f64,
}

impl Builder {
    /// Records a rejection, keeping the list and each reason bounded.
    fn reject(&mut self, mut r: Rejection) {
        if self.rejected.len() < MAX_REJECTIONS {
            r.reason = bounded(r.reason);
            self.rejected.push(r);
            return;
        }
        match self.overflow {
            Some(i) => {
                let o = &mut self.rejected[i];
                o.samples += r.samples;
                o.histograms += r.histograms;
                o.exemplars += r.exemplars;
            }
            None => {
                self.overflow = Some(self.rejected.len());
                self.rejected.push(Rejection {
                    reason: format!("more than {MAX_REJECTIONS} rejections; the rest are counted here"),
                    ..r
                });
            }
        }
    }

    /// Whether the translation budget is spent; if so, records `samples` dropped points of metric `index`.
    fn out_of_budget(&mut self, index: usize, samples: usize, exemplars: usize) -> bool {
        if !self.exhausted {
            return false;
        }
        self.reject(Rejection {
            series_index: index,
            reason: format!("translated request exceeds {MAX_TRANSLATED} bytes; remaining points dropped"),
            samples,
            histograms: 0,
            exemplars,
        });
        true
    }

    fn finish(self) -> WriteBatch {
        WriteBatch {
            series: self.series,
            metadata: self.metadata,
            rejected: self.rejected,
        }
    }

    fn add_metric(&mut self, resource: &Resource<'_>, m: &pb::Metric, index: usize) -> Result<(), Rejection> {
        let reject = |reason: String, histograms: usize| Rejection {
            series_index: index,
            reason,
            samples: 0,
            histograms,
            exemplars: 0,
        };
        let cumulative = pb::AggregationTemporality::Cumulative as i32;
        let (metric_type, points) = match &m.data {
            None => return Err(reject(format!("unsupported metric type for metric {:?}", m.name), 0)),
            Some(metric::Data::Gauge(g)) => (MetricType::Gauge, g.data_points.len()),
            Some(metric::Data::Sum(s)) => {
                if s.aggregation_temporality != cumulative {
                    return Err(reject(invalid_temporality(&m.name), 0));
                }
                let t = if s.is_monotonic {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                };
                (t, s.data_points.len())
            }
            Some(metric::Data::Histogram(h)) => {
                if h.aggregation_temporality != cumulative {
                    return Err(reject(invalid_temporality(&m.name), 0));
                }
                (MetricType::Histogram, h.data_points.len())
            }
            Some(metric::Data::ExponentialHistogram(h)) => {
                if h.aggregation_temporality != cumulative {
                    return Err(reject(invalid_temporality(&m.name), 0));
                }
                let n = h.data_points.len();
                return Err(reject(
                    format!(
                        "exponential histogram {:?} dropped: native histograms are not supported",
                        m.name
                    ),
                    n,
                ));
            }
            Some(metric::Data::Summary(s)) => (MetricType::Summary, s.data_points.len()),
        };
        if points == 0 {
            return Err(reject(format!("empty data points. {} is dropped", m.name), 0));
        }
        let name = metric_name(m);
        self.metadata.push((
            name.clone(),
            Metadata {
                metric_type,
                help: m.description.clone(),
                unit: unit_word(&m.unit),
            },
        ));
        match &m.data {
            Some(metric::Data::Gauge(g)) => self.add_number_points(resource, &name, &g.data_points, index),
            Some(metric::Data::Sum(s)) => self.add_number_points(resource, &name, &s.data_points, index),
            Some(metric::Data::Histogram(h)) => self.add_histogram_points(resource, &name, &h.data_points, index),
            Some(metric::Data::Summary(s)) => self.add_summary_points(resource, &name, &s.data_points, index),
            Some(metric::Data::ExponentialHistogram(_)) | None => {}
        }
        Ok(())
    }

    fn add_number_points(&mut self, r: &Resource<'_>, name: &str, points: &[pb::NumberDataPoint], index: usize) {
        for p in points {
            if self.out_of_budget(index, 1, p.exemplars.len()) {
                continue;
            }
            let base = base_labels(r, &p.attributes);
            let v = if p.flags & pb::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK != 0 {
                STALE_NAN
            } else {
                match p.value {
                    Some(number_data_point::Value::AsDouble(v)) => v,
                    Some(number_data_point::Value::AsInt(v)) => v as f64,
                    None => 0.0,
                }
            };
            let exemplars = p.exemplars.iter().filter_map(|e| self.exemplar(e, index)).collect();
            self.add_sample(
                with_extras(&base, name, &[]),
                Point {
                    t: ns_to_ms(p.time_unix_nano),
                    v,
                },
                exemplars,
                index,
            );
        }
    }

    fn add_histogram_points(&mut self, r: &Resource<'_>, name: &str, points: &[pb::HistogramDataPoint], index: usize) {
        for p in points {
            let series = 3 + p.explicit_bounds.len().min(p.bucket_counts.len());
            if self.out_of_budget(index, series, p.exemplars.len()) {
                continue;
            }
            let base = base_labels(r, &p.attributes);
            let t = ns_to_ms(p.time_unix_nano);
            let stale = p.flags & pb::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK != 0;
            let val = |v: f64| if stale { STALE_NAN } else { v };
            if let Some(sum) = p.sum {
                self.add_sample(
                    with_extras(&base, &format!("{name}_sum"), &[]),
                    Point { t, v: val(sum) },
                    vec![],
                    index,
                );
            }
            let count_labels = with_extras(&base, &format!("{name}_count"), &[]);
            self.add_sample(
                count_labels,
                Point {
                    t,
                    v: val(p.count as f64),
                },
                vec![],
                index,
            );
            // Buckets are (bound, series index) so the exemplars can be placed after all buckets exist.
            let bucket_name = format!("{name}_bucket");
            let mut buckets: Vec<(f64, Option<usize>)> = Vec::with_capacity(p.explicit_bounds.len() + 1);
            let mut cumulative: u64 = 0;
            for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
                cumulative = cumulative.wrapping_add(*count);
                let labels = with_extras(&base, &bucket_name, &[("le", format_float(*bound))]);
                let at = self.add_sample(
                    labels,
                    Point {
                        t,
                        v: val(cumulative as f64),
                    },
                    vec![],
                    index,
                );
                buckets.push((*bound, at));
            }
            let labels = with_extras(&base, &bucket_name, &[("le", "+Inf".to_owned())]);
            let at = self.add_sample(
                labels,
                Point {
                    t,
                    v: val(p.count as f64),
                },
                vec![],
                index,
            );
            buckets.push((f64::INFINITY, at));
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            for e in &p.exemplars {
                let Some(ex) = self.exemplar(e, index) else { continue };
                // NaN is never ≤ a bound, so a NaN exemplar is dropped, as in Prometheus.
                if let Some((_, Some(at))) = buckets.iter().find(|(bound, at)| at.is_some() && ex.value <= *bound) {
                    self.series[*at].exemplars.push(ex);
                }
            }
        }
    }

    fn add_summary_points(&mut self, r: &Resource<'_>, name: &str, points: &[pb::SummaryDataPoint], index: usize) {
        for p in points {
            if self.out_of_budget(index, 2 + p.quantile_values.len(), 0) {
                continue;
            }
            let base = base_labels(r, &p.attributes);
            let t = ns_to_ms(p.time_unix_nano);
            let stale = p.flags & pb::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK != 0;
            let val = |v: f64| if stale { STALE_NAN } else { v };
            self.add_sample(
                with_extras(&base, &format!("{name}_sum"), &[]),
                Point { t, v: val(p.sum) },
                vec![],
                index,
            );
            self.add_sample(
                with_extras(&base, &format!("{name}_count"), &[]),
                Point {
                    t,
                    v: val(p.count as f64),
                },
                vec![],
                index,
            );
            for q in &p.quantile_values {
                let labels = with_extras(&base, name, &[("quantile", format_float(q.quantile))]);
                self.add_sample(labels, Point { t, v: val(q.value) }, vec![], index);
            }
        }
    }

    fn add_target_info(&mut self, r: &Resource<'_>, earliest: i64, latest: i64, index: usize) {
        let identifying = [SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID];
        let others: Vec<pb::KeyValue> = r
            .attributes
            .iter()
            .filter(|kv| !identifying.contains(&kv.key.as_str()))
            .cloned()
            .collect();
        if others.is_empty() || (r.job.is_none() && r.instance.is_none()) {
            return;
        }
        let labels = with_extras(&base_labels(r, &others), "target_info", &[]);
        let mut t = earliest;
        let mut n = 0;
        while t < latest && n < TARGET_INFO_MAX_SAMPLES {
            self.add_sample(labels.clone(), Point { t, v: 1.0 }, vec![], index);
            t = t.saturating_add(TARGET_INFO_INTERVAL_MS);
            n += 1;
        }
        self.add_sample(labels, Point { t: latest, v: 1.0 }, vec![], index);
    }

    /// Appends a sample to the series with these labels (created on first use, as Prometheus's converter
    /// merges points with equal label sets). Returns the series position, or `None` if the labels are
    /// invalid (then recorded as a rejection).
    fn add_sample(&mut self, pairs: Vec<Label>, p: Point, exemplars: Vec<Exemplar>, index: usize) -> Option<usize> {
        let label_bytes = |l: &Label| size_of::<Label>() + l.name.len() + l.value.len();
        let cost = pairs.iter().map(label_bytes).sum::<usize>()
            + size_of::<Sample>()
            + exemplars
                .iter()
                .map(|e| size_of::<Exemplar>() + e.labels.iter().map(label_bytes).sum::<usize>())
                .sum::<usize>();
        self.used = self.used.saturating_add(cost);
        if self.used > MAX_TRANSLATED {
            self.exhausted = true;
        }
        if self.out_of_budget(index, 1, exemplars.len()) {
            return None;
        }
        let labels = match series_labels(pairs) {
            Ok(l) => l,
            Err(reason) => {
                self.reject(Rejection {
                    series_index: index,
                    reason,
                    samples: 1,
                    histograms: 0,
                    exemplars: exemplars.len(),
                });
                return None;
            }
        };
        let at = match self.by_labels.get(&labels) {
            Some(&at) => at,
            None => {
                self.series.push(TimeSeries {
                    labels: labels.clone(),
                    ..Default::default()
                });
                self.by_labels.insert(labels, self.series.len() - 1);
                self.series.len() - 1
            }
        };
        let s = &mut self.series[at];
        s.samples.push(Sample { t: p.t, v: p.v });
        s.exemplars.extend(exemplars);
        Some(at)
    }

    /// Translates one exemplar; an exemplar without a value is dropped and recorded.
    fn exemplar(&mut self, e: &pb::Exemplar, index: usize) -> Option<Exemplar> {
        let value = match e.value {
            Some(pb::exemplar::Value::AsDouble(v)) => v,
            Some(pb::exemplar::Value::AsInt(v)) => v as f64,
            None => {
                self.reject(Rejection {
                    series_index: index,
                    reason: "unsupported exemplar value type: Empty".to_owned(),
                    samples: 0,
                    histograms: 0,
                    exemplars: 1,
                });
                return None;
            }
        };
        let mut pairs = Vec::with_capacity(2 + e.filtered_attributes.len());
        let mut runes = 0;
        for (key, id) in [("trace_id", &e.trace_id), ("span_id", &e.span_id)] {
            if id.iter().any(|&b| b != 0) {
                let hex = to_hex(id);
                runes += key.len() + hex.len();
                pairs.push(Label {
                    name: key.into(),
                    value: hex.into(),
                });
            }
        }
        let attrs: Vec<Label> = e
            .filtered_attributes
            .iter()
            .map(|kv| Label {
                name: kv.key.as_str().into(),
                value: value_string(kv.value.as_ref()).into(),
            })
            .collect();
        runes += attrs
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum::<usize>();
        if runes <= MAX_EXEMPLAR_RUNES {
            pairs.extend(attrs);
        }
        let ts = ns_to_ms(e.time_unix_nano);
        Some(Exemplar {
            labels: exemplar_labels(pairs),
            value,
            ts,
            has_ts: ts != 0,
        })
    }
}

fn invalid_temporality(name: &str) -> String {
    format!("invalid temporality and type combination for metric {name:?}")
}

/// The times (ms) of a metric's points, for the `target_info` range. Includes metrics that are then
/// rejected, as Prometheus computes the range before checking them.
fn point_times(m: &pb::Metric) -> Vec<i64> {
    let ns: Vec<u64> = match &m.data {
        Some(metric::Data::Gauge(g)) => g.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(metric::Data::Sum(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(metric::Data::Histogram(h)) => h.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(metric::Data::Summary(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
        None => Vec::new(),
    };
    ns.into_iter().map(ns_to_ms).collect()
}

/// Nanoseconds (unsigned on the wire) to milliseconds; Go converts the uint64 to int64 first, so values
/// past `i64::MAX` ns wrap to negative there; here they saturate (no real clock gets there).
fn ns_to_ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

/// The point's labels before the name: sanitised attributes, then job and instance from the resource.
fn base_labels(r: &Resource<'_>, attributes: &[pb::KeyValue]) -> Vec<Label> {
    // Sort by the original key (stable) so values of keys that collide after sanitising are joined in a
    // deterministic order, as Prometheus does.
    let mut attrs: Vec<&pb::KeyValue> = attributes.iter().collect();
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out: Vec<Label> = Vec::with_capacity(attrs.len() + 3);
    for kv in attrs {
        let name = label_name(&kv.key);
        let value = value_string(kv.value.as_ref());
        match out.iter_mut().find(|l| l.name == name) {
            Some(l) => {
                l.value.push(';');
                l.value.push_str(&value);
            }
            None => out.push(Label {
                name: name.into(),
                value: value.into(),
            }),
        }
    }
    for (name, v) in [("job", &r.job), ("instance", &r.instance)] {
        if let Some(v) = v {
            set(&mut out, name, v.clone());
        }
    }
    out
}

/// `base` plus `__name__` and the extra pairs, which override attributes of the same name.
fn with_extras(base: &[Label], name: &str, extras: &[(&str, String)]) -> Vec<Label> {
    let mut v = base.to_vec();
    set(&mut v, METRIC_NAME, name.to_owned());
    for (n, val) in extras {
        set(&mut v, n, val.clone());
    }
    v
}

fn set(v: &mut Vec<Label>, name: &str, value: String) {
    match v.iter_mut().find(|l| l.name == name) {
        Some(l) => l.value = value.into(),
        None => v.push(Label {
            name: name.into(),
            value: value.into(),
        }),
    }
}
