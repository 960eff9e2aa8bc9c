//! The model-level view of a remote write request, and the label validation shared by 1.0 and 2.0.

use diamond_model::{Exemplar, Label, Labels, METRIC_NAME, Metadata, MetricType, Sample};

use crate::Error;

/// A decoded, validated remote write request (1.0 or 2.0), in model types.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteBatch {
    /// The series in request order. The same label set may appear more than once (2.0 allows it, 1.0
    /// senders do it across shards); the receiver appends them in order.
    pub series: Vec<TimeSeries>,
    /// Metric family metadata `(family name, metadata)` of a 1.0 request. Always empty for 2.0, which
    /// carries metadata per series ([`TimeSeries::metadata`]).
    pub metadata: Vec<(String, Metadata)>,
}

impl WriteBatch {
    /// Total float samples in the batch.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// Total exemplars in the batch.
    pub fn exemplar_count(&self) -> usize {
        self.series.iter().map(|s| s.exemplars.len()).sum()
    }

    /// Total native histogram samples that were decoded but not kept.
    pub fn histograms_dropped(&self) -> usize {
        self.series.iter().map(|s| s.histograms_dropped).sum()
    }
}

/// One series of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeSeries {
    /// The series labels: sorted, unique, with `__name__`, empty values dropped.
    pub labels: Labels,
    /// Float samples in request order (senders send them oldest first).
    pub samples: Vec<Sample>,
    /// Exemplars in request order. A wire timestamp of 0 means "none": such an exemplar has `ts == 0` and
    /// `has_ts == false`, exactly as Prometheus's receiver builds it (it does not substitute the sample time).
    pub exemplars: Vec<Exemplar>,
    /// Native histogram samples in the request for this series, which Diamond does not ingest yet.
    pub histograms_dropped: usize,
    /// The series' metadata (2.0 only); `None` when the request carried none (type unspecified, no help,
    /// no unit).
    pub metadata: Option<Metadata>,
}

/// Builds and validates a series label set as Prometheus's remote write receiver does (with UTF-8 names
/// allowed, the Prometheus 3 default): the pairs are sorted by name; a repeated name, an empty name, or a
/// missing or empty `__name__` is an error. Pairs with an empty value are then dropped, as the TSDB head
/// does before creating a series.
pub(crate) fn series_labels(mut pairs: Vec<Label>) -> Result<Labels, Error> {
    if !pairs.is_sorted_by(|a, b| a.name <= b.name) {
        pairs.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let dup = pairs
        .windows(2)
        .find(|w| w[0].name == w[1].name)
        .map(|w| w[0].name.clone());
    if let Some(name) = dup {
        return Err(Error::InvalidLabels(format!(
            "duplicate label name {name:?} in {}",
            display_pairs(&pairs)
        )));
    }
    if pairs.iter().any(|l| l.name.is_empty()) {
        return Err(Error::InvalidLabels(format!(
            "empty label name in {}",
            display_pairs(&pairs)
        )));
    }
    if !pairs.iter().any(|l| l.name == METRIC_NAME && !l.value.is_empty()) {
        return Err(Error::InvalidLabels(format!(
            "missing metric name in {}",
            display_pairs(&pairs)
        )));
    }
    pairs.retain(|l| !l.value.is_empty());
    Ok(Labels::from_sorted(pairs))
}

/// Builds an exemplar's label set. Exemplar label problems never fail a Prometheus remote write request
/// (the TSDB rejects the exemplar and the receiver only logs), so this does not validate: it sorts, keeps
/// the last of a repeated name and drops empty values; the storage applies the 128-rune limit.
pub(crate) fn exemplar_labels(pairs: Vec<Label>) -> Labels {
    if pairs.is_sorted_by(|a, b| a.name < b.name) && pairs.iter().all(|l| !l.value.is_empty()) {
        return Labels::from_sorted(pairs);
    }
    Labels::from_unsorted(pairs)
}

/// Prometheus's `{a="1", b="2"}` rendering for pairs that may not form a valid [`Labels`].
fn display_pairs(pairs: &[Label]) -> String {
    let mut s = String::from("{");
    for (i, l) in pairs.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&l.name);
        s.push('=');
        s.push_str(&format!("{:?}", l.value));
    }
    s.push('}');
    s
}

/// Maps the wire metric type number (the same in 1.0 `MetricMetadata` and 2.0 `Metadata`) to the model type;
/// unknown numbers are `Unknown`.
pub(crate) fn metric_type_from_wire(t: i32) -> MetricType {
    match t {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

/// The wire number of a model metric type.
pub(crate) fn metric_type_to_wire(t: MetricType) -> i32 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<Label> {
        p.iter()
            .map(|(n, v)| Label {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect()
    }

    #[test]
    fn series_label_table() {
        // (input, Ok(rendered) or Err(message fragment))
        type Case<'a> = (&'a [(&'a str, &'a str)], Result<&'a str, &'a str>);
        let cases: &[Case] = &[
            (&[("__name__", "up")], Ok(r#"{__name__="up"}"#)),
            (&[("job", "a"), ("__name__", "up")], Ok(r#"{__name__="up", job="a"}"#)),
            (&[("__name__", "up"), ("empty", "")], Ok(r#"{__name__="up"}"#)),
            (
                &[("__name__", "up"), ("héllo.wörld", "ü")],
                Ok(r#"{__name__="up", héllo.wörld="ü"}"#),
            ),
            (&[("job", "a")], Err("missing metric name")),
            (&[], Err("missing metric name")),
            (&[("__name__", ""), ("job", "a")], Err("missing metric name")),
            (&[("__name__", "up"), ("", "x")], Err("empty label name")),
            (
                &[("__name__", "up"), ("a", "1"), ("a", "2")],
                Err("duplicate label name \"a\""),
            ),
            (
                &[("a", "1"), ("__name__", "up"), ("a", "1")],
                Err("duplicate label name \"a\""),
            ),
            (
                &[("__name__", "up"), ("__name__", "up")],
                Err("duplicate label name \"__name__\""),
            ),
        ];
        for (input, want) in cases {
            let got = series_labels(pairs(input));
            match (got, want) {
                (Ok(l), Ok(w)) => assert_eq!(l.to_string(), *w, "input {input:?}"),
                (Err(e), Err(w)) => {
                    assert!(matches!(e, Error::InvalidLabels(_)), "input {input:?}: {e:?}");
                    assert!(e.to_string().contains(w), "input {input:?}: {e} does not contain {w}");
                }
                (got, want) => panic!("input {input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn exemplar_labels_never_fail() {
        let l = exemplar_labels(pairs(&[("trace_id", "b"), ("span_id", "a"), ("x", "")]));
        assert_eq!(l.to_string(), r#"{span_id="a", trace_id="b"}"#);
        let l = exemplar_labels(pairs(&[("a", "1"), ("a", "2")]));
        assert_eq!(l.to_string(), r#"{a="2"}"#);
    }

    #[test]
    fn metric_type_numbers_round_trip() {
        for n in 0..8 {
            assert_eq!(metric_type_to_wire(metric_type_from_wire(n)), n);
        }
        assert_eq!(metric_type_from_wire(99), MetricType::Unknown);
        assert_eq!(metric_type_from_wire(-1), MetricType::Unknown);
    }
}
