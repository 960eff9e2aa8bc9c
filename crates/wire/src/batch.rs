//! The model-level view of a remote write request, and the label validation shared by 1.0 and 2.0.

use diamond_model::{Exemplar, Label, Labels, METRIC_NAME, Metadata, MetricType, Sample};

use crate::Error;

/// A decoded, validated remote write request (1.0 or 2.0), in model types.
///
/// # Partial requests
/// Prometheus's receiver judges each series on its own, and so does this crate: a series whose labels are
/// invalid (see [`Rejection`]) is left out of [`WriteBatch::series`] and recorded in
/// [`WriteBatch::rejected`], and the rest of the request is kept. What the HTTP answer should be differs by
/// version, as observed on Prometheus 3.5.3:
/// - **1.0**: the invalid series are skipped silently (Prometheus only counts their samples in
///   `prometheus_api_remote_write_invalid_labels_samples_total`) and the request answers **204**.
/// - **2.0**: the valid series are written and committed, then the request answers **400** with the
///   rejection reasons joined (Prometheus joins them with `", "`).
///
/// Only structural problems (size limits, snappy, protobuf) fail the whole request with an [`Error`].
/// [`WriteBatch::check_strict`] turns any rejection into an error for callers that want all-or-nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteBatch {
    /// The valid series in request order. The same label set may appear more than once (2.0 allows it, 1.0
    /// senders do it across shards); the receiver appends them in order.
    pub series: Vec<TimeSeries>,
    /// Metric family metadata `(family name, metadata)` of a 1.0 request. Always empty for 2.0, which
    /// carries metadata per series ([`TimeSeries::metadata`]).
    pub metadata: Vec<(String, Metadata)>,
    /// Series (or, in 2.0, exemplars) left out because they are invalid, in request order. Never produced
    /// by the encoders; ignored by them.
    pub rejected: Vec<Rejection>,
}

/// A part of a request that was left out of a [`WriteBatch`], and why.
///
/// Reasons, with Prometheus's wording where Prometheus has one:
/// - `invalid metric name or labels, got {…}`: no `__name__`, an empty `__name__`, or an empty label name;
/// - `invalid labels for series, labels {…}, duplicated label <name>`: a label name given twice;
/// - `parsing labels for series [refs]: …` (2.0): an odd number of label references, or a reference past
///   the symbol table (Prometheus 3.5 panics on the latter; later versions reject the series like this);
/// - `parsing metadata for series [refs]: …` (2.0): a help or unit reference past the table (the series is
///   left out, as later Prometheus versions do);
/// - `parsing exemplar for series {…}: …` (2.0): an exemplar's references are invalid; only that exemplar
///   is left out, the series and its samples are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Position of the series in the request's `timeseries` list.
    pub series_index: usize,
    /// Human-readable reason (see above); suitable for a 400 response body. At most 1 KiB (longer reasons
    /// are cut and end with `…`).
    pub reason: String,
    /// Float samples not written because of this rejection (0 when only an exemplar was left out).
    pub samples: usize,
    /// Native histogram samples not written because of this rejection.
    pub histograms: usize,
    /// Exemplars not written because of this rejection.
    pub exemplars: usize,
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

    /// Total native histogram samples of kept series that were decoded but not kept.
    pub fn histograms_dropped(&self) -> usize {
        self.series.iter().map(|s| s.histograms_dropped).sum()
    }

    /// Float samples and native histograms of rejected series: what Prometheus counts in
    /// `prometheus_api_remote_write_invalid_labels_samples_total`.
    pub fn rejected_samples(&self) -> usize {
        self.rejected.iter().map(|r| r.samples + r.histograms).sum()
    }

    /// All-or-nothing view: `Err(Error::InvalidLabels)` naming the first rejection, if any.
    pub fn check_strict(&self) -> Result<(), Error> {
        match self.rejected.first() {
            Some(r) => Err(Error::InvalidLabels(r.reason.clone())),
            None => Ok(()),
        }
    }

    /// The rejection reasons joined with `", "`, as Prometheus's 2.0 receiver writes its 400 body; `None`
    /// when nothing was rejected.
    pub fn rejection_message(&self) -> Option<String> {
        if self.rejected.is_empty() {
            return None;
        }
        Some(
            self.rejected
                .iter()
                .map(|r| r.reason.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

/// One series of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeSeries {
    /// The series labels: sorted, unique, with a non-empty `__name__`, empty values dropped.
    pub labels: Labels,
    /// Float samples in request order (senders send them oldest first).
    pub samples: Vec<Sample>,
    /// Exemplars in request order. A wire timestamp of 0 means "none": such an exemplar has `ts == 0` and
    /// `has_ts == false`, exactly as Prometheus's receiver builds it; Prometheus 3.5.3 then stores it at
    /// timestamp 0 (observed: `query_exemplars` returns it with `"timestamp": 0`), it does not substitute
    /// the sample's time.
    pub exemplars: Vec<Exemplar>,
    /// Native histogram samples in the request for this series, which Diamond does not ingest yet.
    pub histograms_dropped: usize,
    /// The series' metadata (2.0 only); `None` when the request carried none (type unspecified, no help,
    /// no unit).
    pub metadata: Option<Metadata>,
}

/// Builds and validates a series label set as Prometheus's remote write receiver does (UTF-8 names allowed,
/// the Prometheus 3 default): the pairs are sorted by name; a missing or empty `__name__`, an empty name, or
/// a repeated name is invalid, and the reason is returned in Prometheus's words. Pairs with an empty value
/// are then dropped, as the TSDB head does before creating a series (observed on 3.5.3: `{foo=""}` is not
/// stored).
pub(crate) fn series_labels(mut pairs: Vec<Label>) -> Result<Labels, String> {
    if !pairs.is_sorted_by(|a, b| a.name <= b.name) {
        pairs.sort_by(|a, b| a.name.cmp(&b.name));
    }
    // Prometheus checks the name and label validity before duplicates.
    let has_name = pairs.iter().any(|l| l.name == METRIC_NAME && !l.value.is_empty());
    if !has_name || pairs.iter().any(|l| l.name.is_empty()) {
        return Err(format!("invalid metric name or labels, got {}", display_pairs(&pairs)));
    }
    let dup = pairs.windows(2).find(|w| w[0].name == w[1].name);
    if let Some(w) = dup {
        return Err(format!(
            "invalid labels for series, labels {}, duplicated label {}",
            display_pairs(&pairs),
            w[0].name
        ));
    }
    pairs.retain(|l| !l.value.is_empty());
    Ok(Labels::from_sorted(pairs))
}

/// Longest rejection reason kept: reasons quote label sets and reference lists, which a hostile request can
/// make megabytes long.
pub(crate) const MAX_REASON_BYTES: usize = 1024;

/// `reason`, cut to [`MAX_REASON_BYTES`] (on a character boundary, with `…` appended when cut).
pub(crate) fn bounded(mut reason: String) -> String {
    if reason.len() > MAX_REASON_BYTES {
        let mut cut = MAX_REASON_BYTES;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    reason
}

/// A label (name, value) as raw bytes, possibly not UTF-8.
pub(crate) type BytePair = (Vec<u8>, Vec<u8>);

/// [`series_labels`] for label pairs whose bytes may not be UTF-8: a label set with an invalid name or value
/// is invalid, as Prometheus's `Labels.IsValid` says (the message shows it with U+FFFD replacements).
pub(crate) fn series_labels_from_bytes(pairs: impl ExactSizeIterator<Item = BytePair>) -> Result<Labels, String> {
    let mut out = Vec::with_capacity(pairs.len());
    let mut bad = false;
    for (n, v) in pairs {
        match (crate::lenient::into_string(n), crate::lenient::into_string(v)) {
            (Ok(name), Ok(value)) => out.push(Label {
                name: name.into(),
                value: value.into(),
            }),
            (n, v) => {
                bad = true;
                let name = n.unwrap_or_else(crate::lenient::lossy);
                let value = v.unwrap_or_else(crate::lenient::lossy);
                out.push(Label {
                    name: name.into(),
                    value: value.into(),
                });
            }
        }
    }
    if bad {
        out.sort_by(|a, b| a.name.cmp(&b.name));
        return Err(format!("invalid metric name or labels, got {}", display_pairs(&out)));
    }
    series_labels(out)
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
        type Case<'a> = (&'a [(&'a str, &'a str)], Result<&'a str, &'a str>);
        let cases: &[Case] = &[
            (&[("__name__", "up")], Ok(r#"{__name__="up"}"#)),
            (&[("job", "a"), ("__name__", "up")], Ok(r#"{__name__="up", job="a"}"#)),
            (&[("__name__", "up"), ("empty", "")], Ok(r#"{__name__="up"}"#)),
            (
                &[("__name__", "up"), ("héllo.wörld", "ü")],
                Ok(r#"{__name__="up", héllo.wörld="ü"}"#),
            ),
            (&[("job", "a")], Err(r#"invalid metric name or labels, got {job="a"}"#)),
            (&[], Err("invalid metric name or labels, got {}")),
            (
                &[("__name__", ""), ("job", "a")],
                Err(r#"invalid metric name or labels, got {__name__="", job="a"}"#),
            ),
            (
                &[("__name__", "up"), ("", "x")],
                Err(r#"invalid metric name or labels, got {="x", __name__="up"}"#),
            ),
            (
                &[("__name__", "up"), ("a", "1"), ("a", "2")],
                Err(r#"invalid labels for series, labels {__name__="up", a="1", a="2"}, duplicated label a"#),
            ),
            (
                &[("a", "1"), ("__name__", "up"), ("a", "1")],
                Err(r#"invalid labels for series, labels {__name__="up", a="1", a="1"}, duplicated label a"#),
            ),
            (
                &[("__name__", "up"), ("__name__", "up")],
                Err(r#"invalid labels for series, labels {__name__="up", __name__="up"}, duplicated label __name__"#),
            ),
        ];
        for (input, want) in cases {
            match (series_labels(pairs(input)), want) {
                (Ok(l), Ok(w)) => assert_eq!(l.to_string(), *w, "input {input:?}"),
                (Err(e), Err(w)) => assert_eq!(e, *w, "input {input:?}"),
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
