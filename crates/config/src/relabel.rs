//! Relabelling as Prometheus does it (`model/relabel`): rules applied in order to a label set, each able to
//! rewrite, add, remove labels or drop the whole set.
//!
//! ```
//! use diamond_config::relabel::{process, Action, RelabelConfig, Regex};
//! use diamond_model::Labels;
//! let rule = RelabelConfig {
//!     source_labels: vec!["__address__".into()],
//!     regex: Regex::new("(.*):.*").unwrap(),
//!     target_label: "host".into(),
//!     ..RelabelConfig::default()
//! };
//! let out = process(&Labels::from_pairs(&[("__address__", "node:9100")]), &[rule]).unwrap();
//! assert_eq!(out.get("host"), Some("node"));
//! let drop = RelabelConfig { action: Action::Drop, source_labels: vec!["host".into()],
//!     regex: Regex::new("node").unwrap(), ..RelabelConfig::default() };
//! assert!(process(&out, &[drop]).is_none());
//! ```

use std::fmt;

use diamond_model::{Labels, LabelsBuilder};
use md5::{Digest, Md5};
use serde::Deserialize;

/// A relabelling action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Action {
    /// Sets `target_label` to the expanded `replacement` when `regex` matches the joined source values.
    #[default]
    Replace,
    /// Drops the set unless `regex` matches.
    Keep,
    /// Drops the set when `regex` matches.
    Drop,
    /// Drops the set unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drops the set when the joined source values equal `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to md5(joined values) mod `modulus`.
    HashMod,
    /// Copies every label whose name matches `regex` to the name given by `replacement`.
    LabelMap,
    /// Removes the labels whose names match `regex`.
    LabelDrop,
    /// Removes the labels whose names do not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the lowercased joined values.
    Lowercase,
    /// Sets `target_label` to the uppercased joined values.
    Uppercase,
}

impl Action {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name, case-insensitively as Prometheus does.
    pub fn parse(s: &str) -> Option<Action> {
        let all = [
            Action::Replace,
            Action::Keep,
            Action::Drop,
            Action::KeepEqual,
            Action::DropEqual,
            Action::HashMod,
            Action::LabelMap,
            Action::LabelDrop,
            Action::LabelKeep,
            Action::Lowercase,
            Action::Uppercase,
        ];
        let l = s.to_ascii_lowercase();
        all.into_iter().find(|a| a.as_str() == l)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A relabelling regex: the configured text, compiled fully anchored and with `.` matching newlines
/// (Prometheus 3 compiles `^(?s:<regex>)$`).
#[derive(Debug, Clone)]
pub struct Regex {
    source: String,
    re: regex::Regex,
}

/// The default relabel regex.
pub const DEFAULT_REGEX: &str = "(.*)";

impl Regex {
    /// Compiles `s` anchored at both ends, with Go RE2's meaning (see [`go_syntax`]).
    pub fn new(s: &str) -> Result<Regex, regex::Error> {
        Ok(Regex {
            source: s.to_owned(),
            re: regex::Regex::new(&format!("^(?s:{})$", go_syntax(s)))?,
        })
    }

    /// The regex as configured (unanchored).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// The compiled, anchored regex.
    pub fn compiled(&self) -> &regex::Regex {
        &self.re
    }
}

/// Rewrites a Go RE2 pattern so Rust's `regex` gives it the same meaning. The two syntaxes mostly agree;
/// where they differ, Prometheus (Go) defines the behaviour:
/// - `\d \w \s \b` (and negations) are ASCII-only in Go but Unicode-aware in Rust, so they become
///   explicit ASCII classes (`\d` → `[0-9]`; `\s` is Go's `[\t\n\f\r ]`).
/// - Inside a bracket class Go has no nesting or set operators: a `[` that does not open `[:name:]` is a
///   literal, and so are `&&` and `~~` (Rust would read nested classes, intersection and symmetric difference).
pub fn go_syntax(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut it = p.chars().peekable();
    let mut in_class = false;
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some('d') => out.push_str("[0-9]"),
                Some('D') => out.push_str("[^0-9]"),
                Some('w') => out.push_str("[0-9A-Za-z_]"),
                Some('W') => out.push_str("[^0-9A-Za-z_]"),
                Some('s') => out.push_str("[\\t\\n\\f\\r ]"),
                Some('S') => out.push_str("[^\\t\\n\\f\\r ]"),
                Some('b') if !in_class => out.push_str("(?-u:\\b)"),
                Some('B') if !in_class => out.push_str("(?-u:\\B)"),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if it.peek() == Some(&'^') {
                    it.next();
                    out.push('^');
                }
                // A `]` right after the opening bracket is a literal in both syntaxes.
                if it.peek() == Some(&']') {
                    it.next();
                    out.push_str("\\]");
                }
            }
            '[' if it.peek() == Some(&':') => {
                // `[:alpha:]` inside a class: copy through the closing `:]`.
                out.push('[');
                for d in it.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str("\\["),
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

impl Default for Regex {
    fn default() -> Self {
        // The default pattern is a constant known to compile.
        Regex::new(DEFAULT_REGEX).expect("the default relabel regex compiles")
    }
}

impl PartialEq for Regex {
    fn eq(&self, o: &Regex) -> bool {
        self.source == o.source
    }
}

/// One relabelling rule, resolved (regex compiled, defaults filled).
#[derive(Debug, Clone, PartialEq)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to form the input.
    pub source_labels: Vec<String>,
    /// Joins the source values; default `;`.
    pub separator: String,
    /// Default `(.*)`.
    pub regex: Regex,
    /// For `hashmod`.
    pub modulus: u64,
    /// The label written (replace, hashmod, lowercase, uppercase) or compared (keepequal, dropequal).
    pub target_label: String,
    /// Default `$1`; `$n`, `${n}`, `$name`, `${name}` expand as in Go's `regexp.Expand`.
    pub replacement: String,
    /// Default `replace`.
    pub action: Action,
}

/// The default separator.
pub const DEFAULT_SEPARATOR: &str = ";";
/// The default replacement.
pub const DEFAULT_REPLACEMENT: &str = "$1";

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_owned(),
            regex: Regex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_owned(),
            action: Action::Replace,
        }
    }
}

/// A relabel rule as written in YAML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelabelConfig {
    /// `source_labels`
    #[serde(default, deserialize_with = "crate::scalar::opt_vec")]
    pub source_labels: Option<Vec<String>>,
    /// `separator`
    #[serde(default, deserialize_with = "crate::scalar::opt")]
    pub separator: Option<String>,
    /// `regex`
    #[serde(default, deserialize_with = "crate::scalar::opt")]
    pub regex: Option<String>,
    /// `modulus`
    pub modulus: Option<u64>,
    /// `target_label`
    #[serde(default, deserialize_with = "crate::scalar::opt")]
    pub target_label: Option<String>,
    /// `replacement`
    #[serde(default, deserialize_with = "crate::scalar::opt")]
    pub replacement: Option<String>,
    /// `action`
    pub action: Option<String>,
}

/// Why a relabel rule is invalid, plus the key it concerns (for locating it in the YAML).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    /// The offending key (`action`, `regex`, `target_label`, …).
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

fn var_in_template(s: &str) -> bool {
    s.contains('$')
}

impl RawRelabelConfig {
    /// Validates and resolves, with Prometheus's rules and messages.
    pub fn resolve(&self) -> Result<RelabelConfig, RuleError> {
        let err = |key, message: String| Err(RuleError { key, message });
        let action = match &self.action {
            None => Action::Replace,
            Some(a) if a.is_empty() => return err("action", "relabel action cannot be empty".into()),
            Some(a) => match Action::parse(a) {
                Some(x) => x,
                None => return err("action", format!("unknown relabel action {a:?}")),
            },
        };
        let regex_src = self.regex.clone().unwrap_or_else(|| DEFAULT_REGEX.to_owned());
        let regex = match Regex::new(&regex_src) {
            Ok(r) => r,
            Err(e) => return err("regex", format!("invalid regex {regex_src:?}: {e}")),
        };
        if let Some(sl) = &self.source_labels
            && let Some(bad) = sl.iter().find(|n| n.is_empty())
        {
            return err("source_labels", format!("{bad:?} is not a valid label name"));
        }
        let cfg = RelabelConfig {
            source_labels: self.source_labels.clone().unwrap_or_default(),
            separator: self.separator.clone().unwrap_or_else(|| DEFAULT_SEPARATOR.to_owned()),
            regex,
            modulus: self.modulus.unwrap_or(0),
            target_label: self.target_label.clone().unwrap_or_default(),
            replacement: self
                .replacement
                .clone()
                .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_owned()),
            action,
        };
        cfg.validate(self.source_labels.is_some())
            .map_err(|(key, message)| RuleError { key, message })?;
        Ok(cfg)
    }
}

impl RelabelConfig {
    /// Prometheus's rule checks (`relabel.Config.Validate`). Label names are checked as Prometheus 3 does
    /// with its default UTF-8 name validation: any non-empty name.
    fn validate(&self, source_labels_set: bool) -> Result<(), (&'static str, String)> {
        use Action::*;
        let a = self.action;
        if self.modulus == 0 && a == HashMod {
            return Err((
                "modulus",
                "relabel configuration for hashmod requires non-zero modulus".into(),
            ));
        }
        if matches!(a, Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual)
            && self.target_label.is_empty()
        {
            return Err((
                "action",
                format!("relabel configuration for {a} action requires 'target_label' value"),
            ));
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual) && self.replacement != DEFAULT_REPLACEMENT {
            return Err(("replacement", format!("'replacement' can not be set for {a} action")));
        }
        if a == LabelMap && self.replacement.is_empty() {
            return Err((
                "replacement",
                format!("{:?} is invalid 'replacement' for {a} action", self.replacement),
            ));
        }
        if matches!(a, KeepEqual | DropEqual)
            && (self.regex.as_str() != DEFAULT_REGEX
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err((
                "action",
                format!("{a} action requires only 'source_labels' and `target_label`, and no other fields"),
            ));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (source_labels_set
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err((
                "action",
                format!("{a} action requires only 'regex', and no other fields"),
            ));
        }
        Ok(())
    }
}

/// Applies `cfgs` in order. `None` means a rule dropped the set. Labels set to an empty value are removed.
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    let mut lb = labels.builder();
    for cfg in cfgs {
        if !apply(cfg, &mut lb) {
            return None;
        }
    }
    Some(lb.build())
}

fn get<'a>(lb: &'a LabelsBuilder, name: &str) -> &'a str {
    lb.get(name).unwrap_or("")
}

/// Applies one rule; false when the set is dropped.
pub fn apply(cfg: &RelabelConfig, lb: &mut LabelsBuilder) -> bool {
    let val = cfg
        .source_labels
        .iter()
        .map(|n| get(lb, n))
        .collect::<Vec<_>>()
        .join(&cfg.separator);
    match cfg.action {
        Action::Drop => {
            if cfg.regex.is_match(&val) {
                return false;
            }
        }
        Action::Keep => {
            if !cfg.regex.is_match(&val) {
                return false;
            }
        }
        Action::DropEqual => {
            if get(lb, &cfg.target_label) == val {
                return false;
            }
        }
        Action::KeepEqual => {
            if get(lb, &cfg.target_label) != val {
                return false;
            }
        }
        Action::Replace => {
            // Prometheus's fast path: an empty input with the default regex sets the target to the literal
            // replacement (so `replacement: foo` with no sources adds a constant label).
            if val.is_empty()
                && cfg.regex.as_str() == DEFAULT_REGEX
                && !var_in_template(&cfg.target_label)
                && !var_in_template(&cfg.replacement)
            {
                lb.set(&cfg.target_label, &cfg.replacement);
                return true;
            }
            let Some(caps) = cfg.regex.compiled().captures(&val) else {
                return true;
            };
            let mut target = String::new();
            caps.expand(&cfg.target_label, &mut target);
            // An expansion that yields no name is skipped, as Prometheus skips invalid names.
            if target.is_empty() {
                return true;
            }
            let mut res = String::new();
            caps.expand(&cfg.replacement, &mut res);
            if res.is_empty() {
                lb.del(&target);
            } else {
                lb.set(&target, &res);
            }
        }
        Action::Lowercase => {
            lb.set(&cfg.target_label, &val.to_lowercase());
        }
        Action::Uppercase => {
            lb.set(&cfg.target_label, &val.to_uppercase());
        }
        Action::HashMod => {
            let digest = Md5::digest(val.as_bytes());
            // Prometheus uses the last 8 bytes of the digest, big-endian (earlier versions shifted the
            // first 8 bytes out of a u64, and the result was kept for compatibility).
            let mut last = [0u8; 8];
            last.copy_from_slice(&digest[8..16]);
            let m = u64::from_be_bytes(last) % cfg.modulus.max(1);
            lb.set(&cfg.target_label, &m.to_string());
        }
        Action::LabelMap => {
            for l in lb.build().iter() {
                if cfg.regex.is_match(&l.name) {
                    let res = cfg.regex.compiled().replace_all(&l.name, cfg.replacement.as_str());
                    lb.set(&res, &l.value);
                }
            }
        }
        Action::LabelDrop => {
            lb.retain(|l| !cfg.regex.is_match(&l.name));
        }
        Action::LabelKeep => {
            lb.retain(|l| cfg.regex.is_match(&l.name));
        }
    }
    true
}

#[cfg(test)]
mod tests;
