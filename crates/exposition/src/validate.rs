//! The strict OpenMetrics 1.0 validator behind `diamond check metrics`.
//!
//! The syntax is checked by the parser in its strict mode (no quoted UTF-8 names, no trailing commas, exemplar
//! label sets of at most 128 characters). On top of the entries it yields, this module enforces the semantic rules
//! of the specification, the way the OpenMetrics project's reference parser does:
//! - metadata (`TYPE`, `HELP`, `UNIT`) at most once per family and only before the family's samples; a family's
//!   lines are contiguous, and no two families claim the same sample name (`a_created` gauge vs `a` counter);
//! - sample names must carry the suffixes of the family's type (`_total`/`_created` for counters, `_bucket`/
//!   `_count`/`_sum`/`_created` for histograms, `_gcount`/`_gsum`/`_bucket` for gauge histograms, `_info`, ...);
//! - type-specific labels: `le` on buckets (a float, `+Inf` spelled canonically), `quantile` in [0, 1] on summary
//!   quantiles, the family-named label on stateset samples;
//! - values: counter-like samples not NaN and not negative, counts and buckets integral, stateset 0 or 1, info 1,
//!   histogram buckets increasing in `le` and non-decreasing in value, ending in `+Inf`, `_count` equal to the
//!   `+Inf` bucket, `_sum`/`_count` present together, no `_sum` with negative buckets;
//! - samples of one group (label set minus `le`/`quantile`/stateset label) all with or all without timestamps,
//!   timestamps not going backwards (except for info);
//! - exemplars only on counter `_total` and (gauge) histogram `_bucket` samples;
//! - `# EOF` last, nothing after it, no blank lines.

use std::collections::HashSet;

use diamond_model::MetricType;

use crate::entry::{Entry, SampleEntry};
use crate::error::{ErrorKind, ParseError};
use crate::lex::parse_float;
use crate::parser::{Parser, Syntax};

/// Checks that `input` is a valid OpenMetrics 1.0 text exposition, strictly; returns the first violation.
///
/// ```
/// use diamond_exposition::validate_openmetrics;
/// assert!(validate_openmetrics(b"# TYPE a counter\na_total 1 # {trace_id=\"x\"} 1\n# EOF\n").is_ok());
/// // Exemplars are only allowed on counter totals and histogram buckets.
/// let err = validate_openmetrics(b"# TYPE a gauge\na 1 # {trace_id=\"x\"} 1\n# EOF\n").unwrap_err();
/// assert_eq!(err.line, 2);
/// ```
pub fn validate_openmetrics(input: &[u8]) -> Result<(), ParseError> {
    let mut p = Parser::with_syntax(input, Syntax::Strict);
    let mut v = Validator::default();
    while let Some(entry) = p.next() {
        let entry = entry?;
        let line = p.entry_line();
        v.line = line;
        v.entry(entry)
            .map_err(|msg| ParseError::new(line, 1, ErrorKind::Invalid(msg)))?;
    }
    v.finish_family()
        .map_err(|msg| ParseError::new(v.line, 1, ErrorKind::Invalid(msg)))
}

/// A label set as a sorted list of pairs: the identity of a group of samples.
type Group = Vec<(String, String)>;

#[derive(Default)]
struct Validator {
    line: usize,
    family: Option<Family>,
    /// Every sample name claimed by a finished family.
    seen_names: HashSet<String>,
}

struct Family {
    name: String,
    typ: Option<MetricType>,
    has_help: bool,
    unit: Option<String>,
    allowed: Vec<String>,
    has_samples: bool,
    group: Option<Group>,
    group_ts: Option<f64>,
    seen_groups: HashSet<Group>,
    /// For histograms and gauge histograms: what the bucket checks need of each sample.
    hist: Vec<HistSample>,
}

struct HistSample {
    suffix: &'static str,
    group: Group,
    ts: Option<f64>,
    le: f64,
    value: f64,
}

impl Family {
    fn new(name: &str) -> Self {
        Family {
            name: name.to_owned(),
            typ: None,
            has_help: false,
            unit: None,
            allowed: vec![name.to_owned()],
            has_samples: false,
            group: None,
            group_ts: None,
            seen_groups: HashSet::new(),
            hist: Vec::new(),
        }
    }

    fn typ(&self) -> MetricType {
        self.typ.unwrap_or(MetricType::Unknown)
    }
}

/// The sample-name suffixes a type owns (the bare family name is not among them unless listed).
fn type_suffixes(t: MetricType) -> &'static [&'static str] {
    match t {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Histogram => &["_count", "_sum", "_bucket", "_created"],
        MetricType::GaugeHistogram => &["_gcount", "_gsum", "_bucket"],
        MetricType::Info => &["_info"],
        _ => &[""],
    }
}

const SUFFIXES: [&str; 8] = [
    "_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info",
];

fn is_integral(v: f64) -> bool {
    v.is_finite() && v.fract() == 0.0
}

type Check = Result<(), String>;

impl Validator {
    fn entry(&mut self, entry: Entry<'_>) -> Check {
        match entry {
            Entry::Type { family, metric_type } => {
                let f = self.metadata_family(family)?;
                if f.typ.is_some() {
                    return Err(format!("more than one TYPE for metric family {family:?}"));
                }
                f.typ = Some(metric_type);
                f.allowed = type_suffixes(metric_type)
                    .iter()
                    .map(|s| format!("{family}{s}"))
                    .collect();
                Ok(())
            }
            Entry::Help { family, .. } => {
                let f = self.metadata_family(family)?;
                if f.has_help {
                    return Err(format!("more than one HELP for metric family {family:?}"));
                }
                f.has_help = true;
                Ok(())
            }
            Entry::Unit { family, unit } => {
                let f = self.metadata_family(family)?;
                if f.unit.is_some() {
                    return Err(format!("more than one UNIT for metric family {family:?}"));
                }
                f.unit = Some(unit.to_owned());
                Ok(())
            }
            Entry::Sample(s) => self.sample(&s),
        }
    }

    /// The family a metadata line belongs to, starting a new one when the name changes.
    fn metadata_family(&mut self, name: &str) -> Result<&mut Family, String> {
        let same = self.family.as_ref().is_some_and(|f| f.name == name);
        if same {
            if self.family.as_ref().is_some_and(|f| f.has_samples) {
                return Err(format!("metadata for {name:?} after its samples"));
            }
        } else {
            self.finish_family()?;
            self.family = Some(Family::new(name));
        }
        self.family.as_mut().ok_or_else(|| "internal: no family".to_owned())
    }

    fn sample(&mut self, s: &SampleEntry<'_>) -> Check {
        let n = s.metric_name();
        let n = n.as_ref();
        if !self.family.as_ref().is_some_and(|f| f.allowed.iter().any(|a| a == n)) {
            // A sample outside the current family starts a family of unknown type.
            self.finish_family()?;
            let mut f = Family::new(n);
            f.typ = Some(MetricType::Unknown);
            self.family = Some(f);
        }
        let Some(f) = self.family.as_mut() else {
            return Err("internal: no family".to_owned());
        };
        f.has_samples = true;
        let typ = f.typ();
        let name = f.name.as_str();
        let suffix = n.strip_prefix(name).unwrap_or("");
        let labels = s.raw_pairs();
        let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let value = s.value();
        let is_hist = matches!(typ, MetricType::Histogram | MetricType::GaugeHistogram);

        if typ == MetricType::StateSet && get(name).is_none() {
            return Err(format!("stateset sample without the {name:?} label"));
        }
        let mut le = f64::NAN;
        if suffix == "_bucket" && is_hist {
            let raw = get("le").ok_or("bucket without an le label")?;
            le = parse_float(raw)
                .filter(|v| !v.is_nan())
                .ok_or_else(|| format!("invalid le label {raw:?}"))?;
            if le.is_infinite() && raw != "+Inf" && raw != "-Inf" {
                return Err(format!("le label {raw:?} is not spelled +Inf"));
            }
            if !is_integral(value) {
                return Err("bucket value must be an integer".to_owned());
            }
        }
        if matches!(suffix, "_count" | "_gcount") && !is_integral(value) {
            return Err("count value must be an integer".to_owned());
        }
        if typ == MetricType::Summary && suffix.is_empty() {
            let raw = get("quantile").ok_or("summary quantile without a quantile label")?;
            let q = parse_float(raw).ok_or_else(|| format!("invalid quantile label {raw:?}"))?;
            if !(0.0..=1.0).contains(&q) {
                return Err(format!("quantile {raw:?} is not between 0 and 1"));
            }
            if value < 0.0 {
                return Err("quantile values cannot be negative".to_owned());
            }
        }

        // Grouping: the label set without the labels that tell the samples of one metric apart.
        let drop = match typ {
            MetricType::Summary if suffix.is_empty() => Some("quantile"),
            MetricType::StateSet => Some(name),
            _ if is_hist && suffix == "_bucket" => Some("le"),
            _ => None,
        };
        let mut group: Group = if typ == MetricType::Info {
            Vec::new()
        } else {
            labels
                .iter()
                .filter(|(k, _)| Some(k.as_str()) != drop)
                .cloned()
                .collect()
        };
        group.sort();
        let ts = s.timestamp_raw();
        if f.group.as_ref().is_some_and(|g| *g != group) && f.seen_groups.contains(&group) {
            return Err("samples of one metric are not grouped together".to_owned());
        }
        if f.group.as_ref() == Some(&group) {
            if ts.is_some() != f.group_ts.is_some() {
                return Err("mix of samples with and without timestamps in one metric".to_owned());
            }
            if let (Some(prev), Some(t)) = (f.group_ts, ts)
                && prev > t
                && typ != MetricType::Info
            {
                return Err("timestamps went backwards within a metric".to_owned());
            }
        }
        f.group = Some(group.clone());
        f.group_ts = ts;
        f.seen_groups.insert(group.clone());

        if typ == MetricType::StateSet && value != 0.0 && value != 1.0 {
            return Err("stateset values must be 0 or 1".to_owned());
        }
        if typ == MetricType::Info && value != 1.0 {
            return Err("info values must be 1".to_owned());
        }
        let counter_like = matches!(suffix, "_total" | "_sum" | "_count" | "_bucket" | "_gcount" | "_gsum");
        if counter_like && value.is_nan() {
            return Err(format!("{suffix} samples cannot be NaN"));
        }
        if counter_like && suffix != "_gsum" && value < 0.0 {
            return Err(format!("{suffix} samples cannot be negative"));
        }
        if s.has_exemplar_syntax() {
            let ok = (is_hist && n.ends_with("_bucket")) || (typ == MetricType::Counter && n.ends_with("_total"));
            if !ok {
                return Err("exemplars are only allowed on counter _total and histogram _bucket samples".to_owned());
            }
        }
        if is_hist && let Some(&sfx) = SUFFIXES.iter().find(|&&x| x == suffix) {
            f.hist.push(HistSample {
                suffix: sfx,
                group,
                ts,
                le,
                value,
            });
        }
        Ok(())
    }

    /// Family-level checks when a family ends: name clashes, unit rules, histogram consistency.
    fn finish_family(&mut self) -> Check {
        let Some(f) = self.family.take() else { return Ok(()) };
        let typ = f.typ();
        let mut claimed: Vec<&str> = type_suffixes(typ).to_vec();
        if !claimed.contains(&"") {
            claimed.push("");
        }
        for sfx in claimed {
            let full = format!("{}{sfx}", f.name);
            if !self.seen_names.insert(full.clone()) {
                return Err(format!("metric family name {full:?} clashes with an earlier family"));
            }
        }
        if let Some(unit) = f.unit.as_deref().filter(|u| !u.is_empty()) {
            if !f.name.ends_with(&format!("_{unit}")) {
                return Err(format!("unit {unit:?} is not a suffix of {:?}", f.name));
            }
            if matches!(typ, MetricType::Info | MetricType::StateSet) {
                return Err(format!("{typ} metrics cannot have a unit"));
            }
        }
        if matches!(typ, MetricType::Histogram | MetricType::GaugeHistogram) {
            check_histogram(&f)?;
        }
        Ok(())
    }
}

/// Bucket state of one histogram metric (one group at one timestamp).
#[derive(Default)]
struct Buckets {
    last_le: Option<f64>,
    last_value: f64,
    count: Option<f64>,
    negative_bucket: bool,
    sum: bool,
    gsum: bool,
    negative_gsum: bool,
}

impl Buckets {
    fn check(&self, name: &str) -> Check {
        if self.last_le != Some(f64::INFINITY) {
            return Err(format!("histogram {name:?} has no +Inf bucket"));
        }
        if self.count.is_some_and(|c| c != self.last_value) {
            return Err(format!("histogram {name:?} count does not match its +Inf bucket"));
        }
        if self.sum && self.count.is_none() {
            return Err(format!("histogram {name:?} has _sum but no _count"));
        }
        if self.gsum && self.count.is_none() {
            return Err(format!("gauge histogram {name:?} has _gsum but no _gcount"));
        }
        if !(self.sum || self.gsum) && self.count.is_some() {
            return Err(format!("histogram {name:?} has a count but no sum"));
        }
        if self.negative_bucket && self.sum {
            return Err(format!("histogram {name:?} has _sum with negative buckets"));
        }
        if !self.negative_bucket && self.negative_gsum {
            return Err(format!(
                "gauge histogram {name:?} has a negative _gsum without negative buckets"
            ));
        }
        Ok(())
    }
}

fn check_histogram(f: &Family) -> Check {
    let mut current: Option<(&Group, Option<f64>)> = None;
    let mut b = Buckets::default();
    for s in &f.hist {
        if current != Some((&s.group, s.ts)) {
            if current.is_some() {
                b.check(&f.name)?;
            }
            b = Buckets::default();
            current = Some((&s.group, s.ts));
        }
        match s.suffix {
            "_bucket" => {
                if s.le < 0.0 {
                    b.negative_bucket = true;
                }
                if b.last_le.is_some_and(|prev| s.le <= prev) {
                    return Err(format!("histogram {:?} buckets are not in increasing le order", f.name));
                }
                if s.value < b.last_value {
                    return Err(format!("histogram {:?} bucket values decrease", f.name));
                }
                b.last_le = Some(s.le);
                b.last_value = s.value;
            }
            "_count" | "_gcount" => b.count = Some(s.value),
            "_sum" => b.sum = true,
            "_gsum" => {
                b.gsum = true;
                if s.value < 0.0 {
                    b.negative_gsum = true;
                }
            }
            _ => {}
        }
    }
    if current.is_some() {
        b.check(&f.name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rules the OpenMetrics suite does not exercise on its own, one body each: (case, body, valid?).
    #[test]
    fn rules_beyond_the_suite() {
        let cases: &[(&str, &str, bool)] = &[
            (
                "counter with _created",
                "# TYPE a counter\na_total 1\na_created 1\n# EOF\n",
                true,
            ),
            (
                "info timestamps may go backwards",
                "# TYPE a info\na_info 1 2\na_info 1 1\n# EOF\n",
                true,
            ),
            (
                "stateset 1.0",
                "# TYPE a stateset\na{a=\"x\"} 1.0\na{a=\"y\"} 0\n# EOF\n",
                true,
            ),
            (
                "summary count must be integral",
                "# TYPE a summary\na_count 1.5\na_sum 1\n# EOF\n",
                false,
            ),
            (
                "exemplar of exactly 128 characters",
                &format!("# TYPE a counter\na_total 1 # {{t=\"{}\"}} 1\n# EOF\n", "x".repeat(127)),
                true,
            ),
            (
                "exemplar of 129 characters",
                &format!("# TYPE a counter\na_total 1 # {{t=\"{}\"}} 1\n# EOF\n", "x".repeat(128)),
                false,
            ),
            (
                "escapes count as one character",
                &format!(
                    "# TYPE a counter\na_total 1 # {{t=\"{}\\n\"}} 1\n# EOF\n",
                    "x".repeat(126)
                ),
                true,
            ),
            (
                "quoted metric names are not OpenMetrics 1.0",
                "{\"a.b\"} 1\n# EOF\n",
                false,
            ),
            (
                "quoted label names are not OpenMetrics 1.0",
                "a{\"b.c\"=\"d\"} 1\n# EOF\n",
                false,
            ),
            ("trailing comma", "a{b=\"c\",} 1\n# EOF\n", false),
            ("empty label set", "a{} 1\n# EOF\n", true),
            ("family interrupted by another", "a 1\nb 1\na 2\n# EOF\n", false),
            (
                "histogram per label set",
                "# TYPE h histogram\nh_bucket{x=\"1\",le=\"+Inf\"} 1\nh_bucket{x=\"2\",le=\"+Inf\"} 2\n# EOF\n",
                true,
            ),
            (
                "histogram bucket not integral",
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1.5\n# EOF\n",
                false,
            ),
            (
                "gaugehistogram with gcount and gsum",
                "# TYPE h gaugehistogram\nh_bucket{le=\"+Inf\"} 1\nh_gcount 1\nh_gsum 1\n# EOF\n",
                true,
            ),
            ("unknown type with any name", "# TYPE a unknown\na 1\n# EOF\n", true),
            ("counter sample without _total", "# TYPE a counter\na 1\n# EOF\n", false),
            (
                "metadata of a second family in between",
                "# TYPE a gauge\n# TYPE b gauge\na 1\n# EOF\n",
                false,
            ),
            ("no newline after the EOF", "a 1\n# EOF", true),
            ("nothing but EOF", "# EOF\n", true),
        ];
        let mut failures = Vec::new();
        for (name, body, valid) in cases {
            let got = validate_openmetrics(body.as_bytes());
            if got.is_ok() != *valid {
                failures.push(format!("{name}: want valid={valid}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn errors_point_at_the_line() {
        let err = validate_openmetrics(b"# TYPE a counter\na_total 1\na_total -1\n# EOF\n").expect_err("negative");
        assert_eq!((err.line, err.column), (3, 1));
        assert!(matches!(err.kind, ErrorKind::Invalid(_)), "{err}");
        let err = validate_openmetrics(b"a 1\n").expect_err("no EOF");
        assert_eq!(err.kind, ErrorKind::MissingEof);
    }
}
