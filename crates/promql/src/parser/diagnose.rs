//! Prometheus-style diagnostics for queries that promql-parser rejects.
//!
//! promql-parser reports syntax errors without a position and in its own words ("invalid promql query"),
//! and type errors without a position. Prometheus prints `line:col: parse error: ...` with the position of
//! the offending token or node. Rather than patch the third-party parser, we run a second, small pass over
//! the query text only when promql-parser has already failed: a lexer that follows the states of
//! Prometheus's lexer (so lexer errors such as "unclosed left parenthesis" come out at the same offset), and a
//! recursive-descent recogniser of the PromQL grammar that reports the first token that cannot continue a
//! valid prefix, worded like the error productions of Prometheus's yacc grammar (the innermost enclosing
//! construct that has one gives the "in ..., expected ..." context). It also builds a tree of node positions
//! and types, which places the type errors promql-parser words correctly but cannot locate. Nothing here
//! builds an executable AST; a query this pass accepts is still evaluated from promql-parser's tree.
//!
//! Columns are byte offsets within the line plus one, as Prometheus computes them.

/// One finding: byte offset in the query and message (without the `parse error:` prefix).
pub(crate) type Finding = (usize, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    Eof,
    Ident,
    MetricIdent,
    Number,
    Str,
    Duration,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    /// `=` (label matching).
    Eql,
    /// Binary or matching operators; the text says which.
    Op,
    /// `@`.
    At,
    /// Keywords: by, without, on, ignoring, group_left, group_right, bool, offset, start, end, step.
    Keyword,
    /// Aggregation operators.
    Aggr,
}

#[derive(Debug, Clone)]
struct Tok {
    t: T,
    pos: usize,
    val: String,
}

const AGGREGATORS: &[&str] = &[
    "avg",
    "bottomk",
    "count",
    "count_values",
    "group",
    "max",
    "min",
    "quantile",
    "stddev",
    "stdvar",
    "sum",
    "topk",
    "limitk",
    "limit_ratio",
];
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "start",
    "end",
    "step",
];
const WORD_OPS: &[&str] = &["and", "or", "unless", "atan2"];

impl Tok {
    /// How Prometheus's `unexpected` names this token.
    fn desc(&self) -> String {
        match self.t {
            T::Eof => "end of input".to_owned(),
            T::Op | T::At => format!("<op:{}>", self.val),
            T::Keyword => format!("<{}>", self.val),
            T::Aggr => format!("<aggr:{}>", self.val),
            T::Ident => format!("identifier {}", quote(&self.val)),
            T::MetricIdent => format!("metric identifier {}", quote(&self.val)),
            T::Number => format!("number {}", short(&self.val)),
            T::Str => format!("string {}", short(&self.val)),
            T::Duration => format!("duration {}", short(&self.val)),
            _ => short(&self.val),
        }
    }
}

/// Go's `%q`.
fn quote(s: &str) -> String {
    super::go_quote(s)
}

/// Go's `%.10q...` for values longer than 10 bytes, `%q` otherwise.
fn short(s: &str) -> String {
    if s.len() > 10 {
        let cut: String = s.chars().take(10).collect();
        format!("{}...", quote(&cut))
    } else {
        quote(s)
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    paren_depth: i64,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    /// Just after `[` or a subquery's `:` (Prometheus lexes a duration expression there).
    fresh: Fresh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fresh {
    No,
    Bracket,
    Colon,
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}
fn is_alnum(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// The next token, or a lexer error (its offset is where the failing token started).
    fn next(&mut self) -> Result<Tok, Finding> {
        loop {
            if self.brace_open {
                return self.inside_braces();
            }
            let start = self.pos;
            let tok = |t: T, val: &str| {
                Ok(Tok {
                    t,
                    pos: start,
                    val: val.to_owned(),
                })
            };
            let fresh = std::mem::replace(&mut self.fresh, Fresh::No);
            if let Some(c) = self.peek()
                && c.is_whitespace()
                && fresh != Fresh::No
            {
                self.bump();
                self.fresh = fresh;
                continue;
            }
            match (fresh, self.peek()) {
                (Fresh::Bracket, None) => return Err((start, "unexpected end of input in duration expression".into())),
                (Fresh::Bracket, Some(c)) if is_alpha(c) => {
                    return Err((
                        start,
                        format!("unexpected character in duration expression: {}", go_rune(c)),
                    ));
                }
                (Fresh::Colon, Some(c)) if is_alpha(c) => {
                    return Err((start, format!("unexpected colon {}", go_rune(c))));
                }
                _ => {}
            }
            let Some(c) = self.bump() else {
                if self.paren_depth != 0 {
                    return Err((start, "unclosed left parenthesis".into()));
                }
                if self.bracket_open {
                    return Err((start, "unclosed left bracket".into()));
                }
                return tok(T::Eof, "");
            };
            match c {
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                c if c.is_whitespace() => {}
                ',' => return tok(T::Comma, ","),
                '*' | '/' | '%' | '+' | '-' | '^' => return tok(T::Op, &c.to_string()),
                '=' => match self.peek() {
                    Some('=') => {
                        self.bump();
                        return tok(T::Op, "==");
                    }
                    Some('~') => return Err((start, "unexpected character after '=': '~'".into())),
                    _ => return tok(T::Eql, "="),
                },
                '!' => {
                    if self.peek() == Some('=') {
                        self.bump();
                        return tok(T::Op, "!=");
                    }
                    let n = go_rune(self.peek().unwrap_or('\u{FFFD}'));
                    return Err((start, format!("unexpected character after '!': {n}")));
                }
                '<' | '>' => {
                    if self.peek() == Some('=') {
                        self.bump();
                        return tok(T::Op, &format!("{c}="));
                    }
                    return tok(T::Op, &c.to_string());
                }
                '@' => return tok(T::At, "@"),
                c if c.is_ascii_digit() || (c == '.' && self.peek().is_some_and(|n| n.is_ascii_digit())) => {
                    return self.number_or_duration(start);
                }
                '"' | '\'' => return self.string(start, c),
                '`' => {
                    while let Some(n) = self.bump() {
                        if n == '`' {
                            return tok(T::Str, &self.src[start..self.pos]);
                        }
                    }
                    return Err((start, "unterminated raw string".into()));
                }
                c if is_alpha(c) || c == ':' => {
                    if c == ':' && self.bracket_open {
                        if self.got_colon {
                            return Err((start, "unexpected colon ':'".into()));
                        }
                        self.got_colon = true;
                        self.fresh = Fresh::Colon;
                        return tok(T::Colon, ":");
                    }
                    while self.peek().is_some_and(|n| is_alnum(n) || n == ':') {
                        self.bump();
                    }
                    let word = &self.src[start..self.pos];
                    let lower = word.to_ascii_lowercase();
                    let t = if AGGREGATORS.contains(&lower.as_str()) {
                        T::Aggr
                    } else if KEYWORDS.contains(&lower.as_str()) {
                        T::Keyword
                    } else if WORD_OPS.contains(&lower.as_str()) {
                        T::Op
                    } else if lower == "inf" || lower == "nan" {
                        T::Number
                    } else if word.contains(':') {
                        T::MetricIdent
                    } else {
                        T::Ident
                    };
                    let val = if matches!(t, T::Aggr | T::Keyword | T::Op) {
                        lower
                    } else {
                        word.to_owned()
                    };
                    return Ok(Tok { t, pos: start, val });
                }
                '(' => {
                    self.paren_depth += 1;
                    return tok(T::LParen, "(");
                }
                ')' => {
                    self.paren_depth -= 1;
                    if self.paren_depth < 0 {
                        return Err((self.pos, "unexpected right parenthesis ')'".into()));
                    }
                    return tok(T::RParen, ")");
                }
                '{' => {
                    self.brace_open = true;
                    return tok(T::LBrace, "{");
                }
                '[' => {
                    if self.bracket_open {
                        return Err((start, "unexpected left bracket '['".into()));
                    }
                    self.got_colon = false;
                    self.bracket_open = true;
                    self.fresh = Fresh::Bracket;
                    return tok(T::LBracket, "[");
                }
                ']' => {
                    if !self.bracket_open {
                        return Err((start, "unexpected right bracket ']'".into()));
                    }
                    self.bracket_open = false;
                    return tok(T::RBracket, "]");
                }
                c => return Err((start, format!("unexpected character: {}", go_rune(c)))),
            }
        }
    }

    fn inside_braces(&mut self) -> Result<Tok, Finding> {
        loop {
            let start = self.pos;
            let tok = |t: T, val: &str| {
                Ok(Tok {
                    t,
                    pos: start,
                    val: val.to_owned(),
                })
            };
            let Some(c) = self.bump() else {
                return Err((start, "unexpected end of input inside braces".into()));
            };
            match c {
                c if c.is_whitespace() => {}
                c if is_alpha(c) => {
                    while self.peek().is_some_and(is_alnum) {
                        self.bump();
                    }
                    return tok(T::Ident, &self.src[start..self.pos]);
                }
                ',' => return tok(T::Comma, ","),
                '"' | '\'' => return self.string(start, c),
                '`' => {
                    while let Some(n) = self.bump() {
                        if n == '`' {
                            return tok(T::Str, &self.src[start..self.pos]);
                        }
                    }
                    return Err((start, "unterminated raw string".into()));
                }
                '=' => {
                    if self.peek() == Some('~') {
                        self.bump();
                        return tok(T::Op, "=~");
                    }
                    return tok(T::Eql, "=");
                }
                '!' => match self.bump() {
                    Some('~') => return tok(T::Op, "!~"),
                    Some('=') => return tok(T::Op, "!="),
                    n => {
                        let n = go_rune(n.unwrap_or('\u{FFFD}'));
                        return Err((start, format!("unexpected character after '!' inside braces: {n}")));
                    }
                },
                '{' => return Err((start, "unexpected left brace '{'".into())),
                '}' => {
                    self.brace_open = false;
                    return tok(T::RBrace, "}");
                }
                c => return Err((start, format!("unexpected character inside braces: {}", go_rune(c)))),
            }
        }
    }

    fn string(&mut self, start: usize, q: char) -> Result<Tok, Finding> {
        loop {
            match self.bump() {
                None | Some('\n') => return Err((start, "unterminated quoted string".into())),
                Some('\\') => {
                    let e = self.bump();
                    let hex = |l: &mut Self, n: usize| -> bool {
                        for _ in 0..n {
                            if !l.bump().is_some_and(|c| c.is_ascii_hexdigit()) {
                                return false;
                            }
                        }
                        true
                    };
                    let ok = match e {
                        Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => true,
                        Some(c) if c == q => true,
                        Some('x') => hex(self, 2),
                        Some('u') => hex(self, 4),
                        Some('U') => hex(self, 8),
                        Some('0'..='7') => (0..2).all(|_| self.bump().is_some_and(|c| ('0'..='7').contains(&c))),
                        Some(c) => {
                            return Err((
                                start,
                                format!("unknown escape sequence U+{:04X} {}", u32::from(c), go_rune(c)),
                            ));
                        }
                        None => false,
                    };
                    if !ok {
                        return Err((start, "unterminated quoted string".into()));
                    }
                }
                Some(c) if c == q => {
                    return Ok(Tok {
                        t: T::Str,
                        pos: start,
                        val: self.src[start..self.pos].to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
    }

    fn number_or_duration(&mut self, start: usize) -> Result<Tok, Finding> {
        // As Prometheus: a number (hex, or decimal with fraction and exponent); if a letter follows, the
        // rest of a duration such as 1h30m; the error quotes what was read up to the failure.
        let rest = &self.src[start..];
        let b = rest.as_bytes();
        let at = |k: usize| b.get(k).copied();
        let alnum = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
        let mut end = 0;
        let digits = |k: &mut usize, hex: bool| {
            while at(*k).is_some_and(|c| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() }) {
                *k += 1;
            }
        };
        let bad = |k: usize| Err((start, format!("bad number or duration syntax: {}", quote(&rest[..k]))));
        if rest.starts_with("0x") || rest.starts_with("0X") {
            end = 2;
            digits(&mut end, true);
            if end == 2 && !alnum(at(end)) {
                return Err((
                    start,
                    format!(
                        "error parsing number: strconv.ParseFloat: parsing {}: invalid syntax",
                        quote(&rest[..2])
                    ),
                ));
            }
        } else {
            digits(&mut end, false);
            if at(end) == Some(b'.') {
                end += 1;
                digits(&mut end, false);
            }
            if matches!(at(end), Some(b'e' | b'E')) {
                let mut k = end + 1;
                if matches!(at(k), Some(b'+' | b'-')) {
                    k += 1;
                }
                if !at(k).is_some_and(|c| c.is_ascii_digit()) {
                    return bad(k);
                }
                digits(&mut k, false);
                end = k;
            }
        }
        if at(end) == Some(b'.') {
            return bad(end + 1);
        }
        if !alnum(at(end)) {
            self.pos = start + end;
            return Ok(Tok {
                t: T::Number,
                pos: start,
                val: rest[..end].to_owned(),
            });
        }
        let mut k = end;
        if !at(k).is_some_and(|c| b"smhdwy".contains(&c)) {
            return bad(k);
        }
        k += 1;
        if at(k) == Some(b's') {
            k += 1;
        }
        while at(k).is_some_and(|c| c.is_ascii_digit()) {
            digits(&mut k, false);
            if !at(k).is_some_and(|c| b"smhdw".contains(&c)) {
                return bad(k);
            }
            k += 1;
            if at(k) == Some(b's') {
                k += 1;
            }
        }
        if alnum(at(k)) {
            let n = rest[k..].chars().next().map_or(0, char::len_utf8);
            return bad(k + n);
        }
        self.pos = start + k;
        Ok(Tok {
            t: T::Duration,
            pos: start,
            val: rest[..k].to_owned(),
        })
    }
}

/// Go's `%q` of a rune.
fn go_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_owned(),
        '\\' => "'\\\\'".to_owned(),
        '\n' => "'\\n'".to_owned(),
        '\t' => "'\\t'".to_owned(),
        c => format!("'{c}'"),
    }
}

/// Value types, as Prometheus names them in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Scalar,
    Vector,
    Matrix,
    Str,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Scalar => "scalar",
            Ty::Vector => "instant vector",
            Ty::Matrix => "range vector",
            Ty::Str => "string",
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Number(f64),
    Selector {
        offset: bool,
        at: bool,
    },
    Matrix {
        offset: bool,
        at: bool,
    },
    Subquery {
        offset: bool,
        at: bool,
    },
    Call {
        name: String,
        args: Vec<usize>,
    },
    Aggregate {
        op: String,
        param: Option<usize>,
        expr: usize,
    },
    Binary {
        op: String,
        op_pos: usize,
        lhs: usize,
        rhs: usize,
        bool_: bool,
        on: Vec<String>,
        include: Vec<String>,
        on_set: bool,
    },
    Unary {
        expr: usize,
    },
    Other,
}

#[derive(Debug, Clone)]
struct Node {
    start: usize,
    ty: Ty,
    kind: Kind,
}

/// The recogniser's tree: nodes in the order they were completed (children before parents).
struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Tok,
    nodes: Vec<Node>,
    /// Error contexts of the enclosing constructs (innermost last): (context, expected).
    catchers: Vec<(&'static str, &'static str)>,
    /// Whether the last duration expression was more than a literal.
    dur_complex: bool,
}

type R<T> = Result<T, Finding>;

fn prec(op: &str) -> Option<u8> {
    Some(match op {
        "or" => 1,
        "and" | "unless" => 2,
        "==" | "!=" | "<=" | "<" | ">=" | ">" => 3,
        "+" | "-" => 4,
        "*" | "/" | "%" | "atan2" => 5,
        "^" => 6,
        _ => return None,
    })
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | "<=" | "<" | ">=" | ">")
}
fn is_set(op: &str) -> bool {
    matches!(op, "and" | "or" | "unless")
}

impl<'a> Parser<'a> {
    fn advance(&mut self) -> R<()> {
        self.tok = self.lex.next()?;
        Ok(())
    }

    fn unexpected_in(&self, ctx: &str, expected: &str) -> Finding {
        let mut m = format!("unexpected {}", self.tok.desc());
        if !ctx.is_empty() {
            m.push_str(" in ");
            m.push_str(ctx);
        }
        if !expected.is_empty() {
            m.push_str(", expected ");
            m.push_str(expected);
        }
        (self.tok.pos, m)
    }

    /// A syntax error with no error production of its own: the innermost enclosing one words it.
    fn unexpected(&self) -> Finding {
        let (c, e) = self.catchers.last().copied().unwrap_or(("", ""));
        self.unexpected_in(c, e)
    }

    fn push(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn expr(&mut self, min: u8) -> R<usize> {
        let mut lhs = self.unary()?;
        loop {
            let Some(p) = (if self.tok.t == T::Op { prec(&self.tok.val) } else { None }) else {
                return Ok(lhs);
            };
            if p < min {
                return Ok(lhs);
            }
            let op = self.tok.val.clone();
            let op_pos = self.tok.pos;
            self.advance()?;
            let mut bool_ = false;
            let (mut on, mut include, mut on_set) = (Vec::new(), Vec::new(), false);
            if self.tok.t == T::Keyword && self.tok.val == "bool" {
                bool_ = true;
                self.advance()?;
            }
            if self.tok.t == T::Keyword && (self.tok.val == "on" || self.tok.val == "ignoring") {
                on_set = self.tok.val == "on";
                self.advance()?;
                on = self.grouping_labels()?;
                if self.tok.t == T::Keyword && (self.tok.val == "group_left" || self.tok.val == "group_right") {
                    self.advance()?;
                    if self.tok.t == T::LParen {
                        include = self.grouping_labels()?;
                    } else if self.tok.t == T::Eof {
                        return Err(self.unexpected_in("grouping opts", "\"(\""));
                    }
                }
            }
            let rhs = if op == "^" { self.expr(p)? } else { self.expr(p + 1)? };
            let (lt, rt) = (self.nodes[lhs].ty, self.nodes[rhs].ty);
            let ty = if lt == Ty::Scalar && rt == Ty::Scalar {
                Ty::Scalar
            } else {
                Ty::Vector
            };
            let start = self.nodes[lhs].start;
            lhs = self.push(Node {
                start,
                ty,
                kind: Kind::Binary {
                    op,
                    op_pos,
                    lhs,
                    rhs,
                    bool_,
                    on,
                    include,
                    on_set,
                },
            });
        }
    }

    fn unary(&mut self) -> R<usize> {
        if self.tok.t == T::Op && (self.tok.val == "+" || self.tok.val == "-") {
            let start = self.tok.pos;
            let neg = self.tok.val == "-";
            self.advance()?;
            // Binds like `*`: only `^` is tighter.
            let e = self.expr(6)?;
            if let Kind::Number(v) = self.nodes[e].kind {
                let v = if neg { -v } else { v };
                self.nodes[e].kind = Kind::Number(v);
                self.nodes[e].start = start;
                return Ok(e);
            }
            let ty = self.nodes[e].ty;
            if matches!(ty, Ty::Str | Ty::Matrix) {
                return Err((start, format!("{UNARY_TYPE} {}", quote(ty.name()))));
            }
            return Ok(self.push(Node {
                start,
                ty,
                kind: Kind::Unary { expr: e },
            }));
        }
        let p = self.primary()?;
        self.postfix(p)
    }

    fn number_value(s: &str) -> f64 {
        let l = s.to_ascii_lowercase();
        if l == "inf" {
            return f64::INFINITY;
        }
        if l == "nan" {
            return f64::NAN;
        }
        if let Some(h) = l.strip_prefix("0x") {
            return i64::from_str_radix(h, 16).map_or(f64::NAN, |v| v as f64);
        }
        s.parse().unwrap_or(f64::NAN)
    }

    fn primary(&mut self) -> R<usize> {
        let start = self.tok.pos;
        match self.tok.t {
            T::Number => {
                let v = Self::number_value(&self.tok.val);
                self.advance()?;
                Ok(self.push(Node {
                    start,
                    ty: Ty::Scalar,
                    kind: Kind::Number(v),
                }))
            }
            T::Duration => {
                let v = super::duration::seconds(&self.tok.val).unwrap_or(1.0);
                self.advance()?;
                Ok(self.push(Node {
                    start,
                    ty: Ty::Scalar,
                    kind: Kind::Number(v),
                }))
            }
            T::Str => {
                self.advance()?;
                Ok(self.push(Node {
                    start,
                    ty: Ty::Str,
                    kind: Kind::Other,
                }))
            }
            T::LParen => {
                self.advance()?;
                let e = self.expr(0)?;
                if self.tok.t != T::RParen {
                    return Err(self.unexpected());
                }
                self.advance()?;
                let ty = self.nodes[e].ty;
                Ok(self.push(Node {
                    start,
                    ty,
                    kind: Kind::Other,
                }))
            }
            T::LBrace => self.selector(start, false),
            T::Ident => {
                let name = self.tok.val.clone();
                self.advance()?;
                if self.tok.t == T::LParen {
                    let args = self.call_body()?;
                    let ty = match name.as_str() {
                        "time" | "scalar" | "pi" => Ty::Scalar,
                        _ => Ty::Vector,
                    };
                    return Ok(self.push(Node {
                        start,
                        ty,
                        kind: Kind::Call { name, args },
                    }));
                }
                self.selector(start, true)
            }
            T::MetricIdent => {
                self.advance()?;
                self.selector(start, true)
            }
            T::Aggr => {
                // Followed by anything but `(`, `by` or `without`, Prometheus's grammar reads the word as
                // a metric name.
                let next_is_body = {
                    let mut l = Lexer {
                        src: self.lex.src,
                        pos: self.lex.pos,
                        paren_depth: 0,
                        brace_open: false,
                        bracket_open: false,
                        got_colon: false,
                        fresh: Fresh::No,
                    };
                    match l.next() {
                        Ok(t) => t.t == T::LParen || (t.t == T::Keyword && (t.val == "by" || t.val == "without")),
                        Err(_) => true,
                    }
                };
                if next_is_body {
                    self.aggregate()
                } else {
                    self.advance()?;
                    self.selector(start, true)
                }
            }
            _ => Err(self.unexpected()),
        }
    }

    fn call_body(&mut self) -> R<Vec<usize>> {
        // At `(`.
        self.advance()?;
        let mut args = Vec::new();
        if self.tok.t == T::RParen {
            self.advance()?;
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            match self.tok.t {
                T::Comma => {
                    let comma = self.tok.pos;
                    self.advance()?;
                    if self.tok.t == T::RParen {
                        return Err((comma, "trailing commas not allowed in function call args".into()));
                    }
                }
                T::RParen => {
                    self.advance()?;
                    return Ok(args);
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn aggregate(&mut self) -> R<usize> {
        let start = self.tok.pos;
        let name = self.tok.val.clone();
        self.advance()?;
        self.catchers.push(("aggregation", ""));
        let modifier = |p: &mut Self| -> R<bool> {
            if p.tok.t == T::Keyword && (p.tok.val == "by" || p.tok.val == "without") {
                p.advance()?;
                p.grouping_labels()?;
                return Ok(true);
            }
            Ok(false)
        };
        let before = modifier(self)?;
        if self.tok.t != T::LParen {
            return Err(self.unexpected_in("aggregation", ""));
        }
        let args = self.call_body()?;
        if !before {
            modifier(self)?;
        }
        self.catchers.pop();
        let want = if matches!(
            name.as_str(),
            "topk" | "bottomk" | "quantile" | "count_values" | "limitk" | "limit_ratio"
        ) {
            2
        } else {
            1
        };
        if args.is_empty() {
            return Err((start, "no arguments for aggregate expression provided".into()));
        }
        if args.len() != want {
            return Err((
                start,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
            ));
        }
        let (param, expr) = if want == 2 {
            (Some(args[0]), args[1])
        } else {
            (None, args[0])
        };
        Ok(self.push(Node {
            start,
            ty: Ty::Vector,
            kind: Kind::Aggregate { op: name, param, expr },
        }))
    }

    /// At the token after `by`/`without`/`on`/`ignoring`/`group_x`.
    fn grouping_labels(&mut self) -> R<Vec<String>> {
        if self.tok.t != T::LParen {
            return Err(self.unexpected_in("grouping opts", "\"(\""));
        }
        self.advance()?;
        let mut out = Vec::new();
        if self.tok.t == T::RParen {
            self.advance()?;
            return Ok(out);
        }
        loop {
            match self.tok.t {
                T::Ident | T::MetricIdent | T::Keyword | T::Aggr => out.push(self.tok.val.clone()),
                T::Op if WORD_OPS.contains(&self.tok.val.as_str()) => out.push(self.tok.val.clone()),
                T::Str => out.push(self.tok.val.clone()),
                _ => return Err(self.unexpected_in("grouping opts", "label")),
            }
            self.advance()?;
            match self.tok.t {
                T::Comma => {
                    self.advance()?;
                    if self.tok.t == T::RParen {
                        self.advance()?;
                        return Ok(out);
                    }
                }
                T::RParen => {
                    self.advance()?;
                    return Ok(out);
                }
                _ => return Err(self.unexpected_in("grouping opts", "\",\" or \")\"")),
            }
        }
    }

    /// A vector selector; `named` when a metric name was read (the current token may be `{`).
    fn selector(&mut self, start: usize, named: bool) -> R<usize> {
        let mut nonempty = named;
        if self.tok.t == T::LBrace {
            self.advance()?;
            let mut first = true;
            loop {
                if self.tok.t == T::RBrace {
                    self.advance()?;
                    break;
                }
                let _ = first;
                first = false;
                match self.tok.t {
                    T::Ident | T::Str => {
                        let is_str = self.tok.t == T::Str;
                        let label_pos = self.tok.pos;
                        self.advance()?;
                        if matches!(self.tok.t, T::Eql)
                            || (self.tok.t == T::Op && matches!(self.tok.val.as_str(), "!=" | "=~" | "!~"))
                        {
                            let op = self.tok.val.clone();
                            self.advance()?;
                            if self.tok.t != T::Str {
                                return Err(self.unexpected_in("label matching", "string"));
                            }
                            let v = self.tok.val.clone();
                            if (op == "=~" || op == "!~")
                                && let Some(m) = go_regex_error(&v)
                            {
                                return Err((label_pos, m));
                            }
                            let inner = &v[1..v.len().saturating_sub(1)];
                            let matches_empty = match op.as_str() {
                                "=" => inner.is_empty(),
                                "!=" => !inner.is_empty(),
                                // Escapes are rare here; when in doubt, count the matcher as non-empty.
                                o => regex::Regex::new(&format!("^(?s:{inner})$"))
                                    .map(|r| r.is_match("") == (o == "=~"))
                                    .unwrap_or(false),
                            };
                            if !matches_empty {
                                nonempty = true;
                            }
                            self.advance()?;
                        } else if is_str {
                            nonempty = true;
                        } else {
                            return Err(self.unexpected_in("label matching", "label matching operator"));
                        }
                    }
                    _ => return Err(self.unexpected_in("label matching", "identifier or \"}\"")),
                }
                match self.tok.t {
                    T::Comma => self.advance()?,
                    T::RBrace => {
                        self.advance()?;
                        break;
                    }
                    _ => return Err(self.unexpected_in("label matching", "\",\" or \"}\"")),
                }
            }
        }
        if !nonempty {
            return Err((
                start,
                "vector selector must contain at least one non-empty matcher".into(),
            ));
        }
        Ok(self.push(Node {
            start,
            ty: Ty::Vector,
            kind: Kind::Selector {
                offset: false,
                at: false,
            },
        }))
    }

    /// `[range]`, `[range:step]`, `offset d` and `@ t` after an expression.
    fn postfix(&mut self, mut e: usize) -> R<usize> {
        loop {
            match self.tok.t {
                T::LBracket => e = self.bracket(e)?,
                T::Keyword if self.tok.val == "offset" => {
                    self.advance()?;
                    let neg = self.tok.t == T::Op && self.tok.val == "-";
                    if !self.starts_duration() {
                        return Err(self.unexpected_in("offset", "number or duration"));
                    }
                    let _ = neg;
                    let d = self.offset_duration()?;
                    self.literal_duration(d.0)?;
                    let start = self.nodes[e].start;
                    match &mut self.nodes[e].kind {
                        Kind::Selector { offset, .. } | Kind::Matrix { offset, .. } | Kind::Subquery { offset, .. } => {
                            if *offset {
                                return Err((start, "offset may not be set multiple times".into()));
                            }
                            *offset = true;
                        }
                        _ => {
                            return Err((
                                start,
                                "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery".into(),
                            ));
                        }
                    }
                }
                T::At => {
                    self.advance()?;
                    let mut sign = 1.0;
                    let mut ts = None;
                    if self.tok.t == T::Op && (self.tok.val == "+" || self.tok.val == "-") {
                        if self.tok.val == "-" {
                            sign = -1.0;
                        }
                        self.advance()?;
                        if self.tok.t != T::Number {
                            return Err(self.unexpected_in("@", "timestamp"));
                        }
                    }
                    if self.tok.t == T::Number {
                        ts = Some(sign * Self::number_value(&self.tok.val));
                        self.advance()?;
                    } else if self.tok.t == T::Keyword && (self.tok.val == "start" || self.tok.val == "end") {
                        self.advance()?;
                        if self.tok.t != T::LParen {
                            return Err(self.unexpected_in("@", "timestamp"));
                        }
                        self.advance()?;
                        if self.tok.t != T::RParen {
                            return Err(self.unexpected_in("@", "timestamp"));
                        }
                        self.advance()?;
                    } else {
                        return Err(self.unexpected_in("@", "timestamp"));
                    }
                    let start = self.nodes[e].start;
                    if let Some(t) = ts
                        && (!t.is_finite() || t >= i64::MAX as f64 || t <= i64::MIN as f64)
                    {
                        return Err((start, format!("timestamp out of bounds for @ modifier: {}", go_f(t))));
                    }
                    match &mut self.nodes[e].kind {
                        Kind::Selector { at, .. } | Kind::Matrix { at, .. } | Kind::Subquery { at, .. } => {
                            if *at {
                                return Err((start, "@ <timestamp> may not be set multiple times".into()));
                            }
                            *at = true;
                        }
                        _ => {
                            return Err((
                                start,
                                "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery".into(),
                            ));
                        }
                    }
                }
                _ => return Ok(e),
            }
        }
    }

    fn starts_duration(&self) -> bool {
        match self.tok.t {
            T::Number | T::Duration | T::LParen => true,
            T::Op => self.tok.val == "-" || self.tok.val == "+",
            T::Keyword => self.tok.val == "step",
            _ => false,
        }
    }

    /// A duration expression; returns its start and its value when it is a plain (signed) literal.
    fn duration_expr(&mut self, ctx: &'static str, expected: &'static str) -> R<(usize, Option<f64>)> {
        self.catchers.push((ctx, expected));
        self.dur_complex = false;
        let start = self.tok.pos;
        let r = self.dur_binary(0);
        self.catchers.pop();
        let v = r?;
        Ok((start, v))
    }

    /// The duration after `offset`: one signed literal (or a parenthesised expression), so that
    /// `x offset 5m * 2` is `(x offset 5m) * 2`, as Prometheus parses it.
    fn offset_duration(&mut self) -> R<(usize, Option<f64>)> {
        self.catchers.push(("offset", "number or duration"));
        self.dur_complex = false;
        let start = self.tok.pos;
        let r = self.offset_literal();
        self.catchers.pop();
        Ok((start, r?))
    }

    fn offset_literal(&mut self) -> R<Option<f64>> {
        let neg = match self.tok.t {
            T::Op if self.tok.val == "-" || self.tok.val == "+" => {
                let neg = self.tok.val == "-";
                self.advance()?;
                neg
            }
            _ => false,
        };
        let v = self.dur_unary()?;
        Ok(v.map(|v| if neg { -v } else { v }))
    }

    fn dur_binary(&mut self, min: u8) -> R<Option<f64>> {
        let mut lhs = self.dur_unary()?;
        loop {
            let p = match (self.tok.t, self.tok.val.as_str()) {
                (T::Op, "+" | "-") => 4,
                (T::Op, "*" | "/" | "%") => 5,
                (T::Op, "^") => 6,
                _ => return Ok(lhs),
            };
            if p < min {
                return Ok(lhs);
            }
            let right = self.tok.val == "^";
            self.advance()?;
            self.dur_binary(if right { p } else { p + 1 })?;
            self.dur_complex = true;
            lhs = None;
        }
    }

    fn dur_unary(&mut self) -> R<Option<f64>> {
        match self.tok.t {
            T::Op if self.tok.val == "-" || self.tok.val == "+" => {
                let neg = self.tok.val == "-";
                self.advance()?;
                let v = self.dur_binary(6)?;
                Ok(v.map(|v| if neg { -v } else { v }))
            }
            T::Number => {
                let v = Self::number_value(&self.tok.val);
                self.advance()?;
                Ok(Some(v))
            }
            T::Duration => {
                let v = super::duration::seconds(&self.tok.val).unwrap_or(1.0);
                self.advance()?;
                Ok(Some(v))
            }
            T::Keyword if self.tok.val == "step" => {
                self.dur_complex = true;
                self.advance()?;
                if self.tok.t != T::LParen {
                    return Err(self.unexpected());
                }
                self.advance()?;
                if self.tok.t != T::RParen {
                    return Err(self.unexpected());
                }
                self.advance()?;
                Ok(None)
            }
            T::LParen => {
                self.dur_complex = true;
                self.advance()?;
                self.dur_binary(0)?;
                if self.tok.t != T::RParen {
                    return Err(self.unexpected());
                }
                self.advance()?;
                Ok(None)
            }
            _ => Err(self.unexpected()),
        }
    }

    /// Duration arithmetic is an experimental feature: without it a duration is one (signed) literal.
    fn literal_duration(&self, start: usize) -> R<()> {
        if self.dur_complex {
            return Err((start, "experimental duration expression is not enabled".into()));
        }
        Ok(())
    }

    fn positive(&self, (pos, v): (usize, Option<f64>)) -> R<()> {
        if let Some(v) = v
            && v.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        {
            return Err((pos, "duration must be greater than 0".into()));
        }
        Ok(())
    }

    fn bracket(&mut self, e: usize) -> R<usize> {
        let lb = self.tok.pos;
        self.advance()?;
        if !self.starts_duration() {
            return Err(self.unexpected_in("subquery selector", "number or duration"));
        }
        let range = self.duration_expr("subquery selector", "number or duration")?;
        self.positive(range)?;
        self.literal_duration(range.0)?;
        let start = self.nodes[e].start;
        match self.tok.t {
            T::RBracket => {
                self.advance()?;
                let msg = match self.nodes[e].kind {
                    Kind::Selector { offset: true, .. } => Some("no offset modifiers allowed before range"),
                    Kind::Selector { at: true, .. } => Some("no @ modifiers allowed before range"),
                    Kind::Selector { .. } => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(m) = msg {
                    return Err((lb, m.into()));
                }
                Ok(self.push(Node {
                    start,
                    ty: Ty::Matrix,
                    kind: Kind::Matrix {
                        offset: false,
                        at: false,
                    },
                }))
            }
            T::Colon => {
                self.advance()?;
                if self.tok.t != T::RBracket {
                    if !self.starts_duration() {
                        return Err(self.unexpected_in("subquery selector", "number or duration or \"]\""));
                    }
                    let step = self.duration_expr("subquery selector", "number or duration or \"]\"")?;
                    self.positive(step)?;
                    self.literal_duration(step.0)?;
                    if self.tok.t != T::RBracket {
                        return Err(self.unexpected_in("subquery selector", "\"]\""));
                    }
                }
                self.advance()?;
                Ok(self.push(Node {
                    start,
                    ty: Ty::Matrix,
                    kind: Kind::Subquery {
                        offset: false,
                        at: false,
                    },
                }))
            }
            _ => Err(self.unexpected_in("subquery or range", "\":\" or \"]\"")),
        }
    }
}

/// The error Go's regexp package gives for the most common malformed patterns (unbalanced parentheses and
/// brackets, a repetition with nothing to repeat), for the quoted literal `lit`; `None` for anything else.
fn go_regex_error(lit: &str) -> Option<String> {
    let raw = lit.starts_with('`');
    let body = &lit[1..lit.len().saturating_sub(1)];
    if !raw && body.contains('\\') {
        return None;
    }
    let b: Vec<char> = body.chars().collect();
    let mut depth = 0i64;
    let mut i = 0;
    let err = |code: &str, expr: &str| Some(format!("error parsing regexp: {code}: `{expr}`"));
    while i < b.len() {
        match b[i] {
            '\\' => i += 1,
            '[' => {
                let st = i;
                i += 1;
                if b.get(i) == Some(&'^') {
                    i += 1;
                }
                if b.get(i) == Some(&']') {
                    i += 1;
                }
                while i < b.len() && b[i] != ']' {
                    if b[i] == '\\' || (b[i] == '[' && b.get(i + 1) == Some(&':')) {
                        return None;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return err("missing closing ]", &b[st..].iter().collect::<String>());
                }
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return err("unexpected )", body);
                }
            }
            '*' | '+' | '?' => {
                let prev = if i == 0 { None } else { Some(b[i - 1]) };
                if matches!(prev, None | Some('(') | Some('|')) {
                    return err("missing argument to repetition operator", &b[i].to_string());
                }
            }
            _ => {}
        }
        i += 1;
    }
    if depth > 0 {
        return err("missing closing )", body);
    }
    None
}

/// Go's `%f`.
fn go_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v:.6}")
    }
}

/// The outcome of the second pass.
pub(crate) enum Diagnosis {
    /// A syntax (or parse-time) error, worded and placed as Prometheus does.
    Error(Finding),
    /// The text parses; the tree can place type errors.
    Parsed(Tree),
}

/// Node positions and types of a query that parses.
pub(crate) struct Tree {
    nodes: Vec<Node>,
    src: String,
}

/// Start of the type error of a unary operator on a string or range vector.
pub(crate) const UNARY_TYPE: &str =
    "unary expression only allowed on expressions of type scalar or instant vector, got";

/// The message for a query without an expression.
pub(crate) const NO_EXPRESSION: &str = "no expression found in input";

/// Runs the second pass over `query`.
pub(crate) fn diagnose(query: &str) -> Diagnosis {
    let mut lex = Lexer {
        src: query,
        pos: 0,
        paren_depth: 0,
        brace_open: false,
        bracket_open: false,
        got_colon: false,
        fresh: Fresh::No,
    };
    let first = match lex.next() {
        Ok(t) => t,
        Err(f) => return Diagnosis::Error(f),
    };
    if first.t == T::Eof {
        // Prometheus gives this one no position ("unknown position" for an empty query, else 1:1).
        return Diagnosis::Error((if query.is_empty() { usize::MAX } else { 0 }, NO_EXPRESSION.into()));
    }
    let mut p = Parser {
        lex,
        tok: first,
        nodes: Vec::new(),
        catchers: Vec::new(),
        dur_complex: false,
    };
    let r = p
        .expr(0)
        .and_then(|_| if p.tok.t == T::Eof { Ok(()) } else { Err(p.unexpected()) });
    match r {
        Err(f) => Diagnosis::Error(f),
        Ok(()) => Diagnosis::Parsed(Tree {
            nodes: p.nodes,
            src: query.to_owned(),
        }),
    }
}

impl Tree {
    /// Where Prometheus reports the (already Prometheus-worded) type error `msg`, if this tree can tell.
    pub(crate) fn locate(&self, msg: &str) -> Option<usize> {
        let op_pos = |n: &Node| match &n.kind {
            Kind::Binary { op_pos, .. } => Some(*op_pos),
            _ => None,
        };
        for n in &self.nodes {
            match &n.kind {
                Kind::Binary {
                    op,
                    lhs,
                    rhs,
                    bool_,
                    on,
                    include,
                    on_set,
                    ..
                } => {
                    let (l, r) = (&self.nodes[*lhs], &self.nodes[*rhs]);
                    let ok = |t: Ty| t == Ty::Scalar || t == Ty::Vector;
                    if msg.starts_with("bool modifier can only be used") && *bool_ && !is_comparison(op) {
                        return op_pos(n);
                    }
                    if msg.starts_with("comparisons between scalars")
                        && is_comparison(op)
                        && !bool_
                        && l.ty == Ty::Scalar
                        && r.ty == Ty::Scalar
                    {
                        return op_pos(n);
                    }
                    if msg.contains("must not occur in ON and GROUP clause")
                        && *on_set
                        && on.iter().any(|a| include.contains(a))
                    {
                        return op_pos(n);
                    }
                    if msg.starts_with("binary expression must contain only") {
                        if !ok(l.ty) {
                            return Some(l.start);
                        }
                        if !ok(r.ty) {
                            return Some(r.start);
                        }
                    }
                    if msg.starts_with("set operator") && is_set(op) && (l.ty == Ty::Scalar || r.ty == Ty::Scalar) {
                        return Some(n.start);
                    }
                    if (msg.starts_with("vector matching only allowed")
                        || msg.starts_with("no grouping allowed")
                        || msg.starts_with("set operations must"))
                        && (!on.is_empty() || *on_set || is_set(op))
                    {
                        return Some(n.start);
                    }
                }
                Kind::Unary { expr }
                    if msg.starts_with("unary expression only allowed")
                        && !matches!(self.nodes[*expr].ty, Ty::Scalar | Ty::Vector) =>
                {
                    return Some(n.start);
                }
                Kind::Aggregate { param, expr, .. } => {
                    if msg.contains("in aggregation parameter")
                        && let Some(p) = param
                    {
                        return Some(self.nodes[*p].start);
                    }
                    if msg.contains("in aggregation expression") {
                        return Some(self.nodes[*expr].start);
                    }
                }
                Kind::Call { name, args } => {
                    let call = format!("in call to function {}", quote(name));
                    // Prometheus checks the arguments in order; without the signatures at hand we take the
                    // first argument of the reported type, skipping a leading vector argument when a
                    // scalar or string is expected (the usual `f(v, s...)` shape).
                    if msg.contains(&call)
                        && let Some(got) = msg.rsplit(", got ").next()
                    {
                        let scalar_first = matches!(
                            name.as_str(),
                            "histogram_quantile" | "quantile_over_time" | "histogram_fraction"
                        );
                        let want_vector = msg.starts_with("expected type instant vector")
                            || msg.starts_with("expected type range vector");
                        let skip = usize::from(!scalar_first && !want_vector && args.len() > 1);
                        let found = args
                            .iter()
                            .skip(skip)
                            .find(|&&a| self.nodes[a].ty.name() == got)
                            .or_else(|| args.iter().find(|&&a| self.nodes[a].ty.name() == got));
                        if let Some(a) = found {
                            return Some(self.nodes[*a].start);
                        }
                    }
                    if msg.contains(&format!("in call to {}", quote(name)))
                        || msg.contains(&format!("name {}", quote(name)))
                    {
                        return Some(n.start);
                    }
                }
                _ => {}
            }
        }
        let _ = &self.src;
        None
    }
}

impl Tree {
    /// Where argument `arg` of a call to `func` starts, for an annotation about it (Prometheus places
    /// annotations at the argument's position). Among several such calls, the first whose argument text
    /// names `metric`, or is the literal `number`, wins; else the first in the text.
    pub(crate) fn locate_arg(
        &self,
        func: &str,
        arg: usize,
        metric: Option<&str>,
        number: Option<f64>,
    ) -> Option<usize> {
        let cands = self.nodes.iter().filter_map(|n| match &n.kind {
            Kind::Call { name, args } if name == func => args.get(arg).copied(),
            _ => None,
        });
        self.best(cands, metric, number)
    }

    /// Where the parameter of an aggregation `op` starts (see [`Tree::locate_arg`]).
    pub(crate) fn locate_param(&self, op: &str, number: Option<f64>) -> Option<usize> {
        let cands = self.nodes.iter().filter_map(|n| match &n.kind {
            Kind::Aggregate { op: o, param, .. } if o == op => *param,
            _ => None,
        });
        self.best(cands, None, number)
    }

    fn best(&self, cands: impl Iterator<Item = usize>, metric: Option<&str>, number: Option<f64>) -> Option<usize> {
        let cands: Vec<usize> = cands.collect();
        let names = |i: usize, m: &str| {
            let t = &self.src[self.nodes[i].start..];
            let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
            (t.starts_with(m) && !t[m.len()..].starts_with(ident)) || t.contains(&format!("\"{m}\""))
        };
        let hit = cands.iter().copied().find(|&i| {
            metric.is_some_and(|m| names(i, m))
                || number.is_some_and(
                    |v| matches!(self.nodes[i].kind, Kind::Number(x) if x == v || (x.is_nan() && v.is_nan())),
                )
        });
        let i = hit.or(cands.first().copied())?;
        // Prometheus evaluates a subquery argument into a stand-in selector without a position, so an
        // annotation about that argument is placed at offset 0 (`1:1`), as the reference binary prints.
        Some(if matches!(self.nodes[i].kind, Kind::Subquery { .. }) {
            0
        } else {
            self.nodes[i].start
        })
    }
}

/// Line and column (column = byte offset within the line plus one) of byte offset `pos`.
pub(crate) fn line_col(query: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(query.len());
    let before = &query.as_bytes()[..pos];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    (line, col)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::parse;

    fn err(q: &str) -> String {
        parse(q).map(|_| "OK".to_owned()).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn lexer_errors_are_placed_where_prometheus_places_them() {
        assert_eq!(err("sum("), "1:5: parse error: unclosed left parenthesis");
        assert_eq!(err(")"), "1:2: parse error: unexpected right parenthesis ')'");
        assert_eq!(err("x]"), "1:2: parse error: unexpected right bracket ']'");
        assert_eq!(
            err("x[foo]"),
            "1:3: parse error: unexpected character in duration expression: 'f'"
        );
        assert_eq!(
            err("x{a=\"\\q\"}"),
            "1:5: parse error: unknown escape sequence U+0071 'q'"
        );
        assert_eq!(err("1y2x"), "1:1: parse error: bad number or duration syntax: \"1y2\"");
        assert_eq!(err(""), "unknown position: parse error: no expression found in input");
        assert_eq!(err("a +\n  b )"), "2:6: parse error: unexpected right parenthesis ')'");
    }

    #[test]
    fn syntax_errors_take_the_innermost_context() {
        assert_eq!(
            err("x{a=}"),
            "1:5: parse error: unexpected \"}\" in label matching, expected string"
        );
        assert_eq!(
            err("sum by (a) x"),
            "1:12: parse error: unexpected identifier \"x\" in aggregation"
        );
        assert_eq!(err("sum x"), "1:5: parse error: unexpected identifier \"x\"");
        assert_eq!(err("1 +* 2"), "1:4: parse error: unexpected <op:*>");
        assert_eq!(
            err("x[5m + ]"),
            "1:8: parse error: unexpected \"]\" in subquery selector, expected number or duration"
        );
        assert_eq!(
            err("x + on(a) group_left"),
            "1:21: parse error: unexpected end of input in grouping opts, expected \"(\""
        );
    }

    /// `x offset 17s * 1` is `(x offset 17s) * 1`: the offset takes one literal, so the tree the
    /// annotations are placed in still parses (the sweep against the reference found the warning
    /// losing its position here).
    #[test]
    fn an_offset_takes_one_literal() {
        use crate::parser::{Anchor, position_annotations};
        let q = "quantile(1.5, x) - y offset 17s * 1";
        assert!(matches!(super::diagnose(q), super::Diagnosis::Parsed(_)));
        let placed = position_annotations(
            q,
            vec![(
                "w".to_owned(),
                Some(Anchor::AggParam {
                    op: "quantile",
                    number: Some(1.5),
                }),
            )],
        );
        assert_eq!(placed, vec!["w (1:10)".to_owned()]);
        assert_eq!(err("y offset -17s * 2"), "OK");
    }

    #[test]
    fn type_errors_get_the_node_position() {
        assert_eq!(
            err("round(x, x)"),
            "1:10: parse error: expected type scalar in call to function \"round\", got instant vector"
        );
        assert_eq!(
            err("x[1m] + 1"),
            "1:1: parse error: binary expression must contain only scalar and instant vector types"
        );
        assert_eq!(
            err("1 > 2"),
            "1:3: parse error: comparisons between scalars must use BOOL modifier"
        );
        assert_eq!(err("x[0]"), "1:3: parse error: duration must be greater than 0");
        assert_eq!(
            err("1 + +\"a\""),
            "1:5: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\""
        );
        assert_eq!(
            err("x{a=~\"(\"}"),
            "1:3: parse error: error parsing regexp: missing closing ): `(`"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any soup of PromQL-ish pieces: the second pass never panics and every error prints.
        #[test]
        fn never_panics(parts in prop::collection::vec(prop::sample::select(vec![
            "x", "sum", "by", "(", ")", "[", "]", "{", "}", ",", ":", "=", "=~", "!", "\"a\"", "'", "`", "\\",
            "5m", "0", "-", "+", "*", "^", "@", "offset", "on", "group_left", "bool", "1e", "0x", ".", " ", "\n",
            "#", "rate", "é", "start()", "step()", "and", "1.5", "Inf", "NaN",
        ]), 0..24)) {
            let q: String = parts.concat();
            if let Err(e) = parse(&q) {
                prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn never_panics_on_arbitrary_text(q in "\\PC{0,40}") {
            let _ = parse(&q);
        }
    }
}
