//! What the parser yields: [`Entry`] and the borrowed [`SampleEntry`], whose label set and exemplar are
//! resolved from the recorded spans only when asked for.

use std::borrow::Cow;

use diamond_model::{Exemplar, Label, Labels, METRIC_NAME, MetricType};

use crate::lex::{format_om_float, is_label_char, is_label_start, parse_float, quoted_len, run_len, unescape_lvalue};

/// One item of an exposition: metadata or a sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# TYPE <family> <type>` (classic `untyped` is reported as [`MetricType::Unknown`]).
    Type {
        /// Metric family name as written (a quoted name without its quotes, escapes unresolved).
        family: &'a str,
        /// The type.
        metric_type: MetricType,
    },
    /// `# HELP <family> <text>`.
    Help {
        /// Metric family name as written.
        family: &'a str,
        /// The help text with its escapes resolved (`\\`, `\n`; OpenMetrics also `\"`).
        help: Cow<'a, str>,
    },
    /// `# UNIT <family> <unit>` (OpenMetrics only).
    Unit {
        /// Metric family name as written.
        family: &'a str,
        /// The unit (may be empty).
        unit: &'a str,
    },
    /// A sample line.
    Sample(SampleEntry<'a>),
}

/// A sample line, borrowed from the input. Cheap to create; the label set is built only on request.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleEntry<'a> {
    pub(crate) series: &'a str,
    /// The metric name as written (without quotes if quoted).
    pub(crate) name: &'a str,
    pub(crate) name_quoted: bool,
    /// The text between the braces (empty without braces).
    pub(crate) labels: &'a str,
    pub(crate) value: f64,
    pub(crate) timestamp_ms: Option<i64>,
    /// The timestamp as the text wrote it, as a float (OpenMetrics seconds, classic text ms); the validator compares
    /// these rather than the truncated milliseconds.
    pub(crate) timestamp_raw: Option<f64>,
    pub(crate) exemplar: Option<RawExemplar<'a>>,
    pub(crate) has_exemplar_syntax: bool,
    /// The type of the last `# TYPE` line before this sample (Prometheus never resets it), which decides whether
    /// `le` and `quantile` values are normalized.
    pub(crate) mtype: MetricType,
}

/// An exemplar suffix as spans and numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawExemplar<'a> {
    /// The text between the exemplar's braces.
    pub(crate) labels: &'a str,
    pub(crate) value: f64,
    pub(crate) timestamp_ms: Option<i64>,
}

impl<'a> SampleEntry<'a> {
    /// The raw text of `name{labels}` exactly as in the input (for a name inside the braces, just `{...}`; in
    /// classic text, with the line's leading blanks). Two lines with the same series text have the same label set
    /// (given the same last `# TYPE`, which decides `le`/`quantile` normalization), so this is the scrape loop's
    /// cache key.
    pub fn series(&self) -> &'a str {
        self.series
    }

    /// The parsed label set, `__name__` included, with escapes resolved and empty values dropped. As Prometheus 3
    /// does, `le` values are rewritten in OpenMetrics float form (`1` → `1.0`, `1000000` → `1e+06`) while the last
    /// `# TYPE` seen was `histogram`, and `quantile` values while it was `summary`. Allocates on each call.
    pub fn labels(&self) -> Labels {
        let mut v = Vec::with_capacity(8);
        let mut name = Cow::Borrowed(self.name);
        if self.name_quoted {
            name = unescape_lvalue(self.name);
        }
        v.push(Label {
            name: METRIC_NAME.into(),
            value: name.into(),
        });
        for item in LabelIter::new(self.labels) {
            let RawItem::Pair { name, value } = item else { continue };
            let name = unescape_lvalue(name);
            let value = unescape_lvalue(value);
            let value = normalize_float_label(self.mtype, &name, value);
            v.push(Label {
                name: name.into(),
                value: value.into(),
            });
        }
        into_labels(v)
    }

    /// The metric name (escapes resolved for a quoted name).
    pub fn metric_name(&self) -> Cow<'a, str> {
        if self.name_quoted {
            unescape_lvalue(self.name)
        } else {
            Cow::Borrowed(self.name)
        }
    }

    /// The sample value. A `NaN` has Prometheus's bit pattern (`0x7ff8000000000001`), never the staleness marker.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The sample's own timestamp in ms, if it has one. Classic text gives integer ms; OpenMetrics gives float
    /// seconds, converted as Prometheus does (`int64(ts*1000)`, truncating).
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }

    /// The exemplar of this line, if any: its labels, value, and its timestamp in ms when it has one
    /// (`has_ts == true`); without one, `ts` is 0 and `has_ts` false, and the caller puts the scrape time in `ts`.
    /// As in Prometheus 3.5, escapes in exemplar label values are kept as written (`\"` stays two characters),
    /// and label sets over 128 characters are returned: the storage drops those, not the parser.
    pub fn exemplar(&self) -> Option<Exemplar> {
        let e = self.exemplar.as_ref()?;
        let mut v = Vec::new();
        for item in LabelIter::new(e.labels) {
            // Prometheus 3.5 does not resolve escapes in exemplar labels (it stores `\"` as two characters); we
            // store what it stores.
            if let RawItem::Pair { name, value } = item {
                v.push(Label {
                    name: name.into(),
                    value: value.into(),
                });
            }
        }
        Some(Exemplar {
            labels: into_labels(v),
            value: e.value,
            ts: e.timestamp_ms.unwrap_or(0),
            has_ts: e.timestamp_ms.is_some(),
        })
    }

    /// Whether the line had an exemplar suffix. Always false for classic text, where an exemplar is an error.
    pub fn has_exemplar_syntax(&self) -> bool {
        self.has_exemplar_syntax
    }

    /// Label pairs in input order, escapes resolved, empty values kept, no normalization (for the validator).
    pub(crate) fn raw_pairs(&self) -> Vec<(String, String)> {
        LabelIter::new(self.labels)
            .filter_map(|item| match item {
                RawItem::Pair { name, value } => {
                    Some((unescape_lvalue(name).into_owned(), unescape_lvalue(value).into_owned()))
                }
                RawItem::Name => None,
            })
            .collect()
    }

    pub(crate) fn timestamp_raw(&self) -> Option<f64> {
        self.timestamp_raw
    }
}

/// Sorts parsed pairs into a label set. The parser has rejected repeated names, so sorting (and, defensively,
/// keeping the last of any repeated name) is all that is left; `Labels::from_unsorted` would do the same in
/// quadratic time and copy every string again.
fn into_labels(mut v: Vec<Label>) -> Labels {
    v.retain(|l| !l.value.is_empty());
    v.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: Vec<Label> = Vec::with_capacity(v.len());
    for l in v {
        match out.last_mut() {
            Some(last) if last.name == l.name => *last = l,
            _ => out.push(l),
        }
    }
    Labels::from_sorted(out)
}

/// Prometheus 3's `normalizeFloatsInLabelValues`.
fn normalize_float_label<'v>(mtype: MetricType, name: &str, value: Cow<'v, str>) -> Cow<'v, str> {
    let applies =
        (mtype == MetricType::Histogram && name == "le") || (mtype == MetricType::Summary && name == "quantile");
    if !applies {
        return value;
    }
    match parse_float(&value) {
        Some(f) => Cow::Owned(format_om_float(f)),
        None => value,
    }
}

/// One item inside braces that the parser has already validated.
pub(crate) enum RawItem<'a> {
    /// A quoted metric name (the parser keeps its span separately).
    Name,
    /// A label: name (without quotes if it was quoted) and value (without quotes), escapes unresolved.
    Pair { name: &'a str, value: &'a str },
}

/// Walks the text between `{` and `}` of a line the parser accepted. On text it did not accept it simply stops
/// early; it never panics.
pub(crate) struct LabelIter<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> LabelIter<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        LabelIter { s, i: 0 }
    }

    fn skip_separators(&mut self) {
        let b = self.s.as_bytes();
        self.i += run_len(&b[self.i.min(b.len())..], |c| matches!(c, b' ' | b'\t' | b','));
    }

    fn skip_ws(&mut self) {
        let b = self.s.as_bytes();
        self.i += run_len(&b[self.i.min(b.len())..], |c| matches!(c, b' ' | b'\t'));
    }

    /// A quoted string at `i`: returns its content and moves past it.
    fn quoted(&mut self) -> Option<&'a str> {
        let rest = self.s.get(self.i..)?;
        let len = quoted_len(rest.as_bytes())?;
        self.i += len;
        rest.get(1..len - 1)
    }
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = RawItem<'a>;

    fn next(&mut self) -> Option<RawItem<'a>> {
        self.skip_separators();
        let b = self.s.as_bytes();
        let first = *b.get(self.i)?;
        let name = if first == b'"' {
            let n = self.quoted()?;
            self.skip_ws();
            if b.get(self.i) != Some(&b'=') {
                return Some(RawItem::Name);
            }
            n
        } else if is_label_start(first) {
            let start = self.i;
            self.i += run_len(&b[self.i..], is_label_char);
            let n = self.s.get(start..self.i)?;
            self.skip_ws();
            n
        } else {
            return None;
        };
        if b.get(self.i) != Some(&b'=') {
            return None;
        }
        self.i += 1;
        self.skip_ws();
        let value = self.quoted()?;
        Some(RawItem::Pair { name, value })
    }
}
