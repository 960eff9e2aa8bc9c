//! The one error type of the crate: where in the input, and what went wrong.

use thiserror::Error;

/// A parse or validation failure at a position in the input.
///
/// `line` is 1-based; `column` is the 1-based *byte* offset inside that line (the input may not be valid UTF-8,
/// so characters are not counted).
#[derive(Debug, Clone, PartialEq, Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based byte column inside the line.
    pub column: usize,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong. Callers that react differently to a cause (the scrape loop explains
/// [`ErrorKind::ExemplarInClassicText`] to the user) match on this.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A token other than the one the grammar allows here.
    #[error("expected {expected}, got {found:?}")]
    Unexpected {
        /// What the grammar allows at this point.
        expected: &'static str,
        /// A short excerpt of what was found (empty at the end of a line).
        found: String,
    },
    /// A line, label value or HELP text that is not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// `# TYPE` with a word the format does not know.
    #[error("invalid metric type {0:?}")]
    InvalidMetricType(String),
    /// A sample or exemplar value that is not a float.
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    /// A sample or exemplar timestamp that is not valid for the format.
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// A sample whose braces hold no quoted metric name and that has none before them, or whose quoted name is empty.
    #[error("metric name not set")]
    MissingMetricName,
    /// A metric name given both before the braces and quoted inside them, or twice inside.
    #[error("metric name already set")]
    DuplicateMetricName,
    /// The same label name twice in one label set.
    #[error("label name {0:?} is not unique")]
    DuplicateLabel(String),
    /// An exemplar suffix (`# {...} v`) in the classic text format, which has no exemplar syntax. Prometheus fails
    /// the scrape on it ("expected timestamp or new record"): the target has to be asked for OpenMetrics.
    #[error("exemplar in classic text format (exemplars need OpenMetrics), got {0:?}")]
    ExemplarInClassicText(String),
    /// `# UNIT` whose unit is not a `_<unit>` suffix of the metric family name.
    #[error("unit {unit:?} is not a suffix of metric {metric:?}")]
    UnitMismatch {
        /// The unit.
        unit: String,
        /// The metric family name.
        metric: String,
    },
    /// An exemplar label set longer than 128 characters (strict OpenMetrics only; Prometheus drops such exemplars at
    /// storage instead).
    #[error("exemplar label set has {0} characters, more than the 128 allowed")]
    ExemplarTooLong(usize),
    /// An OpenMetrics body that does not end with `# EOF`.
    #[error("data does not end with # EOF")]
    MissingEof,
    /// Anything after the `# EOF` line.
    #[error("unexpected data after # EOF")]
    DataAfterEof,
    /// A rule of the OpenMetrics 1.0 specification that the strict validator checks (ordering, grouping,
    /// type-specific suffixes, labels and values, exemplar placement).
    #[error("{0}")]
    Invalid(String),
}

impl ParseError {
    pub(crate) fn new(line: usize, column: usize, kind: ErrorKind) -> Self {
        ParseError { line, column, kind }
    }
}

/// A short, printable excerpt of the text at the error position (first 32 characters), for messages.
pub(crate) fn excerpt(b: &[u8]) -> String {
    let end = b.len().min(32);
    String::from_utf8_lossy(&b[..end]).into_owned()
}
