//! Parsing of the Prometheus text exposition formats, exemplars included.
//!
//! This crate owns reading what scrape targets serve:
//! - [`Parser`], a hand-written pull parser for Prometheus text format 0.0.4 (and text 1.0.0, the same syntax with
//!   quoted UTF-8 names) and OpenMetrics 1.0 text. It accepts what Prometheus 3.5's scraper (`model/textparse`)
//!   accepts, with the same values, timestamps and label sets, and stops at the first error. [`Parser::next`]
//!   yields [`Entry`] items that borrow from the input: metadata (`# TYPE`, `# HELP`, `# UNIT`) and
//!   [`SampleEntry`] lines. A sample keeps spans only; its [`diamond_model::Labels`] and
//!   [`diamond_model::Exemplar`] are built when asked for, so the scrape loop can look a series up by
//!   [`SampleEntry::series`] (the raw `name{labels}` text) without allocating.
//! - [`Format`], picked from the response's `Content-Type` with [`Format::from_content_type`].
//! - [`validate_openmetrics`], a strict OpenMetrics 1.0 checker for `diamond check metrics`: on top of the
//!   syntax it enforces the specification's semantic rules (metadata placement, grouping, type-specific suffixes
//!   and labels, counter and histogram value rules, exemplar placement and size, `# EOF`).
//! - [`count_samples`], the number of sample lines of a body.
//!
//! Behaviour worth knowing (all as Prometheus does it):
//! - Classic text has no exemplar syntax: a `# {...}` suffix fails the parse with
//!   [`ErrorKind::ExemplarInClassicText`], so the caller can tell the user to enable OpenMetrics on the target.
//! - OpenMetrics exemplars are accepted on any sample line, not only `_total` and `_bucket` (Prometheus ≥ 2.43);
//!   an exemplar's timestamp is float seconds, stored as `int64(ts*1000)` ms.
//! - `le` (after a `histogram` TYPE) and `quantile` (after a `summary` TYPE) label values are normalized to the
//!   OpenMetrics float spelling in [`SampleEntry::labels`] (`le="1"` → `le="1.0"`).
//! - `_created` lines are ordinary samples.
//! - Exemplar label values keep their escapes (Prometheus 3.5 does not resolve them), and exemplars whose label
//!   set exceeds 128 characters are returned; dropping them is the storage's job.
//! - In classic text, leading blanks on a sample line become part of an unquoted metric name, `# HELP name` with
//!   no text is an empty help, and commas between labels may be left out.
//!
//! `tests/reference_prometheus.rs` checks all of this against the reference Prometheus 3.5 server (scrape
//! outcome, stored series, exemplars and metadata); `tests/openmetrics_suite.rs` runs the OpenMetrics parser
//! conformance suite through the validator.
//!
//! ```
//! use diamond_exposition::{Entry, Format, Parser};
//! use diamond_model::MetricType;
//!
//! let body = concat!(
//!     "# TYPE http_requests counter\n",
//!     "http_requests_total{code=\"200\"} 1027 # {trace_id=\"4bf92f\"} 1 1700000000.5\n",
//!     "# EOF\n",
//! );
//! let mut p = Parser::new(body.as_bytes(), Format::OpenMetrics);
//! let Some(Ok(Entry::Type { family, metric_type })) = p.next() else { panic!("expected TYPE") };
//! assert_eq!((family, metric_type), ("http_requests", MetricType::Counter));
//! let Some(Ok(Entry::Sample(s))) = p.next() else { panic!("expected a sample") };
//! assert_eq!(s.series(), r#"http_requests_total{code="200"}"#);
//! assert_eq!(s.labels().to_string(), r#"{__name__="http_requests_total", code="200"}"#);
//! assert_eq!(s.value(), 1027.0);
//! let e = s.exemplar().expect("the line has an exemplar");
//! assert_eq!(e.labels.get("trace_id"), Some("4bf92f"));
//! assert_eq!((e.ts, e.has_ts), (1_700_000_000_500, true));
//! assert!(p.next().is_none());
//! ```

mod entry;
mod error;
mod format;
mod lex;
mod parser;
mod validate;

pub use entry::{Entry, SampleEntry};
pub use error::{ErrorKind, ParseError};
pub use format::Format;
pub use parser::Parser;
pub use validate::validate_openmetrics;

/// The number of sample lines in `input`, or the first parse error.
///
/// ```
/// use diamond_exposition::{Format, count_samples};
/// assert_eq!(count_samples(b"# HELP a x\na 1\nb{c=\"d\"} 2 1000\n", Format::PromText), Ok(2));
/// ```
pub fn count_samples(input: &[u8], format: Format) -> Result<usize, ParseError> {
    let mut p = Parser::new(input, format);
    let mut n = 0;
    while let Some(entry) = p.next() {
        if let Entry::Sample(_) = entry? {
            n += 1;
        }
    }
    Ok(n)
}
