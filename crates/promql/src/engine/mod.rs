//! The evaluator: [`Engine`] runs instant and range queries against any [`Queryable`] and returns a
//! [`QueryResult`] (a [`Value`] plus Prometheus-style warnings and infos) or an [`Error`] whose
//! [`ErrorKind`] maps onto Prometheus's API error types.
//!
//! Evaluation is step-wise: every node is evaluated at all steps of the query at once (see `eval.rs`). A query
//! opens one querier over its whole read range, and each selected series is decoded from storage exactly
//! once per query into a buffer that every selector and step then slices, so a compressed chunk is decoded
//! at most once per query.
//!
//! Feature flags (in [`EngineOptions::enable_features`]) follow Prometheus: [`EXPERIMENTAL_FUNCTIONS`]
//! enables `limitk`, `limit_ratio` and the experimental functions; [`DELAYED_NAME_REMOVAL`] keeps
//! `__name__` until the end of evaluation (Prometheus's test engine runs with both).
//!
//! Parsing and evaluation run on a scoped thread with a large stack, and expressions deeper than
//! [`crate::parser::MAX_DEPTH`] are refused, so no query can overflow the caller's stack; a panic inside
//! evaluation becomes an [`ErrorKind::Internal`] error.
//!
//! ```
//! use diamond_model::{Labels, storage::memory::MemStorage};
//! use diamond_promql::{CancelToken, Engine, EngineOptions, Value};
//!
//! let db = MemStorage::new();
//! db.add(Labels::from_pairs(&[("__name__", "up"), ("job", "a")]), &[(0, 1.0), (15_000, 1.0)]);
//! let engine = Engine::new(EngineOptions::default());
//! let res = engine.instant_query(&db, "sum(up)", 30_000, &CancelToken::new()).unwrap();
//! match res.value {
//!     Value::Vector(v) => assert_eq!(v[0].v, 1.0),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```

pub(crate) mod aggregate;
mod binary;
pub(crate) mod eval;
pub(crate) mod hash;
pub(crate) mod selector;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diamond_model::Labels;
use diamond_model::storage::Queryable;

/// The feature flag that enables `limitk`, `limit_ratio` and the experimental functions.
pub const EXPERIMENTAL_FUNCTIONS: &str = "promql-experimental-functions";

/// The feature flag that keeps `__name__` until the end of evaluation (Prometheus's test engine and
/// `--enable-feature=promql-delayed-name-removal`); without it names are removed where they are dropped.
pub const DELAYED_NAME_REMOVAL: &str = "promql-delayed-name-removal";

/// Engine settings. Defaults are Prometheus's.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back a vector selector looks for the latest sample (default 5 minutes).
    pub lookback_delta_ms: i64,
    /// The most samples a query may hold in memory at once (default 50,000,000).
    pub max_samples: usize,
    /// Longest a query may run (default 2 minutes).
    pub timeout: Duration,
    /// Feature flags: [`EXPERIMENTAL_FUNCTIONS`], [`DELAYED_NAME_REMOVAL`].
    pub enable_features: Vec<String>,
    /// Count `QueryStats::queryable_samples` in range windows too (the API's `stats` parameter). Off, only
    /// the free part (vector selectors) is counted, so range queries pay nothing for stats nobody asked
    /// for.
    pub count_queryable_samples: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            enable_features: Vec::new(),
            count_queryable_samples: false,
        }
    }
}

/// A cancellation flag shared between the caller and a running query; checked between steps and series.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(pub Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every query holding this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Prometheus's error classes for query failures (the API maps them to `errorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The query is malformed or ill-typed (`bad_data`, HTTP 400).
    BadData,
    /// Evaluation failed, e.g. many-to-many matching (`execution`, HTTP 422).
    Execution,
    /// The query ran past its timeout (`timeout`, HTTP 503).
    Timeout,
    /// The caller cancelled the query (`canceled`, HTTP 503).
    Canceled,
    /// A bug or storage failure (`internal`, HTTP 500).
    Internal,
}

/// A query failure; `message` is worded as Prometheus words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// The class of failure.
    pub kind: ErrorKind,
    /// The message as Prometheus would show it.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    pub(crate) fn exec(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Execution,
            message: message.into(),
        }
    }

    pub(crate) fn bad_data(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::BadData,
            message: message.into(),
        }
    }
}

/// One sample of an instant vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// Series labels.
    pub labels: Labels,
    /// Timestamp (ms): the evaluation time.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One series of a range (matrix) result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// Series labels.
    pub labels: Labels,
    /// Points in ascending time order.
    pub samples: Vec<(i64, f64)>,
}

/// A query's value, shaped as in the Prometheus API.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A single number at `t`.
    Scalar {
        /// Timestamp (ms).
        t: i64,
        /// Value.
        v: f64,
    },
    /// A string at `t`.
    String {
        /// Timestamp (ms).
        t: i64,
        /// Value.
        s: String,
    },
    /// An instant vector.
    Vector(Vec<VectorSample>),
    /// A range vector (range queries, or an instant query of a range selector or subquery); sorted by labels.
    Matrix(Vec<RangeSeries>),
}

/// Counters about one query's execution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples read from storage.
    pub samples_loaded: usize,
    /// Series read from storage.
    pub series_loaded: usize,
    /// Largest number of samples held at once (approximate: samples loaded plus results).
    pub peak_samples: usize,
    /// Prometheus's `totalQueryableSamples`: per step, one per point a vector selector yields plus the
    /// points in each range window a function reads (a subquery under a function counts its windows, a
    /// bare subquery its inner total at every outer step). Range windows are counted only with
    /// [`EngineOptions::count_queryable_samples`].
    pub queryable_samples: usize,
    /// Time spent parsing and checking the query (`queryPreparationTime`).
    pub prepare_time: std::time::Duration,
    /// Time spent evaluating and shaping the result (`innerEvalTime`).
    pub eval_time: std::time::Duration,
}

/// A successful query: the value and the annotations Prometheus would attach.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The result.
    pub value: Value,
    /// `PromQL warning: ...` annotations.
    pub warnings: Vec<String>,
    /// `PromQL info: ...` annotations.
    pub infos: Vec<String>,
    /// Execution counters.
    pub stats: QueryStats,
}

/// The PromQL engine. Cheap to share: it holds only options.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with the given options.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// This engine counting Prometheus's `totalQueryableSamples` exactly (see
    /// [`EngineOptions::count_queryable_samples`]).
    pub fn counting_queryable_samples(&self) -> Engine {
        let mut opts = self.opts.clone();
        opts.count_queryable_samples = true;
        Engine { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at `ts_ms`.
    pub fn instant_query(
        &self,
        q: &dyn Queryable,
        expr: &str,
        ts_ms: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, Error> {
        let began = Instant::now();
        // Parsed on the evaluation's thread: one hand-over per query.
        on_deep_stack(|| {
            let parsed = self.prepare(expr)?;
            eval::run(q, &self.opts, &parsed, ts_ms, ts_ms, 0, true, cancel, began, expr)
        })
    }

    /// Evaluates `expr` at every step from `start_ms` to `end_ms` (inclusive) and returns a matrix.
    pub fn range_query(
        &self,
        q: &dyn Queryable,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, Error> {
        if step_ms <= 0 {
            return Err(Error::bad_data(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if end_ms < start_ms {
            return Err(Error::bad_data("end timestamp must not be before start time"));
        }
        let began = Instant::now();
        on_deep_stack(|| {
            let parsed = self.prepare(expr)?;
            use promql_parser::parser::value::ValueType;
            let vt = parsed.value_type();
            if vt != ValueType::Scalar && vt != ValueType::Vector {
                return Err(Error::bad_data(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    match vt {
                        ValueType::Matrix => "range vector",
                        ValueType::String => "string",
                        _ => "unknown",
                    }
                )));
            }
            eval::run(
                q, &self.opts, &parsed, start_ms, end_ms, step_ms, false, cancel, began, expr,
            )
        })
    }

    /// Parses and checks feature gates.
    fn prepare(&self, expr: &str) -> Result<promql_parser::parser::Expr, Error> {
        let parsed = crate::parser::parse(expr).map_err(|e| Error::bad_data(e.to_string()))?;
        let experimental = self.opts.enable_features.iter().any(|f| f == EXPERIMENTAL_FUNCTIONS);
        if let Some((word, msg)) = feature_error(&parsed, experimental) {
            // Prometheus reports these at the function's position; promql-parser gives no positions, so we
            // locate the first use of the name in the text.
            let err = crate::parser::ParseError {
                position: crate::parser::word_position(expr, word),
                message: msg,
            };
            return Err(Error::bad_data(err.to_string()));
        }
        Ok(parsed)
    }
}

/// Runs `f` (an evaluation, which recurses once per level of the expression) on a thread with a large,
/// lazily committed stack (`crate::deep`, threads kept for reuse), so that a deeply nested query cannot
/// overflow the caller's thread. (Evaluating shallow queries on the caller's thread instead was tried: it
/// made small instant queries 2-3x slower in the server, probably because glibc's arenas of the
/// blocking-pool threads hold the ingested data.)
///
/// Afterwards the process's free memory is trimmed once queries pause (`diamond_model::mem::trim_when_idle`).
fn on_deep_stack<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send) -> Result<T, Error> {
    let r = deep_stack(f);
    diamond_model::mem::trim_when_idle();
    r
}

fn deep_stack<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send) -> Result<T, Error> {
    match crate::deep::run(f) {
        Ok(r) => r,
        Err(crate::deep::DeepError::Spawn(e)) => Err(Error {
            kind: ErrorKind::Internal,
            message: format!("cannot start the evaluation thread: {e}"),
        }),
        Err(crate::deep::DeepError::Panicked) => Err(Error {
            kind: ErrorKind::Internal,
            message: "query evaluation panicked".to_owned(),
        }),
    }
}

/// Functions promql-parser 0.11 accepts that Prometheus 3.5 does not have.
const NOT_IN_3_5: &[&str] = &["histogram_quantiles", "integral", "max_of", "min_of", "start_timestamp"];

/// The first use in `e` of a function Prometheus 3.5 lacks, or of an experimental feature when those are
/// disabled, worded as Prometheus words the refusal.
fn feature_error(e: &promql_parser::parser::Expr, experimental: bool) -> Option<(&'static str, String)> {
    use promql_parser::parser::Expr;
    match e {
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if !experimental && (op == "limitk" || op == "limit_ratio") {
                let word = if op == "limitk" { "limitk" } else { "limit_ratio" };
                return Some((
                    word,
                    format!(
                        "{word}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
                    ),
                ));
            }
            a.param
                .as_deref()
                .and_then(|p| feature_error(p, experimental))
                .or_else(|| feature_error(&a.expr, experimental))
        }
        Expr::Unary(u) => feature_error(&u.expr, experimental),
        Expr::Binary(b) => feature_error(&b.lhs, experimental).or_else(|| feature_error(&b.rhs, experimental)),
        Expr::Paren(p) => feature_error(&p.expr, experimental),
        Expr::Subquery(s) => feature_error(&s.expr, experimental),
        Expr::Call(c) => {
            // promql-parser knows functions added after Prometheus 3.5; 3.5 would not parse them.
            if NOT_IN_3_5.contains(&c.func.name) {
                return Some((c.func.name, format!("unknown function with name {:?}", c.func.name)));
            }
            if !experimental && c.func.experimental {
                return Some((c.func.name, format!("function \"{}\" is not enabled", c.func.name)));
            }
            c.args.args.iter().find_map(|a| feature_error(a, experimental))
        }
        _ => None,
    }
}

pub(crate) use selector::sample_at;

/// Reads the series of a vector selector (staleness markers kept) for functions that need raw samples.
pub(crate) fn selector_load(
    ev: &mut eval::Evaluator<'_>,
    vs: &promql_parser::parser::VectorSelector,
    mint: i64,
    maxt: i64,
) -> Result<Vec<selector::Loaded>, Error> {
    selector::load(ev, vs, mint, maxt, true)
}

#[cfg(test)]
mod tests;
