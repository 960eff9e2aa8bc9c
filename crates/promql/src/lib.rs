//! Diamond's PromQL engine. It owns parsing (a wrapper over `promql-parser` with Prometheus-style errors,
//! [`parse`], [`extract_selectors`]) and evaluation of instant and range queries with Prometheus 3.5
//! semantics for float series ([`Engine`]), reading storage only through
//! [`diamond_model::storage::Queryable`]. Results are [`Value`]s the API encodes as Prometheus JSON;
//! failures are [`Error`]s whose [`ErrorKind`] maps onto Prometheus's error types.
//!
//! Layout: `parser/` (the parse seam), `engine/` (the evaluator: selectors, binary operators,
//! aggregations, result shaping), `functions/` (one file per function family).
//!
//! ```
//! use diamond_model::{Labels, storage::memory::MemStorage};
//! use diamond_promql::{CancelToken, Engine, EngineOptions, Value};
//!
//! let expr = diamond_promql::parse("sum by (job) (rate(http_requests_total[5m]))").unwrap();
//! assert_eq!(diamond_promql::extract_selectors(&expr).len(), 1);
//!
//! let db = MemStorage::new();
//! let l = Labels::from_pairs(&[("__name__", "http_requests_total"), ("job", "api")]);
//! db.add(l, &[(0, 0.0), (60_000, 60.0), (120_000, 120.0)]);
//! let res = Engine::new(EngineOptions::default())
//!     .instant_query(&db, "sum by (job) (rate(http_requests_total[2m]))", 120_000, &CancelToken::new())
//!     .unwrap();
//! let Value::Vector(v) = res.value else { panic!("expected a vector") };
//! assert_eq!(v[0].labels.get("job"), Some("api"));
//! assert!((v[0].v - 1.0).abs() < 1e-9);
//! ```

mod deep;
pub mod engine;
mod functions;
pub mod parser;

pub use deep::spawn as spawn_on_query_thread;
pub use engine::{
    CancelToken, DELAYED_NAME_REMOVAL, EXPERIMENTAL_FUNCTIONS, Engine, EngineOptions, Error, ErrorKind, QueryResult,
    QueryStats, RangeSeries, Value, VectorSample,
};
pub use parser::{ParseError, Position, extract_selectors, parse, to_matcher, to_matchers};
pub use promql_parser::parser::Expr;
