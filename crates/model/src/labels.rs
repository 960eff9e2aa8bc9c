//! Label sets.

use std::fmt;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// The string type of label names and values: up to 24 bytes inline, longer ones on the heap. Almost every
/// real label name and value fits, so a label set costs one allocation (its vector) instead of one per
/// name and value; the head's select and remote-write decoding build one per series. It derefs to `str`
/// and compares, orders and hashes as `str`.
pub type LabelStr = compact_str::CompactString;

/// One label pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name.
    pub name: LabelStr,
    /// Label value; never empty inside a [`Labels`] (an empty value means "absent", as in Prometheus).
    pub value: LabelStr,
}

/// A label set, sorted by name with unique names. Ordering and equality compare pair by pair, which is the
/// order Prometheus uses to sort series in API answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels(Vec::new())
    }

    /// Builds a set from pairs in any order. Pairs with an empty value are dropped; for a repeated name the
    /// last pair wins.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Self {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.build()
    }

    /// Builds a set from labels already sorted by name and unique. Checked in debug builds only.
    pub fn from_sorted(v: Vec<Label>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].name < w[1].name), "labels not sorted/unique");
        Labels(v)
    }

    /// Builds a set from labels in any order; sorts them, keeps the last of a repeated name, drops empty values.
    pub fn from_unsorted(v: Vec<Label>) -> Self {
        let mut b = LabelsBuilder::new();
        for l in v {
            b.set(&l.name, &l.value);
        }
        b.build()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Whether `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Iterates the pairs in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set has no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs as a slice.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Consumes the set into its pairs.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// A builder that starts from this set.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder { labels: self.0.clone() }
    }

    /// A copy without the named labels.
    pub fn without(&self, names: &[&str]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| !names.contains(&l.name.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// A copy with only the named labels.
    pub fn keep_only(&self, names: &[&str]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| names.contains(&l.name.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// A copy without `__name__`.
    pub fn without_metric_name(&self) -> Labels {
        self.without(&[METRIC_NAME])
    }

    /// Sum of the UTF-8 character counts of every name and value (the unit of the exemplar 128-rune limit).
    pub fn rune_count(&self) -> usize {
        self.0
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum()
    }

    /// A 64-bit FNV-1a hash of the pairs, stable across runs and platforms (safe to persist).
    pub fn stable_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for l in &self.0 {
            for b in l
                .name
                .bytes()
                .chain(std::iter::once(0xff))
                .chain(l.value.bytes())
                .chain(std::iter::once(0xff))
            {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Formats as Prometheus does: `{a="1", b="2"}` with Go-style quoting of values.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// Incrementally edits a label set; `build` sorts and drops empty values.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        match self.labels.iter_mut().find(|l| l.name == name) {
            Some(l) => l.value = value.into(),
            None => self.labels.push(Label {
                name: name.into(),
                value: value.into(),
            }),
        }
        self
    }

    /// Deletes `name`.
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| l.name != name);
        self
    }

    /// The current value of `name`, if set and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.name == name && !l.value.is_empty())
            .map(|l| l.value.as_str())
    }

    /// Keeps only the labels for which `f` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&Label) -> bool) -> &mut Self {
        self.labels.retain(|l| f(l));
        self
    }

    /// The finished, sorted set.
    pub fn build(&self) -> Labels {
        let mut v: Vec<Label> = self.labels.iter().filter(|l| !l.value.is_empty()).cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Labels(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_dedups_and_drops_empty() {
        let l = Labels::from_pairs(&[("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn display_escapes_values() {
        let l = Labels::from_pairs(&[("a", "x\"y\\z\n")]);
        assert_eq!(l.to_string(), r#"{a="x\"y\\z\n"}"#);
    }

    #[test]
    fn stable_hash_distinguishes_boundaries() {
        let a = Labels::from_pairs(&[("a", "bc")]);
        let b = Labels::from_pairs(&[("ab", "c")]);
        assert_ne!(a.stable_hash(), b.stable_hash());
        assert_eq!(a.stable_hash(), Labels::from_pairs(&[("a", "bc")]).stable_hash());
    }
}
