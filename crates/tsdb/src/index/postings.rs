//! Postings: for every label pair, the sorted set of series refs that carry it.

use std::collections::HashMap;

use diamond_model::{MatchOp, Matcher};
use roaring::RoaringBitmap;

use super::symbols::Symbols;

/// Label pair → series refs, as roaring bitmaps keyed by interned (name, value) ids.
#[derive(Default)]
pub struct MemPostings {
    m: HashMap<u32, HashMap<u32, RoaringBitmap>>,
    all: RoaringBitmap,
}

impl MemPostings {
    /// Empty postings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes series `sref` under each `(name, value)` id pair.
    pub fn add(&mut self, sref: u32, pairs: &[(u32, u32)]) {
        for &(n, v) in pairs {
            self.m.entry(n).or_default().entry(v).or_default().insert(sref);
        }
        self.all.insert(sref);
    }

    /// Removes series `sref` from each `(name, value)` pair's list (garbage collection of the head);
    /// pairs and names left without series disappear.
    pub fn remove(&mut self, sref: u32, pairs: &[(u32, u32)]) {
        for &(n, v) in pairs {
            if let Some(vs) = self.m.get_mut(&n) {
                if let Some(b) = vs.get_mut(&v) {
                    b.remove(sref);
                    if b.is_empty() {
                        vs.remove(&v);
                    }
                }
                if vs.is_empty() {
                    self.m.remove(&n);
                }
            }
        }
        self.all.remove(sref);
    }

    /// Every indexed ref.
    pub fn all(&self) -> &RoaringBitmap {
        &self.all
    }

    /// The refs with label `name` = `value` (ids).
    pub fn get(&self, name: u32, value: u32) -> Option<&RoaringBitmap> {
        self.m.get(&name)?.get(&value)
    }

    /// The values of label `name` and their refs.
    pub fn values(&self, name: u32) -> impl Iterator<Item = (u32, &RoaringBitmap)> {
        self.m
            .get(&name)
            .into_iter()
            .flat_map(|vs| vs.iter().map(|(v, b)| (*v, b)))
    }

    /// The label name ids with at least one series.
    pub fn names(&self) -> impl Iterator<Item = u32> + '_ {
        self.m.keys().copied()
    }

    /// Number of (name, value) pairs.
    pub fn num_pairs(&self) -> usize {
        self.m.values().map(HashMap::len).sum()
    }
}

/// Refs of the series matching *all* `matchers` (every indexed series when there are none).
pub fn postings_for_matchers(p: &MemPostings, syms: &Symbols, matchers: &[Matcher]) -> RoaringBitmap {
    // Positive sets are intersected; a matcher that matches "" is applied by subtracting the series whose
    // value it rejects, so series without the label stay selected (Prometheus semantics).
    let mut acc: Option<RoaringBitmap> = None;
    let mut subtract: Vec<RoaringBitmap> = Vec::new();
    let names = syms.read();
    // Most selective first is the usual trick, but every set is computed anyway; order only the work below.
    for m in matchers {
        let name = names.lookup(&m.name);
        if m.matches_empty() {
            let Some(name) = name else { continue };
            let bad = union_where(p, &names, name, m, false);
            if !bad.is_empty() {
                subtract.push(bad);
            }
        } else {
            let set = match name {
                None => RoaringBitmap::new(),
                Some(name) => matching(p, &names, name, m),
            };
            acc = Some(match acc {
                None => set,
                Some(a) => a & set,
            });
        }
        if acc.as_ref().is_some_and(RoaringBitmap::is_empty) {
            return RoaringBitmap::new();
        }
    }
    drop(names);
    let mut out = acc.unwrap_or_else(|| p.all().clone());
    for s in &subtract {
        out -= s;
    }
    out
}

/// The refs whose value for `name` matches `m` (`m` does not match "").
fn matching(p: &MemPostings, names: &super::SymbolsRead<'_>, name: u32, m: &Matcher) -> RoaringBitmap {
    if m.op == MatchOp::Equal {
        return names
            .lookup(&m.value)
            .and_then(|v| p.get(name, v))
            .cloned()
            .unwrap_or_default();
    }
    if m.op == MatchOp::Regex
        && let Some(set) = m.set_matches()
    {
        let mut out = RoaringBitmap::new();
        for v in set {
            if let Some(b) = names.lookup(&v).and_then(|v| p.get(name, v)) {
                out |= b;
            }
        }
        return out;
    }
    union_where(p, names, name, m, true)
}

/// Union of the refs of every value of `name` for which `m.matches(value) == want`.
fn union_where(p: &MemPostings, names: &super::SymbolsRead<'_>, name: u32, m: &Matcher, want: bool) -> RoaringBitmap {
    if !want && m.op == MatchOp::NotEqual {
        // `!= x` rejects exactly the value x.
        return names
            .lookup(&m.value)
            .and_then(|v| p.get(name, v))
            .cloned()
            .unwrap_or_default();
    }
    let mut out = RoaringBitmap::new();
    for (v, b) in p.values(name) {
        if m.matches(names.get(v)) == want {
            out |= b;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use diamond_model::Labels;
    use diamond_model::storage::matches_all;
    use proptest::prelude::*;

    use super::*;

    fn matcher() -> impl Strategy<Value = Matcher> {
        let op = prop_oneof![
            Just(MatchOp::Equal),
            Just(MatchOp::NotEqual),
            Just(MatchOp::Regex),
            Just(MatchOp::NotRegex)
        ];
        let value = prop_oneof![
            Just(String::new()),
            "[a-c]",
            Just("a|b".to_owned()),
            Just(".*".to_owned()),
            Just(".+".to_owned()),
            Just("a.*".to_owned()),
            Just("|c".to_owned()),
        ];
        (op, "[xyz]", value).prop_map(|(op, n, v)| Matcher::new(op, n, v).unwrap())
    }

    fn labels() -> impl Strategy<Value = Labels> {
        proptest::collection::vec(("[xyz]", "[a-c]{0,1}"), 1..4)
            .prop_map(|v| Labels::from_pairs(&v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>()))
    }

    proptest! {
        /// Postings agree with a naive scan (BTreeSet model) for every matcher kind, including the empty cases.
        #[test]
        fn matches_naive_model(series in proptest::collection::vec(labels(), 0..30),
                               matchers in proptest::collection::vec(matcher(), 0..3)) {
            let syms = Symbols::new();
            let mut p = MemPostings::new();
            for (i, l) in series.iter().enumerate() {
                let pairs: Vec<(u32, u32)> = l.iter().map(|x| (syms.intern(&x.name), syms.intern(&x.value))).collect();
                p.add(i as u32, &pairs);
            }
            let got: BTreeSet<u32> = postings_for_matchers(&p, &syms, &matchers).iter().collect();
            let want: BTreeSet<u32> = series.iter().enumerate()
                .filter(|(_, l)| matches_all(l, &matchers)).map(|(i, _)| i as u32).collect();
            prop_assert_eq!(got, want);
        }
    }
}
