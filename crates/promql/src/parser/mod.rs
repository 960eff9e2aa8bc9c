//! The PromQL parser seam: a thin wrapper over `promql-parser` that returns a typed [`ParseError`], plus the
//! conversions the rest of Diamond needs from its AST ([`extract_selectors`], [`to_matchers`]).
//!
//! ```
//! let expr = diamond_promql::parse(r#"rate(http_requests_total{job="api"}[5m])"#).unwrap();
//! let sets = diamond_promql::extract_selectors(&expr);
//! assert_eq!(sets.len(), 1);
//! assert!(sets[0].iter().any(|m| m.name == "__name__" && m.value == "http_requests_total"));
//! ```

mod diagnose;
mod duration;

use std::fmt;

use diamond_model::{METRIC_NAME, MatchOp, Matcher, MatcherError};
use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher, Matchers as PMatchers};
use promql_parser::parser::{Expr, VectorSelector};

/// A position in the query text (1-based line and column), as Prometheus prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

/// A query that does not parse (or does not type-check). Displayed like Prometheus's parse errors:
/// `1:5: parse error: unexpected ...` when the position is known, `parse error: ...` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// Where the error is, when the underlying parser reports it.
    pub position: Option<Position>,
    /// What is wrong, without the `parse error:` prefix.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}:{}: parse error: {}", p.line, p.column, self.message),
            None if self.message == diagnose::NO_EXPRESSION => {
                write!(f, "unknown position: parse error: {}", self.message)
            }
            None => write!(f, "parse error: {}", self.message),
        }
    }
}

/// Parses a PromQL expression. Never panics on any input: a panic inside the third-party parser is caught and
/// reported as a parse error, because a user query must not take down a server thread.
pub fn parse(expr: &str) -> Result<Expr, ParseError> {
    too_complex(expr)?;
    // promql-parser and the AST's Drop recurse once per nesting level; parsing on a thread with a large
    // (lazily committed) stack keeps a hostile query from overflowing the caller's, and the depth check
    // below bounds what the caller later walks and drops.
    let r = crate::deep::run(|| {
        let e = parse_on_this_thread(expr)?;
        let depth = depth(&e);
        if depth > MAX_DEPTH {
            return Err(ParseError {
                position: None,
                message: format!("query is too deeply nested ({depth} levels, the limit is {MAX_DEPTH})"),
            });
        }
        Ok(e)
    });
    match r {
        Ok(r) => r,
        Err(crate::deep::DeepError::Spawn(e)) => Err(ParseError {
            position: None,
            message: format!("cannot start the parser thread: {e}"),
        }),
        Err(crate::deep::DeepError::Panicked) => Err(ParseError {
            position: None,
            message: "unparsable query".to_owned(),
        }),
    }
}

/// The deepest expression tree accepted. Real queries stay far below; the bound keeps recursion in the
/// evaluator and in callers walking the AST within ordinary thread stacks.
pub const MAX_DEPTH: usize = 1000;

/// Refuses, before parsing, text whose nesting alone would exceed [`MAX_DEPTH`] many times over: parentheses
/// nested deeper than the limit, or more operators than four times it (each may add a level).
fn too_complex(query: &str) -> Result<(), ParseError> {
    let (mut depth, mut max_depth, mut ops) = (0usize, 0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in query.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '/' | '%' | '^' | '=' | '!' | '<' | '>' | '@' => ops += 1,
            _ => {}
        }
    }
    if max_depth > MAX_DEPTH || ops > 4 * MAX_DEPTH {
        return Err(ParseError {
            position: None,
            message: format!("query is too deeply nested (the limit is {MAX_DEPTH} levels)"),
        });
    }
    Ok(())
}

/// Depth of the expression tree, computed without recursion.
fn depth(e: &Expr) -> usize {
    let mut max = 0;
    let mut stack = vec![(e, 1usize)];
    while let Some((e, d)) = stack.pop() {
        max = max.max(d);
        match e {
            Expr::Aggregate(a) => {
                stack.push((&a.expr, d + 1));
                if let Some(p) = &a.param {
                    stack.push((p, d + 1));
                }
            }
            Expr::Unary(u) => stack.push((&u.expr, d + 1)),
            Expr::Binary(b) => {
                stack.push((&b.lhs, d + 1));
                stack.push((&b.rhs, d + 1));
            }
            Expr::Paren(p) => stack.push((&p.expr, d + 1)),
            Expr::Subquery(s) => stack.push((&s.expr, d + 1)),
            Expr::Call(c) => stack.extend(c.args.args.iter().map(|a| (a.as_ref(), d + 1))),
            Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_)
            | Expr::Extension(_) => {}
        }
    }
    max
}

fn parse_on_this_thread(expr: &str) -> Result<Expr, ParseError> {
    let repaired = repair_invalid_utf8(expr);
    let expr = repaired.as_deref().unwrap_or(expr);
    let first = parse_raw(expr);
    if first.is_ok()
        && (expr.contains('[') || expr.contains('@') || expr.contains('+'))
        && let diagnose::Diagnosis::Error((pos, message)) = diagnose::diagnose(expr)
        && (message.starts_with("duration must be greater than 0")
            || message.starts_with("timestamp out of bounds")
            || message.starts_with(diagnose::UNARY_TYPE))
    {
        // promql-parser accepts these (zero ranges, @ timestamps out of range, a unary plus on a string,
        // which it drops); Prometheus does not.
        let (line, column) = diagnose::line_col(expr, pos);
        return Err(ParseError {
            position: Some(Position { line, column }),
            message,
        });
    }
    if first.is_err()
        && let Some(folded) = duration::fold(expr)
        && let Ok(e) = parse_raw(&folded)
    {
        return Ok(e);
    }
    if first.is_err()
        && let Some(marked) = mark_info_selectors(expr)
        && let Ok(e) = parse_raw(&marked)
    {
        return Ok(e);
    }
    first
}

/// The label name [`mark_info_selectors`] adds; `info()` ignores matchers on it.
pub(crate) const INFO_SELECTOR_MARK: &str = "__diamond_info_selector__";

/// `info()`'s second argument is a label selector, which Prometheus accepts with only empty-matching
/// matchers (`info(x, {region!="eu"})`), while promql-parser refuses such a vector selector. Gives the
/// text with a matcher on [`INFO_SELECTOR_MARK`] added to every `{…}` that is the second argument of an
/// `info(` call (so it parses), or `None` when there is none.
fn mark_info_selectors(expr: &str) -> Option<String> {
    if !expr.contains("info") {
        return None;
    }
    let b = expr.as_bytes();
    let mut out = String::with_capacity(expr.len() + 64);
    let mut last = 0;
    let mut quote: Option<u8> = None;
    // Open parentheses: whether each belongs to `info(` and how many top-level commas it has seen.
    let mut stack: Vec<(bool, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' && q != b'`' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' | b'\'' | b'`' => quote = Some(c),
            b'(' => {
                let head = expr[..i].trim_end();
                let is_info = head.ends_with("info")
                    && !head[..head.len() - 4]
                        .ends_with(|ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':');
                stack.push((is_info, 0));
            }
            b')' => {
                stack.pop();
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
            }
            b'{' if stack.last().is_some_and(|&(info, commas)| info && commas == 1)
                && expr[..i].trim_end().ends_with(',') =>
            {
                out.push_str(&expr[last..=i]);
                out.push_str(INFO_SELECTOR_MARK);
                out.push_str("=\"1\"");
                last = i + 1;
                if !expr[i + 1..].trim_start().starts_with('}') {
                    out.push(',');
                }
            }
            _ => {}
        }
        i += 1;
    }
    (last > 0).then(|| {
        out.push_str(&expr[last..]);
        out
    })
}

/// First of the private-use characters that stand for bytes of invalid UTF-8 (U+F700 + byte).
const BAD_BYTE_BASE: u32 = 0xF700;

/// Whether `c` stands for a byte of invalid UTF-8 written in a string literal (see [`repair_invalid_utf8`]).
/// Where an annotation of the evaluator belongs in the query text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Anchor {
    /// Argument `arg` of a call to `func`; `metric` / `number` pick among several such calls.
    CallArg {
        func: String,
        arg: usize,
        metric: Option<String>,
        number: Option<f64>,
    },
    /// The parameter of aggregation `op`.
    AggParam { op: &'static str, number: Option<f64> },
}

/// Appends Prometheus's ` (line:col)` to each annotation whose anchor the query text places (as the
/// HTTP API of Prometheus 3.x prints them: the start of the argument or parameter the annotation is
/// about, the column a byte offset within the line plus one); others keep their text.
pub(crate) fn position_annotations(query: &str, annotations: Vec<(String, Option<Anchor>)>) -> Vec<String> {
    if annotations.iter().all(|(_, a)| a.is_none()) {
        return annotations.into_iter().map(|(m, _)| m).collect();
    }
    let tree = match diagnose::diagnose(query) {
        diagnose::Diagnosis::Parsed(t) => Some(t),
        diagnose::Diagnosis::Error(_) => None,
    };
    annotations
        .into_iter()
        .map(|(msg, anchor)| {
            let pos = tree.as_ref().zip(anchor.as_ref()).and_then(|(t, a)| match a {
                Anchor::CallArg {
                    func,
                    arg,
                    metric,
                    number,
                } => t.locate_arg(func, *arg, metric.as_deref(), *number),
                Anchor::AggParam { op, number } => t.locate_param(op, *number),
            });
            match pos {
                Some(p) => {
                    let (line, col) = diagnose::line_col(query, p);
                    format!("{msg} ({line}:{col})")
                }
                None => msg,
            }
        })
        .collect()
}

pub(crate) fn is_bad_byte(c: char) -> bool {
    (BAD_BYTE_BASE + 0x80..=BAD_BYTE_BASE + 0xFF).contains(&u32::from(c))
}

/// Quotes `s` as Go's `%q` does for the strings we print in errors, writing bad bytes back as `\xNN`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if is_bad_byte(c) => out.push_str(&format!("\\x{:02x}", u32::from(c) - BAD_BYTE_BASE)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Decodes bytes as UTF-8, turning each byte of an invalid sequence into its stand-in character.
fn decode_keeping_bad_bytes(mut bytes: &[u8]) -> String {
    let mut out = String::new();
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (ok, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(ok).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len()).max(1);
                for &b in &rest[..bad] {
                    out.push(char::from_u32(BAD_BYTE_BASE + u32::from(b)).unwrap_or('\u{FFFD}'));
                }
                bytes = &rest[bad..];
            }
        }
    }
}

/// Go string literals may spell bytes that are not UTF-8 (`"a\xc5z"`); Prometheus keeps those bytes and then
/// rejects them where a label name must be UTF-8. promql-parser instead turns each `\xNN` into the character
/// U+00NN, which would make such names valid. We rewrite those literals so that each bad byte becomes a
/// private-use stand-in ([`is_bad_byte`]): label-name checks reject it and [`go_quote`] prints it back as
/// `\xNN`. Valid literals are left alone.
fn repair_invalid_utf8(query: &str) -> Option<String> {
    if !query.contains('\\') {
        return None;
    }
    let chars: Vec<char> = query.chars().collect();
    let mut out = String::with_capacity(query.len());
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        let q = chars[i];
        if q == '`' {
            let end = (i + 1..chars.len())
                .find(|&k| chars[k] == '`')
                .unwrap_or(chars.len() - 1);
            out.extend(&chars[i..=end]);
            i = end + 1;
            continue;
        }
        if q != '"' && q != '\'' {
            out.push(q);
            i += 1;
            continue;
        }
        let Some((bytes, end)) = go_unquote(&chars, i) else {
            out.extend(&chars[i..]);
            break;
        };
        if std::str::from_utf8(&bytes).is_ok() {
            out.extend(&chars[i..=end]);
        } else {
            changed = true;
            out.push('"');
            for c in decode_keeping_bad_bytes(&bytes).chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        i = end + 1;
    }
    changed.then_some(out)
}

/// Decodes the Go string literal opening at `chars[start]` into bytes; returns them and the index of the
/// closing quote. `None` when the literal is unterminated or has a bad escape (the parser reports those).
fn go_unquote(chars: &[char], start: usize) -> Option<(Vec<u8>, usize)> {
    let q = chars[start];
    let mut bytes = Vec::new();
    let mut k = start + 1;
    let hex = |s: &[char]| -> Option<u32> { u32::from_str_radix(&s.iter().collect::<String>(), 16).ok() };
    while k < chars.len() {
        let c = chars[k];
        if c == q {
            return Some((bytes, k));
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            k += 1;
            continue;
        }
        let e = *chars.get(k + 1)?;
        k += 2;
        match e {
            'a' => bytes.push(7),
            'b' => bytes.push(8),
            'f' => bytes.push(12),
            'n' => bytes.push(b'\n'),
            'r' => bytes.push(b'\r'),
            't' => bytes.push(b'\t'),
            'v' => bytes.push(11),
            '\\' | '\'' | '"' => bytes.push(e as u8),
            'x' => {
                let v = hex(chars.get(k..k + 2)?)?;
                bytes.push(u8::try_from(v).ok()?);
                k += 2;
            }
            '0'..='7' => {
                let digits: String = chars.get(k - 1..k + 2)?.iter().collect();
                bytes.push(u8::try_from(u32::from_str_radix(&digits, 8).ok()?).ok()?);
                k += 2;
            }
            'u' | 'U' => {
                let n = if e == 'u' { 4 } else { 8 };
                let ch = char::from_u32(hex(chars.get(k..k + n)?)?)?;
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                k += n;
            }
            _ => return None,
        }
    }
    None
}

fn parse_raw(expr: &str) -> Result<Expr, ParseError> {
    let owned = expr.to_owned();
    let res = std::panic::catch_unwind(move || promql_parser::parser::parse(&owned));
    match res {
        Ok(Ok(e)) => Ok(e),
        Ok(Err(msg)) => Err(prometheus_error(expr, parse_error_from(&msg))),
        Err(_) => Err(ParseError {
            position: None,
            message: "unparsable query".to_owned(),
        }),
    }
}

/// The error Prometheus gives for a query promql-parser rejected with `e`: our second pass
/// ([`diagnose`]) finds syntax errors with Prometheus's wording and position; when the text is
/// syntactically fine, promql-parser's (normalized) type-error message is kept and the second pass's tree
/// places it.
fn prometheus_error(query: &str, e: ParseError) -> ParseError {
    let at = |pos: usize| {
        if pos == usize::MAX {
            return None;
        }
        let (line, column) = diagnose::line_col(query, pos);
        Some(Position { line, column })
    };
    match diagnose::diagnose(query) {
        diagnose::Diagnosis::Error((pos, message)) => ParseError {
            position: at(pos),
            message,
        },
        diagnose::Diagnosis::Parsed(tree) => {
            let mut e = normalize(query, e);
            if let Some(pos) = tree.locate(&e.message) {
                e.position = at(pos);
            }
            e
        }
    }
}

/// promql-parser reports plain strings; some start with a `line:col:` position which we lift out.
fn parse_error_from(msg: &str) -> ParseError {
    let msg = msg.trim();
    let mut parts = msg.splitn(3, ':');
    if let (Some(l), Some(c), Some(rest)) = (parts.next(), parts.next(), parts.next())
        && let (Ok(line), Ok(column)) = (l.trim().parse::<usize>(), c.trim().parse::<usize>())
    {
        let rest = rest.trim();
        let rest = rest.strip_prefix("parse error:").map(str::trim).unwrap_or(rest);
        return ParseError {
            position: Some(Position { line, column }),
            message: rest.to_owned(),
        };
    }
    let m = msg.strip_prefix("parse error:").map(str::trim).unwrap_or(msg);
    ParseError {
        position: None,
        message: m.to_owned(),
    }
}

/// Brings promql-parser's wording closer to Prometheus's (Go `%q` double quotes, its type names) and adds
/// the positions we can infer: the end of the input for "unclosed ..."/"end of input" errors, the function
/// name for argument-count and unknown-function errors. Other errors (Prometheus points at the offending
/// node, which promql-parser does not tell us) keep no position rather than a guessed one.
fn normalize(query: &str, mut e: ParseError) -> ParseError {
    if e.position.is_some() {
        return e;
    }
    let m = e.message.clone();
    // 'name' -> "name" in the messages that quote an identifier.
    let requote = |m: &str| -> String {
        let mut out = String::with_capacity(m.len());
        let mut parts = m.split('\'');
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        let rest: Vec<&str> = parts.collect();
        // Only rewrite balanced quotes; an odd count means an apostrophe inside the text.
        if rest.len().is_multiple_of(2) {
            for p in &rest {
                out.push('"');
                out.push_str(p);
            }
            out
        } else {
            m.to_owned()
        }
    };
    let mut message = if m.starts_with("unknown function with name")
        || m.starts_with("expected ")
        || m.starts_with("set operator")
        || m.starts_with("label '")
        || m.starts_with("no grouping allowed")
    {
        requote(&m)
    } else {
        m.clone()
    };
    message = message
        .replace(
            "expected type matrix in call to function",
            "expected type range vector in call to function",
        )
        .replace(", got vector", ", got instant vector")
        .replace(
            "expected type string in aggregation expression",
            "expected type string in aggregation parameter",
        )
        .replace(
            "unary expression only allowed on expressions of type scalar or vector, got: string",
            "unary expression only allowed on expressions of type scalar or instant vector, got \"string\"",
        )
        .replace(
            "unary expression only allowed on expressions of type scalar or vector, got: matrix",
            "unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\"",
        )
        .replace("unexpected end of input inside brackets", "unclosed left bracket")
        .replace("expected type vector in", "expected type instant vector in")
        .replace("expected type matrix in", "expected type range vector in")
        .replace(", got matrix", ", got range vector")
        .replace(
            "expected type scalar in aggregation expression",
            "expected type scalar in aggregation parameter",
        );
    let unary = "unary expression only allowed on expressions of type scalar or vector, got ";
    if let Some(t) = message.strip_prefix(unary) {
        let t = match t.trim_start_matches(": ").trim_matches('"') {
            "matrix" | "range vector" => "range vector",
            "vector" | "instant vector" => "instant vector",
            other => other,
        };
        message = format!("unary expression only allowed on expressions of type scalar or instant vector, got \"{t}\"");
    }
    let end = || {
        let line = query.lines().count().max(1);
        let col = query.lines().last().map_or(0, |l| l.chars().count()) + 1;
        Some(Position { line, column: col })
    };
    if message.starts_with("unclosed left") || message.contains("end of input") {
        e.position = end();
    } else if let Some(name) =
        quoted_after(&message, "in call to \"").or_else(|| quoted_after(&message, "unknown function with name \""))
    {
        e.position = word_position(query, &name);
    }
    e.message = message;
    e
}

/// The text between `prefix` and the next `"`.
fn quoted_after(m: &str, prefix: &str) -> Option<String> {
    let i = m.find(prefix)? + prefix.len();
    let j = m[i..].find('"')?;
    Some(m[i..i + j].to_owned())
}

/// The position of the first use of identifier `word` in `query` outside string literals (1-based line and
/// column, columns counted in characters), used to place errors that promql-parser reports without one.
pub fn word_position(query: &str, word: &str) -> Option<Position> {
    let chars: Vec<char> = query.chars().collect();
    let w: Vec<char> = word.chars().collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let (mut line, mut col) = (1, 1);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            let mut k = i + 1;
            while k < chars.len() && chars[k] != c {
                if chars[k] == '\\' && c != '`' {
                    k += 1;
                }
                k += 1;
            }
            col += k.min(chars.len() - 1) + 1 - i;
            i = k + 1;
            continue;
        }
        if chars[i..].starts_with(&w)
            && (i == 0 || !ident(chars[i - 1]))
            && chars.get(i + w.len()).is_none_or(|&n| !ident(n))
        {
            return Some(Position { line, column: col });
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
        i += 1;
    }
    None
}

/// Converts promql-parser matchers into model matchers. A selector's metric name (written before the braces)
/// is not part of `Matchers` in every promql-parser version, so [`selector_matchers`] adds it; this function
/// converts exactly what it is given. `or` alternatives are not included (see [`selector_matcher_sets`]).
pub fn to_matchers(ms: &PMatchers) -> Result<Vec<Matcher>, MatcherError> {
    ms.matchers.iter().map(to_matcher).collect()
}

/// Converts one promql-parser matcher.
pub fn to_matcher(m: &PMatcher) -> Result<Matcher, MatcherError> {
    let op = match m.op {
        PMatchOp::Equal => MatchOp::Equal,
        PMatchOp::NotEqual => MatchOp::NotEqual,
        PMatchOp::Re(_) => MatchOp::Regex,
        PMatchOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
}

/// The matcher sets of one vector selector: one set normally, one per alternative when the selector uses
/// `or` between matcher groups. Each set includes the `__name__ =` matcher when a name is written.
pub fn selector_matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, MatcherError> {
    let name_matcher = |set: &mut Vec<Matcher>| {
        if let Some(n) = &vs.name
            && !set
                .iter()
                .any(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal && &m.value == n)
        {
            set.insert(0, Matcher::equal(METRIC_NAME, n.clone()));
        }
    };
    if vs.matchers.or_matchers.is_empty() {
        let mut set = to_matchers(&vs.matchers)?;
        name_matcher(&mut set);
        return Ok(vec![set]);
    }
    let mut out = Vec::new();
    for alt in &vs.matchers.or_matchers {
        let mut set: Vec<Matcher> = alt.iter().map(to_matcher).collect::<Result<_, _>>()?;
        set.extend(to_matchers(&vs.matchers)?);
        name_matcher(&mut set);
        out.push(set);
    }
    Ok(out)
}

/// The matchers of a selector without `or` alternatives (the first set when there are several).
pub fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>, MatcherError> {
    Ok(selector_matcher_sets(vs)?.into_iter().next().unwrap_or_default())
}

/// Every vector selector of the expression (including those under range selectors and subqueries), each as
/// a matcher set including `__name__ =`. Selectors whose regex does not compile are skipped (the parser has
/// already rejected those, so this only guards against a disagreement between the two regex dialects).
pub fn extract_selectors(expr: &Expr) -> Vec<Vec<Matcher>> {
    let mut out = Vec::new();
    walk(expr, &mut |vs| {
        if let Ok(sets) = selector_matcher_sets(vs) {
            out.extend(sets);
        }
    });
    out
}

/// Calls `f` on every vector selector in `expr`, left to right.
pub(crate) fn walk(expr: &Expr, f: &mut dyn FnMut(&VectorSelector)) {
    match expr {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, f);
            }
            walk(&a.expr, f);
        }
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        Expr::VectorSelector(vs) => f(vs),
        Expr::MatrixSelector(ms) => f(&ms.vs),
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_label_selectors_are_marked_only_in_info() {
        let m = |q: &str| mark_info_selectors(q);
        assert_eq!(
            m(r#"info(x, {region!="eu"})"#).as_deref(),
            Some(r#"info(x, {__diamond_info_selector__="1",region!="eu"})"#)
        );
        assert_eq!(
            m(r#"sum(info(rate(x[5m]), {a=""})) + info(y, {})"#).as_deref(),
            Some(
                r#"sum(info(rate(x[5m]), {__diamond_info_selector__="1",a=""})) + info(y, {__diamond_info_selector__="1"})"#
            )
        );
        assert_eq!(m(r#"build_info(x, {a=""})"#), None);
        assert_eq!(m(r#"info({a="x"})"#), None);
        assert_eq!(m(r#"label_replace(x, "d", "info(x, {", "", "")"#), None);
        assert!(parse(r#"info(x, {region!="eu"})"#).is_ok());
    }

    #[test]
    fn extracts_every_selector() {
        let e = parse(r#"sum(rate(a{x="1"}[5m])) / on() b + max_over_time(c[10m:1m]) + d offset 1m"#).unwrap();
        let sets = extract_selectors(&e);
        let names: Vec<&str> = sets
            .iter()
            .map(|s| {
                s.iter()
                    .find(|m| m.name == METRIC_NAME)
                    .map(|m| m.value.as_str())
                    .unwrap_or("")
            })
            .collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert!(sets[0].iter().any(|m| m.name == "x" && m.value == "1"));
    }

    #[test]
    fn regex_matchers_convert() {
        let e = parse(r#"{__name__=~"a.*", job!~"x|y"}"#).unwrap();
        let sets = extract_selectors(&e);
        assert_eq!(sets.len(), 1);
        let m = sets[0].iter().find(|m| m.name == "job").unwrap();
        assert_eq!(m.op, MatchOp::NotRegex);
        assert!(!m.matches("x"));
        assert!(m.matches("z"));
    }

    #[test]
    fn word_positions_skip_strings() {
        assert_eq!(
            word_position("limitk(1, x)", "limitk"),
            Some(Position { line: 1, column: 1 })
        );
        assert_eq!(
            word_position("sum(x{a=\"limitk\"}) + limitk(1, x)", "limitk"),
            Some(Position { line: 1, column: 22 })
        );
        assert_eq!(
            word_position("a +\n  limitk(1, x)", "limitk"),
            Some(Position { line: 2, column: 3 })
        );
        assert_eq!(word_position("mylimitk(1)", "limitk"), None);
    }

    #[test]
    fn invalid_utf8_literals_become_replacement_chars() {
        let fixed = repair_invalid_utf8(r#"f("a\xc5z")"#).unwrap();
        assert_eq!(fixed, "f(\"a\u{F7C5}z\")");
        assert_eq!(go_quote("a\u{F7C5}z"), r#""a\xc5z""#);
        assert_eq!(repair_invalid_utf8(r#"f("\xc3\xa9")"#), None);
        assert_eq!(repair_invalid_utf8(r#"f("a\nb", 'x')"#), None);
    }

    #[test]
    fn errors_are_prefixed() {
        let e = parse("sum(").unwrap_err();
        assert!(e.to_string().contains("parse error: "), "{e}");
        assert!(parse("1 +").is_err());
        assert!(parse("").is_err());
    }
}
