//! The subset of TraceQL that Tempo's `/api/search?q=` gets from Grafana's search builder: one spanset
//! filter of conditions joined by `&&`:
//!
//! ```text
//! {}   { true }   { resource.service.name = "api" && name = "GET /x" && span.http.status_code = 500
//!                   && status = error && kind = server && duration > 100ms && traceDuration < 2s }
//! ```
//!
//! Attributes (`span.k`, `resource.k`, `.k`) and the intrinsics `name`, `status`, `kind` compare with `=`;
//! `duration` (span) and `traceDuration` with `>`, `>=`, `<`, `<=`. Anything else (`||`, `!=`, regexes,
//! pipelines, several spansets) is refused with a message naming what is supported, rather than answered
//! wrongly.

use crate::search::{SearchQuery, parse_duration};

fn unsupported(q: &str, why: &str) -> String {
    format!(
        "unsupported TraceQL {q:?}: {why}; Diamond's embedded store understands one spanset of `&&`-joined \
         conditions (attribute = value, name, status, kind, duration and traceDuration comparisons)"
    )
}

/// Splits a condition into (lhs, op, rhs).
fn split_cond(c: &str) -> Option<(&str, &str, &str)> {
    for op in [">=", "<=", "!=", "=~", "!~", "=", ">", "<"] {
        if let Some(i) = c.find(op) {
            return Some((c[..i].trim(), op, c[i + op.len()..].trim()));
        }
    }
    None
}

fn value(rhs: &str) -> Option<String> {
    if let Some(s) = rhs.strip_prefix('"') {
        let s = s.strip_suffix('"')?;
        return Some(s.replace("\\\"", "\"").replace("\\\\", "\\"));
    }
    (!rhs.is_empty() && !rhs.contains(char::is_whitespace)).then(|| rhs.to_owned())
}

/// Adds the conditions of `tql` to `q`.
pub fn apply(tql: &str, q: &mut SearchQuery) -> Result<(), String> {
    let t = tql.trim();
    let inner = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| unsupported(tql, "not a single { … } spanset"))?
        .trim();
    if inner.contains(['{', '}', '|']) {
        return Err(unsupported(tql, "several spansets, `||` or pipelines"));
    }
    if inner.is_empty() || inner == "true" {
        return Ok(());
    }
    for cond in inner.split("&&") {
        let cond = cond.trim();
        let (lhs, op, rhs) = split_cond(cond).ok_or_else(|| unsupported(tql, &format!("cannot read {cond:?}")))?;
        let val = value(rhs).ok_or_else(|| unsupported(tql, &format!("cannot read the value {rhs:?}")))?;
        match (lhs, op) {
            ("duration" | "traceDuration", ">" | ">=" | "<" | "<=") => {
                let ns = parse_duration(&val)
                    .filter(|_| !val.chars().all(|c| c.is_ascii_digit()))
                    .ok_or_else(|| unsupported(tql, &format!("{val:?} is not a duration such as 100ms")))?;
                let (min, max) = if lhs == "duration" {
                    (&mut q.min_span_ns, &mut q.max_span_ns)
                } else {
                    (&mut q.min_trace_ns, &mut q.max_trace_ns)
                };
                match op {
                    ">" => *min = Some(ns.saturating_add(1)),
                    ">=" => *min = Some(ns),
                    "<" => *max = Some(ns.saturating_sub(1)),
                    _ => *max = Some(ns),
                }
            }
            (_, "=") => match lhs {
                "resource.service.name" | ".service.name" => q.service = Some(val),
                "name" => q.operation = Some(val),
                "status" | "kind" => q.tags.push((lhs.to_owned(), val)),
                l if l.starts_with("span.") || l.starts_with("resource.") => q.tags.push((l.to_owned(), val)),
                l if l.starts_with('.') && l.len() > 1 => q.tags.push((l[1..].to_owned(), val)),
                l => return Err(unsupported(tql, &format!("unknown attribute {l:?}"))),
            },
            _ => return Err(unsupported(tql, &format!("operator {op:?} on {lhs:?}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_builder_queries() {
        let mut q = SearchQuery::default();
        apply(
            r#"{resource.service.name="api" && name="GET /x" && span.http.status_code=500 && status=error && duration>100ms && traceDuration<=2s}"#,
            &mut q,
        )
        .unwrap();
        assert_eq!(q.service.as_deref(), Some("api"));
        assert_eq!(q.operation.as_deref(), Some("GET /x"));
        assert_eq!(
            q.tags,
            vec![
                ("span.http.status_code".to_owned(), "500".to_owned()),
                ("status".to_owned(), "error".to_owned())
            ]
        );
        assert_eq!(q.min_span_ns, Some(100_000_001));
        assert_eq!(q.max_trace_ns, Some(2_000_000_000));
        for empty in ["{}", "{ }", "{ true }"] {
            let mut q = SearchQuery::default();
            apply(empty, &mut q).unwrap();
            assert_eq!(q, SearchQuery::default());
        }
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        for bad in [
            "",
            "{ a = 1 } && { b = 2 }",
            "{ .a = 1 || .b = 2 }",
            "{ .a != 1 }",
            "{ .a =~ \"x.*\" }",
            "{ duration > 100 }",
            "{ foo = 1 }",
            "{ .a = }",
            "{} | count() > 2",
            "{ .a = \"unterminated }",
        ] {
            let mut q = SearchQuery::default();
            let e = apply(bad, &mut q).unwrap_err();
            assert!(e.contains("unsupported TraceQL"), "{bad}: {e}");
        }
    }
}
