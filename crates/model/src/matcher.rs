//! Label matchers with PromQL semantics.

use std::fmt;

use regex::Regex;

/// The four matcher kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        })
    }
}

/// A bad regular expression in a matcher.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {source}")]
pub struct MatcherError {
    /// The pattern as written.
    pub pattern: String,
    /// What the regex engine said.
    #[source]
    pub source: regex::Error,
}

/// One label matcher. A missing label matches as the empty string, as in Prometheus; regexes are fully
/// anchored and `.` matches newlines (Prometheus 3 semantics).
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Kind.
    pub op: MatchOp,
    /// Value or pattern as written.
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl Matcher {
    /// Builds a matcher, compiling the pattern for the regex kinds.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, MatcherError> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?s:{value})$")).map_err(|source| MatcherError {
                    pattern: value.clone(),
                    source,
                })?)
            }
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            re,
        })
    }

    /// An `=` matcher (cannot fail).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            re: None,
        }
    }

    /// Whether a label value (empty when the label is absent) matches.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Whether the matcher matches the empty string (and so matches series without the label).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=~` patterns that are a plain alternation of literals (`a|b|c`), the literals; lets an index
    /// answer them with postings look-ups instead of a scan.
    pub fn set_matches(&self) -> Option<Vec<String>> {
        if self.op != MatchOp::Regex && self.op != MatchOp::NotRegex {
            return None;
        }
        let special = |c: char| "\\.+*?()[]{}^$".contains(c);
        if self.value.chars().any(special) {
            return None;
        }
        Some(self.value.split('|').map(str::to_owned).collect())
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchored_and_dotall() {
        let m = Matcher::new(MatchOp::Regex, "a", "fo+").unwrap();
        assert!(m.matches("foo"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("foox"));
        let m = Matcher::new(MatchOp::Regex, "a", "a.b").unwrap();
        assert!(m.matches("a\nb"));
    }

    #[test]
    fn empty_semantics() {
        assert!(Matcher::new(MatchOp::NotEqual, "a", "x").unwrap().matches_empty());
        assert!(!Matcher::new(MatchOp::Regex, "a", ".+").unwrap().matches_empty());
        assert!(Matcher::new(MatchOp::Regex, "a", ".*").unwrap().matches_empty());
    }

    #[test]
    fn set_matches() {
        let m = Matcher::new(MatchOp::Regex, "a", "x|y|zz").unwrap();
        assert_eq!(m.set_matches(), Some(vec!["x".into(), "y".into(), "zz".into()]));
        assert_eq!(Matcher::new(MatchOp::Regex, "a", "x.*").unwrap().set_matches(), None);
    }
}
