//! The pull parser: one line in, at most one [`Entry`] out, borrowing from the input.
//!
//! Both formats are line based, so `next` finds the end of the line with `memchr` and then scans the line once.
//! The scan validates everything Prometheus's `textparse` validates while it tokenizes (names, label syntax, UTF-8,
//! value and timestamp syntax) and records only spans and numbers; label sets are resolved into
//! [`diamond_model::Labels`] only when [`SampleEntry::labels`] is called, so a scrape that keeps a series cache
//! keyed by [`SampleEntry::series`] pays no allocation per sample.

use std::collections::HashSet;

use diamond_model::{EXEMPLAR_MAX_LABEL_SET_RUNES, METRIC_NAME, MetricType};

use crate::entry::{Entry, LabelIter, RawExemplar, RawItem, SampleEntry};
use crate::error::{ErrorKind, ParseError, excerpt};
use crate::format::Format;
use crate::lex::{
    go_f64_to_i64, is_label_char, is_label_start, is_metric_char, is_metric_start, parse_float, quoted_len, run_len,
    unescape_help_text, unescape_lvalue,
};

/// Which grammar a line is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// Classic text: whitespace between tokens, optional commas, integer-ms timestamps, comments.
    Text,
    /// OpenMetrics as Prometheus's scraper reads it: single spaces, quoted UTF-8 names, trailing commas.
    OpenMetrics,
    /// OpenMetrics 1.0 exactly: no quoted names, no trailing comma, exemplar label sets of at most 128 characters.
    Strict,
}

/// A pull parser over one exposition body. See the crate docs for an example.
///
/// `next` returns entries in input order; after the first error (or the end) it returns `None`.
#[derive(Debug)]
pub struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// Number of the line that `pos` starts.
    line: usize,
    /// Number of the line of the last entry returned.
    entry_line: usize,
    syntax: Syntax,
    done: bool,
    mtype: MetricType,
    /// Spans (in the current line) of the label names seen in the current label set, reused across lines so the
    /// duplicate check does not allocate.
    names: Vec<(usize, usize)>,
    /// The same names as a set, filled only for label sets too large for a linear duplicate check.
    big_names: HashSet<&'a [u8]>,
}

type LineResult<T> = Result<T, (usize, ErrorKind)>;

impl<'a> Parser<'a> {
    /// A parser over `input` in `format`.
    pub fn new(input: &'a [u8], format: Format) -> Self {
        let syntax = match format {
            Format::PromText => Syntax::Text,
            Format::OpenMetrics => Syntax::OpenMetrics,
        };
        Self::with_syntax(input, syntax)
    }

    pub(crate) fn with_syntax(input: &'a [u8], syntax: Syntax) -> Self {
        Parser {
            input,
            pos: 0,
            line: 1,
            entry_line: 0,
            syntax,
            done: false,
            mtype: MetricType::Unknown,
            names: Vec::new(),
            big_names: HashSet::new(),
        }
    }

    /// The 1-based line number of the entry (or error) `next` returned last.
    pub fn entry_line(&self) -> usize {
        self.entry_line
    }

    /// The next entry, `None` at the end of the input, or the first error (after which it returns `None`).
    // `Iterator` is implemented too and delegates here; the inherent method lets callers write `p.next()` without
    // importing the trait, which is the API the scrape loop was written against.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Entry<'a>, ParseError>> {
        while !self.done {
            let line_no = self.line;
            if self.pos >= self.input.len() {
                self.done = true;
                if self.syntax != Syntax::Text {
                    return Some(Err(ParseError::new(line_no, 1, ErrorKind::MissingEof)));
                }
                return None;
            }
            let rest = &self.input[self.pos..];
            let (line, has_newline) = match memchr::memchr(b'\n', rest) {
                Some(n) => (&rest[..n], true),
                None => (rest, false),
            };
            self.pos += line.len() + usize::from(has_newline);
            self.line += 1;
            let result = if self.syntax == Syntax::Text {
                self.text_line(line)
            } else {
                self.om_line(line, has_newline)
            };
            match result {
                Ok(Some(entry)) => {
                    self.entry_line = line_no;
                    return Some(Ok(entry));
                }
                Ok(None) => {}
                Err((col, kind)) => {
                    self.done = true;
                    self.entry_line = line_no;
                    return Some(Err(ParseError::new(line_no, col + 1, kind)));
                }
            }
        }
        None
    }

    /// One classic-text line: `Ok(None)` for blank lines and comments.
    fn text_line(&mut self, line: &'a [u8]) -> LineResult<Option<Entry<'a>>> {
        let start = run_len(line, is_blank);
        if start == line.len() {
            return Ok(None);
        }
        if line[start] == b'#' {
            let ws = run_len(&line[start + 1..], is_blank);
            let kw = start + 1 + ws;
            if ws == 0 || line.len() < kw + 5 || !is_blank(line[kw + 4]) {
                return Ok(None);
            }
            let which = &line[kw..kw + 4];
            if which != b"HELP" && which != b"TYPE" {
                return Ok(None);
            }
            let s = to_str(line)?;
            let name_at = kw + 4 + run_len(&line[kw + 4..], is_blank);
            return self.metadata(s, which, name_at).map(Some);
        }
        let s = to_str(line)?;
        self.sample(s, start).map(|e| Some(Entry::Sample(e)))
    }

    /// One OpenMetrics line. `# EOF` ends the parse: `Ok(None)` with `done` set.
    fn om_line(&mut self, line: &'a [u8], has_newline: bool) -> LineResult<Option<Entry<'a>>> {
        if line.first() == Some(&b'#') {
            if line.starts_with(b"# EOF") {
                if line.len() > 5 || (has_newline && self.pos < self.input.len()) {
                    return Err((line.len().min(5), ErrorKind::DataAfterEof));
                }
                self.done = true;
                return Ok(None);
            }
            let kw = line.get(2..7);
            let ok = line.get(1) == Some(&b' ') && matches!(kw, Some(b"HELP " | b"TYPE " | b"UNIT ")) && has_newline;
            if !ok {
                if !has_newline && line.len() > 1 {
                    return Err((line.len(), ErrorKind::MissingEof));
                }
                return Err((0, unexpected("HELP, TYPE, UNIT or EOF comment", line)));
            }
            let s = to_str(line)?;
            return self.metadata(s, &line[2..6], 7).map(Some);
        }
        if line.is_empty() {
            return Err((0, unexpected("a metric name, metadata or # EOF", b"")));
        }
        let s = to_str(line)?;
        let entry = self.sample(s, 0)?;
        if !has_newline {
            // A sample on the last line: the body cannot end with # EOF.
            return Err((line.len(), ErrorKind::MissingEof));
        }
        Ok(Some(Entry::Sample(entry)))
    }

    /// `# HELP|TYPE|UNIT <name> <text>` with the name starting at `at`.
    fn metadata(&mut self, s: &'a str, which: &[u8], at: usize) -> LineResult<Entry<'a>> {
        let b = s.as_bytes();
        let (family, after) = match b.get(at) {
            Some(&c) if is_metric_start(c) => {
                let end = at + run_len(&b[at..], is_metric_char);
                (&s[at..end], end)
            }
            Some(b'"') if self.syntax != Syntax::Strict => match quoted_len(&b[at..]) {
                Some(len) => (&s[at + 1..at + len - 1], at + len),
                None => return Err((at, unexpected("a closing quote", &b[at..]))),
            },
            _ => return Err((at, unexpected("a metric name after the keyword", &b[at..]))),
        };
        // The text starts after one separator character (Prometheus drops exactly one). Classic text also accepts
        // nothing at all after the name (an empty HELP; for TYPE, an invalid empty type).
        let text = match s[after..].chars().next() {
            Some(c) if self.syntax == Syntax::Text || c == ' ' => &s[after + c.len_utf8()..],
            None if self.syntax == Syntax::Text => "",
            _ => return Err((after, unexpected("a space and text after the metric name", &b[after..]))),
        };
        let text_at = s.len() - text.len();
        match which {
            b"HELP" => {
                let help = if self.syntax == Syntax::Text {
                    unescape_help_text(text)
                } else {
                    unescape_lvalue(text)
                };
                Ok(Entry::Help { family, help })
            }
            b"TYPE" => {
                let t = match (self.syntax, text) {
                    (Syntax::Text, "counter" | "gauge" | "histogram" | "summary" | "untyped") => {
                        MetricType::parse(text)
                    }
                    (Syntax::Text, _) | (_, "untyped") => None,
                    _ => MetricType::parse(text),
                };
                let Some(metric_type) = t else {
                    return Err((text_at, ErrorKind::InvalidMetricType(text.to_owned())));
                };
                self.mtype = metric_type;
                Ok(Entry::Type { family, metric_type })
            }
            _ => {
                let unit = text;
                let is_suffix = family.strip_suffix(unit).is_some_and(|rest| rest.ends_with('_'));
                if !unit.is_empty() && !is_suffix {
                    return Err((
                        text_at,
                        ErrorKind::UnitMismatch {
                            unit: unit.to_owned(),
                            metric: family.to_owned(),
                        },
                    ));
                }
                Ok(Entry::Unit { family, unit })
            }
        }
    }

    /// A sample line with the series starting at `at`.
    fn sample(&mut self, s: &'a str, at: usize) -> LineResult<SampleEntry<'a>> {
        let b = s.as_bytes();
        let text = self.syntax == Syntax::Text;
        let mut name: Option<(usize, usize, bool)> = None;
        let mut i = at;
        let mut labels = (0, 0);
        let first = b[at];
        // Prometheus's classic parser starts the series, and an unquoted metric name, at the start of the line, so
        // leading blanks become part of the name (`  a 1` is stored as `{__name__="  a"}`); we do the same.
        let series_start = if text { 0 } else { at };
        if is_metric_start(first) {
            i += run_len(&b[i..], is_metric_char);
            name = Some((series_start, i, false));
            if text {
                let ws = run_len(&b[i..], is_blank);
                if b.get(i + ws) == Some(&b'{') {
                    i += ws;
                }
            }
            if b.get(i) == Some(&b'{') {
                let end = self.label_set(b, i, &mut name, false)?;
                labels = (i + 1, end - 1);
                i = end;
            }
        } else if first == b'{' {
            let end = self.label_set(b, i, &mut name, false)?;
            labels = (i + 1, end - 1);
            i = end;
        } else {
            return Err((at, unexpected("a metric name or '{'", &b[at..])));
        }
        let Some((ns, ne, quoted)) = name.filter(|&(ns, ne, _)| ne > ns) else {
            return Err((at, ErrorKind::MissingMetricName));
        };
        let series = &s[series_start..i];
        let mut entry = SampleEntry {
            series,
            name: &s[ns..ne],
            name_quoted: quoted,
            labels: &s[labels.0..labels.1],
            value: 0.0,
            timestamp_ms: None,
            timestamp_raw: None,
            exemplar: None,
            has_exemplar_syntax: false,
            mtype: self.mtype,
        };
        if text {
            self.text_rest(b, i, &mut entry)?;
        } else {
            self.om_rest(s, i, &mut entry)?;
        }
        Ok(entry)
    }

    /// After the series in classic text: `[ws] value [ws timestamp] [ws]`.
    fn text_rest(&self, b: &[u8], mut i: usize, e: &mut SampleEntry<'a>) -> LineResult<()> {
        i += run_len(&b[i..], is_blank);
        let vlen = run_len(&b[i..], |c| !is_blank(c) && c != b'{');
        if vlen == 0 {
            return Err((i, unexpected("a value after the metric", &b[i..])));
        }
        e.value = parse_value(b, i, vlen)?;
        i += vlen;
        let ws = run_len(&b[i..], is_blank);
        i += ws;
        if i == b.len() {
            return Ok(());
        }
        let tlen = run_len(&b[i..], |c| c.is_ascii_digit());
        if ws > 0 && tlen > 0 {
            let digits = std::str::from_utf8(&b[i..i + tlen]).unwrap_or("");
            let ts: i64 = digits
                .parse()
                .map_err(|_| (i, ErrorKind::InvalidTimestamp(digits.to_owned())))?;
            e.timestamp_ms = Some(ts);
            e.timestamp_raw = Some(ts as f64);
            i += tlen;
            i += run_len(&b[i..], is_blank);
            if i == b.len() {
                return Ok(());
            }
            return Err(classic_trailing(b, i, "a new line after the timestamp"));
        }
        Err(classic_trailing(b, i, "a timestamp or a new line"))
    }

    /// After the series in OpenMetrics: ` value[ timestamp][ # {labels} value[ timestamp]]`.
    fn om_rest(&mut self, s: &'a str, mut i: usize, e: &mut SampleEntry<'a>) -> LineResult<()> {
        let b = s.as_bytes();
        let vlen = om_token(b, i)?;
        e.value = parse_value(b, i + 1, vlen)?;
        i += 1 + vlen;
        if i == b.len() {
            return Ok(());
        }
        if !b[i..].starts_with(b" # {") {
            let tlen = om_token(b, i)?;
            let (ms, raw) = om_timestamp(b, i + 1, tlen)?;
            e.timestamp_ms = Some(ms);
            e.timestamp_raw = Some(raw);
            i += 1 + tlen;
            if i == b.len() {
                return Ok(());
            }
            if !b[i..].starts_with(b" # {") {
                return Err((i, unexpected("a new line or an exemplar after the timestamp", &b[i..])));
            }
        }
        // The exemplar: ` # {labels} value[ timestamp]`.
        e.has_exemplar_syntax = true;
        let open = i + 3;
        let end = self.label_set(b, open, &mut None, true)?;
        if self.syntax == Syntax::Strict {
            let runes: usize = LabelIter::new(&s[open + 1..end - 1])
                .map(|item| match item {
                    RawItem::Pair { name, value } => name.chars().count() + unescape_lvalue(value).chars().count(),
                    RawItem::Name => 0,
                })
                .sum();
            if runes > EXEMPLAR_MAX_LABEL_SET_RUNES {
                return Err((open, ErrorKind::ExemplarTooLong(runes)));
            }
        }
        i = end;
        let vlen = om_token(b, i)?;
        let value = parse_value(b, i + 1, vlen)?;
        i += 1 + vlen;
        let mut ts = None;
        if i < b.len() {
            let tlen = om_token(b, i)?;
            let (ms, _) = om_timestamp(b, i + 1, tlen)?;
            ts = Some(ms);
            i += 1 + tlen;
            if i < b.len() {
                return Err((i, unexpected("a new line after the exemplar timestamp", &b[i..])));
            }
        }
        e.exemplar = Some(RawExemplar {
            labels: &s[open + 1..end - 1],
            value,
            timestamp_ms: ts,
        });
        Ok(())
    }

    /// Whether `name` is among the label names of the current label set. A linear scan is fastest for real label
    /// sets; past a few dozen labels (only a hostile target sends those) a hash set keeps the check linear overall.
    fn is_duplicate(&mut self, b: &'a [u8], name: &'a [u8]) -> bool {
        const LINEAR_MAX: usize = 32;
        if self.names.len() < LINEAR_MAX {
            return self.names.iter().any(|&(s, e)| &b[s..e] == name);
        }
        if self.names.len() == LINEAR_MAX {
            self.big_names.clear();
            self.big_names.extend(self.names.iter().map(|&(s, e)| &b[s..e]));
        }
        !self.big_names.insert(name)
    }

    /// A label set starting at `b[at] == '{'`; returns the index after `}`. A quoted string alone is the metric
    /// name (not in exemplars); it is stored in `name`.
    fn label_set(
        &mut self,
        b: &'a [u8],
        at: usize,
        name: &mut Option<(usize, usize, bool)>,
        exemplar: bool,
    ) -> LineResult<usize> {
        let text = self.syntax == Syntax::Text;
        let strict = self.syntax == Syntax::Strict;
        let skip = |i: usize| if text { i + run_len(&b[i..], is_blank) } else { i };
        self.names.clear();
        let mut i = at + 1;
        let mut after_comma = false;
        loop {
            i = skip(i);
            let Some(&c) = b.get(i) else {
                return Err((i, unexpected("a label name or '}'", b"")));
            };
            if c == b'}' {
                if after_comma && strict {
                    return Err((i, unexpected("a label name after ','", &b[i..])));
                }
                return Ok(i + 1);
            }
            let tok_start = i;
            let (ns, ne, quoted) = if is_label_start(c) {
                i += run_len(&b[i..], is_label_char);
                (tok_start, i, false)
            } else if c == b'"' && !strict {
                let len = quoted_len(&b[i..]).ok_or_else(|| (i, unexpected("a closing quote", &b[i..])))?;
                i += len;
                (tok_start + 1, i - 1, true)
            } else {
                return Err((i, unexpected("a label name", &b[i..])));
            };
            i = skip(i);
            let sep = b.get(i).copied();
            if quoted && matches!(sep, Some(b',' | b'}')) {
                // A quoted string followed by ',' or '}' is the metric name.
                if exemplar {
                    return Err((tok_start, unexpected("a label name", &b[tok_start..])));
                }
                if name.is_some() {
                    return Err((tok_start, ErrorKind::DuplicateMetricName));
                }
                *name = Some((ns, ne, true));
                if sep == Some(b',') {
                    i += 1;
                    after_comma = true;
                }
                continue;
            }
            if sep != Some(b'=') {
                return Err((i, unexpected("'='", &b[i..])));
            }
            i = skip(i + 1);
            if b.get(i) != Some(&b'"') {
                return Err((i, unexpected("a quoted label value", &b[i..])));
            }
            let len = quoted_len(&b[i..]).ok_or_else(|| (i, unexpected("a closing quote", &b[i..])))?;
            i += len;
            // Series labels are checked as Prometheus's scrape loop checks them (it fails the scrape); exemplar
            // labels are not checked at all, as in Prometheus, whose exemplar storage validates them instead.
            if !exemplar {
                let lname = &b[ns..ne];
                if lname.is_empty() {
                    return Err((tok_start, unexpected("a non-empty label name", &b[tok_start..])));
                }
                if lname == METRIC_NAME.as_bytes() || self.is_duplicate(b, lname) {
                    return Err((tok_start, ErrorKind::DuplicateLabel(excerpt(lname))));
                }
                self.names.push((ns, ne));
            }
            i = skip(i);
            after_comma = false;
            match b.get(i) {
                Some(b',') => {
                    i += 1;
                    after_comma = true;
                }
                Some(b'}') => {}
                // Classic text lets commas between labels be left out (Prometheus's lexer skips them).
                _ if text => {}
                _ => return Err((i, unexpected("',' or '}'", &b[i..]))),
            }
        }
    }
}

/// The same entries as [`Parser::next`], so a parser can drive a `for` loop.
impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        Parser::next(self)
    }
}

/// After the end or the first error, `next` keeps returning `None`.
impl std::iter::FusedIterator for Parser<'_> {}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn to_str(line: &[u8]) -> LineResult<&str> {
    std::str::from_utf8(line).map_err(|e| (e.valid_up_to(), ErrorKind::InvalidUtf8))
}

fn unexpected(expected: &'static str, found: &[u8]) -> ErrorKind {
    ErrorKind::Unexpected {
        expected,
        found: excerpt(found),
    }
}

/// The error for unexpected text after a classic-text value: an exemplar suffix gets its own kind.
fn classic_trailing(b: &[u8], i: usize, expected: &'static str) -> (usize, ErrorKind) {
    let rest = &b[i..];
    if rest.first() == Some(&b'#') {
        let after = &rest[1..];
        let ws = run_len(after, is_blank);
        if after.get(ws) == Some(&b'{') {
            return (i, ErrorKind::ExemplarInClassicText(excerpt(rest)));
        }
    }
    (i, unexpected(expected, rest))
}

/// An OpenMetrics ` token` at `b[i] == ' '`: returns the token's length (at least 1), or an error.
fn om_token(b: &[u8], i: usize) -> LineResult<usize> {
    if b.get(i) != Some(&b' ') {
        return Err((i, unexpected("a space", &b[i.min(b.len())..])));
    }
    let len = run_len(&b[i + 1..], |c| c != b' ');
    if len == 0 {
        return Err((i + 1, unexpected("a value", &b[i + 1..])));
    }
    Ok(len)
}

fn parse_value(b: &[u8], at: usize, len: usize) -> LineResult<f64> {
    let tok = &b[at..at + len];
    // The line is valid UTF-8 and tokens end at ASCII bytes, so this succeeds; a failure is just an invalid value.
    let s = std::str::from_utf8(tok).unwrap_or("");
    parse_float(s).ok_or_else(|| (at, ErrorKind::InvalidValue(excerpt(tok))))
}

/// An OpenMetrics timestamp (float seconds, no NaN or infinity): (ms as Prometheus computes it, seconds).
fn om_timestamp(b: &[u8], at: usize, len: usize) -> LineResult<(i64, f64)> {
    let tok = &b[at..at + len];
    let s = std::str::from_utf8(tok).unwrap_or("");
    match parse_float(s) {
        Some(ts) if ts.is_finite() => Ok((go_f64_to_i64(ts * 1000.0), ts)),
        _ => Err((at, ErrorKind::InvalidTimestamp(excerpt(tok)))),
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
