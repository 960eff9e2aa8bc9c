//! Duration arithmetic (Prometheus 3.5's `promql-duration-expr`): `foo[5m+1m]`, `foo[1h/2:10s*3]`,
//! `foo offset (2 * 2)`. promql-parser 0.11 does not parse these, so before a second parse attempt we fold
//! each such expression into a plain millisecond duration literal.

/// Rewrites duration expressions inside `[...]` and after `offset` into literals. Returns `None` when there
/// is nothing to rewrite or an expression does not evaluate (the caller then reports the original error).
pub(crate) fn fold(input: &str) -> Option<String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = String::with_capacity(input.len());
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            let end = skip_string(&chars, i);
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if c == '[' {
            let close = (i + 1..chars.len()).find(|&k| chars[k] == ']')?;
            let inner: String = chars[i + 1..close].iter().collect();
            if inner.contains(['+', '-', '*', '/', '%', '^', '(']) {
                let mut parts = Vec::new();
                for p in inner.splitn(2, ':') {
                    if p.trim().is_empty() {
                        parts.push(String::new());
                    } else {
                        parts.push(literal(eval(p)?)?);
                    }
                }
                out.push('[');
                out.push_str(&parts.join(":"));
                out.push(']');
                changed = true;
            } else {
                out.push('[');
                out.push_str(&inner);
                out.push(']');
            }
            i = close + 1;
            continue;
        }
        if is_word_at(&chars, i, "offset") {
            out.push_str("offset");
            let mut k = i + 6;
            while k < chars.len() && chars[k].is_whitespace() {
                k += 1;
            }
            let mut neg = false;
            let mut k2 = k;
            if k2 < chars.len() && chars[k2] == '-' {
                neg = true;
                k2 += 1;
                while k2 < chars.len() && chars[k2].is_whitespace() {
                    k2 += 1;
                }
            }
            if k2 < chars.len() && chars[k2] == '(' {
                let close = matching_paren(&chars, k2)?;
                let inner: String = chars[k2 + 1..close].iter().collect();
                let mut v = eval(&inner)?;
                if neg {
                    v = -v;
                }
                out.push(' ');
                if v < 0.0 {
                    out.push('-');
                }
                out.push_str(&literal(v.abs())?);
                changed = true;
                i = close + 1;
            } else {
                i += 6;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let q = chars[start];
    let mut k = start + 1;
    while k < chars.len() {
        if chars[k] == '\\' && q != '`' {
            k += 2;
            continue;
        }
        if chars[k] == q {
            return k + 1;
        }
        k += 1;
    }
    chars.len()
}

fn is_word_at(chars: &[char], i: usize, w: &str) -> bool {
    let wc: Vec<char> = w.chars().collect();
    if i + wc.len() > chars.len() || chars[i..i + wc.len()] != wc[..] {
        return false;
    }
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    (i == 0 || !ident(chars[i - 1])) && chars.get(i + wc.len()).is_none_or(|&c| !ident(c))
}

fn matching_paren(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (k, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// Seconds as a millisecond literal; refuses non-finite values.
fn literal(secs: f64) -> Option<String> {
    if !secs.is_finite() || secs.abs() > 9.0e15 {
        return None;
    }
    let ms = (secs * 1000.0).round() as i64;
    if ms < 0 {
        return Some(format!("-{}ms", -ms));
    }
    Some(format!("{ms}ms"))
}

/// Evaluates a duration expression to seconds.
fn eval(s: &str) -> Option<f64> {
    let toks = lex(s)?;
    let mut p = Parser { toks, pos: 0 };
    let v = p.expr()?;
    (p.pos == p.toks.len()).then_some(v)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Op(char),
}

fn lex(s: &str) -> Option<Vec<Tok>> {
    let b: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if "+-*/%^()".contains(c) {
            out.push(Tok::Op(c));
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.') {
                i += 1;
            }
            let word: String = b[st..i].iter().collect();
            out.push(Tok::Num(number_or_duration(&word)?));
        } else {
            return None;
        }
    }
    Some(out)
}

/// `1.5` (seconds) or a compound duration such as `1h30m` or `500ms`, in seconds.
pub(crate) fn seconds(w: &str) -> Option<f64> {
    number_or_duration(w)
}

fn number_or_duration(w: &str) -> Option<f64> {
    if let Ok(v) = w.parse::<f64>() {
        return Some(v);
    }
    let mut total = 0.0;
    let b = w.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: f64 = w[st..i].parse().ok()?;
        let us = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match &w[us..i] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            "y" => 31_536_000.0,
            _ => return None,
        };
        total += n * unit;
    }
    Some(total)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_op(&self) -> Option<char> {
        match self.toks.get(self.pos) {
            Some(Tok::Op(c)) => Some(*c),
            _ => None,
        }
    }

    fn expr(&mut self) -> Option<f64> {
        let mut v = self.term()?;
        while let Some(op @ ('+' | '-')) = self.peek_op() {
            self.pos += 1;
            let r = self.term()?;
            v = if op == '+' { v + r } else { v - r };
        }
        Some(v)
    }

    fn term(&mut self) -> Option<f64> {
        let mut v = self.unary()?;
        while let Some(op @ ('*' | '/' | '%')) = self.peek_op() {
            self.pos += 1;
            let r = self.unary()?;
            v = match op {
                '*' => v * r,
                '/' => v / r,
                _ => v % r,
            };
        }
        Some(v)
    }

    fn unary(&mut self) -> Option<f64> {
        match self.peek_op() {
            Some('-') => {
                self.pos += 1;
                Some(-self.unary()?)
            }
            Some('+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Option<f64> {
        let base = self.primary()?;
        if self.peek_op() == Some('^') {
            self.pos += 1;
            let e = self.unary()?;
            return Some(base.powf(e));
        }
        Some(base)
    }

    fn primary(&mut self) -> Option<f64> {
        match self.toks.get(self.pos)?.clone() {
            Tok::Num(v) => {
                self.pos += 1;
                Some(v)
            }
            Tok::Op('(') => {
                self.pos += 1;
                let v = self.expr()?;
                if self.peek_op() != Some(')') {
                    return None;
                }
                self.pos += 1;
                Some(v)
            }
            Tok::Op(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_ranges_subqueries_and_offsets() {
        assert_eq!(fold("rate(x[26m+4m])").as_deref(), Some("rate(x[1800000ms])"));
        assert_eq!(fold("x[29s+1s:5s+5s]").as_deref(), Some("x[30000ms:10000ms]"));
        assert_eq!(fold("x offset (2 * 2)").as_deref(), Some("x offset 4000ms"));
        assert_eq!(fold("x offset -(2 ^ 2)").as_deref(), Some("x offset -4000ms"));
        assert_eq!(fold("x offset (-2 ^ 2)").as_deref(), Some("x offset -4000ms"));
        assert_eq!(fold("x[1h30m % 1h]").as_deref(), Some("x[1800000ms]"));
        assert_eq!(fold(r#"x{a="[1+1]"}[5m]"#), None);
        assert_eq!(fold("x[5m]"), None);
    }
}
