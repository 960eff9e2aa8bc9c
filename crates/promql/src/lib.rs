//! Diamond's PromQL engine: it owns parsing (a wrapper over `promql-parser` with Prometheus-style errors)
//! and evaluation of instant and range queries with Prometheus 3.5 semantics for float series, reading
//! storage only through [`diamond_model::storage::Queryable`].
//!
//! ```
//! let expr = diamond_promql::parse("sum by (job) (rate(http_requests_total[5m]))").unwrap();
//! assert_eq!(diamond_promql::extract_selectors(&expr).len(), 1);
//! ```

pub mod parser;

pub use parser::{ParseError, Position, extract_selectors, parse, to_matcher, to_matchers};
pub use promql_parser::parser::Expr;
