//! `/api/v1/parse_query`'s tree: promql-parser's `ser` feature serialises its AST in the shape of
//! Prometheus's `translateAST` (`{"type":"binaryExpr","op":…,"lhs":…}`), so no translation is ours.

/// The JSON tree of an expression.
pub(crate) fn to_json(expr: &promql_parser::parser::Expr) -> serde_json::Value {
    serde_json::to_value(expr).unwrap_or(serde_json::Value::Null)
}
