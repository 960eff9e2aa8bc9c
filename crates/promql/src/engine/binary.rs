//! Binary operators: arithmetic, comparison (with and without `bool`), `atan2`, the set operators, and
//! vector matching (`on`/`ignoring`, `group_left`/`group_right`), step by step.

use std::sync::Arc;

use diamond_model::{LabelStr, Labels, METRIC_NAME};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::Error;
use super::eval::{Evaluator, Sample, Val};
use super::hash::{AddrMap, AddrSet, label_hash};

/// The operator kinds we evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }
}

/// Applies an arithmetic or comparison operator to two floats: the value, and whether a comparison keeps it.
pub(crate) fn apply(op: Op, l: f64, r: f64) -> (f64, bool) {
    match op {
        Op::Add => (l + r, true),
        Op::Sub => (l - r, true),
        Op::Mul => (l * r, true),
        Op::Div => (l / r, true),
        Op::Mod => (go_mod(l, r), true),
        Op::Pow => (l.powf(r), true),
        Op::Atan2 => (l.atan2(r), true),
        Op::Eq => (l, l == r),
        Op::Ne => (l, l != r),
        Op::Gt => (l, l > r),
        Op::Lt => (l, l < r),
        Op::Ge => (l, l >= r),
        Op::Le => (l, l <= r),
        Op::And | Op::Or | Op::Unless => (l, true),
    }
}

/// Go's `math.Mod`: the result has the sign of `l`; Rust's `%` on floats has the same semantics.
fn go_mod(l: f64, r: f64) -> f64 {
    l % r
}

/// Evaluates a binary expression at every step.
pub(crate) fn eval_binary(ev: &mut Evaluator<'_>, b: &BinaryExpr, ts: &[i64]) -> Result<Val, Error> {
    let op_s = b.op.to_string();
    let op = Op::parse(&op_s).ok_or_else(|| Error::bad_data(format!("unknown binary operator {op_s}")))?;
    let return_bool = b.return_bool();
    let lhs = ev.eval(&b.lhs, ts)?;
    let rhs = ev.eval(&b.rhs, ts)?;
    ev.note_gathered(&[&lhs, &rhs]);
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.into_iter()
                .zip(r)
                .map(|(a, c)| {
                    let (v, keep) = apply(op, a, c);
                    if op.is_comparison() {
                        if keep { 1.0 } else { 0.0 }
                    } else {
                        v
                    }
                })
                .collect(),
        )),
        (Val::Vector(l), Val::Scalar(r)) => Ok(Val::Vector(vector_scalar(op, l, &r, false, return_bool))),
        (Val::Scalar(l), Val::Vector(r)) => Ok(Val::Vector(vector_scalar(op, r, &l, true, return_bool))),
        (Val::Vector(l), Val::Vector(r)) => {
            let mut out = Vec::with_capacity(ts.len());
            let mut cache = MatchCache {
                remember: ts.len() > 1,
                ..MatchCache::default()
            };
            for (ls, rs) in l.into_iter().zip(r) {
                ev.check()?;
                out.push(vector_vector(op, b, ls, rs, return_bool, &mut cache)?);
            }
            Ok(Val::Vector(out))
        }
        _ => Err(Error::bad_data(format!(
            "binary expression must contain only scalar and instant vector types, got {op_s}"
        ))),
    }
}

fn vector_scalar(op: Op, steps: Vec<Vec<Sample>>, s: &[f64], swap: bool, return_bool: bool) -> Vec<Vec<Sample>> {
    steps
        .into_iter()
        .zip(s)
        .map(|(step, &sv)| {
            step.into_iter()
                .filter_map(|smp| {
                    let (l, r) = if swap { (sv, smp.v) } else { (smp.v, sv) };
                    let (mut v, mut keep) = apply(op, l, r);
                    // In `scalar > vector` the vector element's value is kept, whichever side it is on.
                    if op.is_comparison() && swap {
                        v = r;
                    }
                    if return_bool {
                        v = if keep { 1.0 } else { 0.0 };
                        keep = true;
                    }
                    keep.then(|| Sample {
                        labels: smp.labels,
                        v,
                        drop_name: smp.drop_name || return_bool || !op.is_comparison(),
                    })
                })
                .collect()
        })
        .collect()
}

/// How samples are matched: `on` (only these labels) or `ignoring` (all but these and `__name__`).
struct Matching<'a> {
    on: bool,
    labels: &'a [String],
}

impl Matching<'_> {
    fn signature(&self, l: &Labels) -> Vec<(LabelStr, LabelStr)> {
        if self.on {
            let mut v: Vec<(LabelStr, LabelStr)> = self
                .labels
                .iter()
                .filter_map(|n| l.get(n).map(|v| (LabelStr::from(n.as_str()), LabelStr::from(v))))
                .collect();
            v.sort();
            v
        } else {
            l.iter()
                .filter(|x| x.name != METRIC_NAME && !self.labels.iter().any(|n| n.as_str() == x.name.as_str()))
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect()
        }
    }

    fn matched_labels(&self, l: &Labels) -> Labels {
        let names: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        if self.on {
            l.keep_only(&names)
        } else {
            let mut n = names.clone();
            n.push(METRIC_NAME);
            l.without(&n)
        }
    }
}

/// Per-series work of vector matching, done once per series rather than once per series and step: the steps
/// of a series share one `Arc<Labels>`, so signatures and result label sets are cached by address (the
/// cache keeps every keyed `Arc` alive, so an address cannot be reused) and interned, which also gives each
/// result series one shared `Arc` across steps.
#[derive(Default)]
struct MatchCache {
    /// Labels address -> (the labels, kept alive; the interned signature id).
    sig_by_series: AddrMap<usize, (Arc<Labels>, usize)>,
    sig_ids: AddrMap<Vec<(LabelStr, LabelStr)>, usize>,
    /// (many-side address, one-side address) -> interned result labels.
    results: AddrMap<(usize, usize), Arc<Labels>>,
    interned: AddrSet<Arc<Labels>>,
    /// Whether more than one step follows: only then are signatures and results remembered per input
    /// series (a single step meets each series once).
    remember: bool,
}

impl MatchCache {
    fn sig(&mut self, matching: &Matching<'_>, l: &Arc<Labels>) -> usize {
        let addr = Arc::as_ptr(l) as usize;
        if self.remember
            && let Some(&(_, id)) = self.sig_by_series.get(&addr)
        {
            return id;
        }
        let sig = matching.signature(l);
        let n = self.sig_ids.len();
        let id = *self.sig_ids.entry(sig).or_insert(n);
        if self.remember {
            self.sig_by_series.insert(addr, (Arc::clone(l), id));
        }
        id
    }

    fn result(&mut self, many: &Arc<Labels>, one: &Arc<Labels>, f: impl FnOnce() -> Labels) -> Arc<Labels> {
        let key = (Arc::as_ptr(many) as usize, Arc::as_ptr(one) as usize);
        if self.remember
            && let Some(r) = self.results.get(&key)
        {
            return Arc::clone(r);
        }
        let l = f();
        if !self.remember {
            // A single step: each result is made once, so interning would only hash it for nothing; the
            // caller checks uniqueness by label hash instead.
            return Arc::new(l);
        }
        let r = match self.interned.get(&l) {
            Some(r) => Arc::clone(r),
            None => {
                let r = Arc::new(l);
                self.interned.insert(Arc::clone(&r));
                r
            }
        };
        self.results.insert(key, Arc::clone(&r));
        r
    }
}

fn vector_vector(
    op: Op,
    b: &BinaryExpr,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    return_bool: bool,
    cache: &mut MatchCache,
) -> Result<Vec<Sample>, Error> {
    let (on, labels): (bool, &[String]) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(l)) => (true, &l.labels),
        Some(LabelModifier::Exclude(l)) => (false, &l.labels),
        None => (false, &[]),
    };
    let card = b
        .modifier
        .as_ref()
        .map(|m| &m.card)
        .unwrap_or(&VectorMatchCardinality::OneToOne);
    let matching = Matching { on, labels };
    match op {
        Op::And => {
            let sigs: AddrSet<usize> = rhs.iter().map(|s| cache.sig(&matching, &s.labels)).collect();
            return Ok(lhs
                .into_iter()
                .filter(|s| sigs.contains(&cache.sig(&matching, &s.labels)))
                .collect());
        }
        Op::Unless => {
            let sigs: AddrSet<usize> = rhs.iter().map(|s| cache.sig(&matching, &s.labels)).collect();
            return Ok(lhs
                .into_iter()
                .filter(|s| !sigs.contains(&cache.sig(&matching, &s.labels)))
                .collect());
        }
        Op::Or => {
            let sigs: AddrSet<usize> = lhs.iter().map(|s| cache.sig(&matching, &s.labels)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|s| !sigs.contains(&cache.sig(&matching, &s.labels))),
            );
            return Ok(out);
        }
        _ => {}
    }
    // With nothing on one side nothing can match, and Prometheus returns at once: duplicates on the other
    // side are then no error.
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let include: &[String] = match card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => &l.labels,
        _ => &[],
    };
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };

    let mut one_sigs: AddrMap<usize, usize> = AddrMap::default();
    for (i, s) in one.iter().enumerate() {
        let sig = cache.sig(&matching, &s.labels);
        if let Some(&j) = one_sigs.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(Error::exec(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}]\
                 ;many-to-many matching not allowed: matching labels must be unique on one side",
                matching.matched_labels(&s.labels),
                s.labels,
                one[j].labels
            )));
        }
        one_sigs.insert(sig, i);
    }

    if !cache.remember && many.len() >= PARALLEL_MANY && rayon::current_num_threads() > 1 {
        return one_step_parallel(
            op,
            &matching,
            cache,
            &one_sigs,
            &many,
            &one,
            return_bool,
            one_to_many,
            one_to_one,
            include,
        );
    }

    let mut out: Vec<Sample> = Vec::new();
    // Signature -> the result label sets (interned, so compared by address) produced for it at this step.
    let mut matched: AddrMap<usize, AddrSet<usize>> = AddrMap::default();
    // The same for a single step, where results are not interned.
    let mut unique = UniqueResults::default();
    for ms in &many {
        let sig = cache.sig(&matching, &ms.labels);
        let Some(&oi) = one_sigs.get(&sig) else { continue };
        let os = &one[oi];
        // Prometheus drops a filtered comparison before it checks the match's uniqueness.
        let Some(v) = matched_value(op, ms.v, os.v, one_to_many, return_bool) else {
            continue;
        };
        let metric = cache.result(&ms.labels, &os.labels, || {
            result_labels(&ms.labels, &os.labels, on, labels, one_to_one, include)
        });
        if one_to_one {
            if matched.contains_key(&sig) {
                return Err(Error::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            matched.insert(sig, AddrSet::default());
        } else if cache.remember {
            let set = matched.entry(sig).or_default();
            if !set.insert(Arc::as_ptr(&metric) as usize) {
                return Err(Error::exec(NOT_UNIQUE));
            }
        } else if !unique.insert((sig, label_hash(&metric)), out.len(), |j| out[j].labels == metric) {
            return Err(Error::exec(NOT_UNIQUE));
        }
        // The comparison result keeps the left side's value in a one-to-many match too.
        let drop_name = ms.drop_name || return_bool || !op.is_comparison();
        out.push(Sample {
            labels: metric,
            v,
            drop_name,
        });
    }
    Ok(out)
}

/// From this many samples on the "many" side of a one-step match, each one's signature, value and result
/// labels are computed on rayon's pool (an instant `group_left` over 10k series spent most of its serial
/// time there); only the uniqueness checks stay in order.
const PARALLEL_MANY: usize = 2048;

/// The one-step match of [`vector_vector`] with the per-sample work on the pool; the same result and
/// the same errors.
#[allow(clippy::too_many_arguments)]
fn one_step_parallel(
    op: Op,
    matching: &Matching<'_>,
    cache: &MatchCache,
    one_sigs: &AddrMap<usize, usize>,
    many: &[Sample],
    one: &[Sample],
    return_bool: bool,
    one_to_many: bool,
    one_to_one: bool,
    include: &[String],
) -> Result<Vec<Sample>, Error> {
    use rayon::prelude::*;
    let (on, labels) = (matching.on, matching.labels);
    let pre: Vec<Option<(usize, Sample, u64)>> = many
        .par_iter()
        .with_min_len(PARALLEL_MANY / 4)
        .map(|ms| {
            let id = *cache.sig_ids.get(&matching.signature(&ms.labels))?;
            let &oi = one_sigs.get(&id)?;
            let os = &one[oi];
            let v = matched_value(op, ms.v, os.v, one_to_many, return_bool)?;
            let metric = result_labels(&ms.labels, &os.labels, on, labels, one_to_one, include);
            let h = if one_to_one { 0 } else { label_hash(&metric) };
            let drop_name = ms.drop_name || return_bool || !op.is_comparison();
            Some((
                oi,
                Sample {
                    labels: Arc::new(metric),
                    v,
                    drop_name,
                },
                h,
            ))
        })
        .collect();
    // A matched signature has exactly one sample on the "one" side, so its index stands for it.
    let mut seen_one: Vec<bool> = if one_to_one { vec![false; one.len()] } else { Vec::new() };
    let mut unique = UniqueResults::default();
    let mut out: Vec<Sample> = Vec::with_capacity(pre.len());
    for (oi, sample, h) in pre.into_iter().flatten() {
        if one_to_one {
            if std::mem::replace(&mut seen_one[oi], true) {
                return Err(Error::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
        } else if !unique.insert((oi, h), out.len(), |j| out[j].labels == sample.labels) {
            return Err(Error::exec(NOT_UNIQUE));
        }
        out.push(sample);
    }
    Ok(out)
}

/// The value of a matched pair, or `None` when a comparison without `bool` filters it out.
fn matched_value(op: Op, many_v: f64, one_v: f64, one_to_many: bool, return_bool: bool) -> Option<f64> {
    let (l, r) = if one_to_many { (one_v, many_v) } else { (many_v, one_v) };
    let (v, keep) = apply(op, l, r);
    if return_bool {
        return Some(if keep { 1.0 } else { 0.0 });
    }
    keep.then_some(v)
}

/// The result label sets of one step by (match group, label-set hash): the index of the first in the
/// output, and further indexes whose labels share both (a hash collision: almost never).
#[derive(Default)]
struct UniqueResults {
    first: AddrMap<(usize, u64), usize>,
    collided: Vec<((usize, u64), usize)>,
}

impl UniqueResults {
    /// Records output `idx` under `key`; false when an earlier output with that key has equal labels
    /// (`same(j)` compares output `j` with the new one).
    fn insert(&mut self, key: (usize, u64), idx: usize, same: impl Fn(usize) -> bool) -> bool {
        match self.first.get(&key) {
            None => {
                self.first.insert(key, idx);
                true
            }
            Some(&j) => {
                if same(j) || self.collided.iter().any(|&(k, j)| k == key && same(j)) {
                    return false;
                }
                self.collided.push((key, idx));
                true
            }
        }
    }
}

const NOT_UNIQUE: &str = "multiple matches for labels: grouping labels must ensure unique matches";

/// The labels of a vector-vector result: the "many" side's labels, reduced by `on`/`ignoring` for one-to-one
/// matching, plus the `group_*` labels copied from the "one" side.
fn result_labels(
    many: &Labels,
    one: &Labels,
    on: bool,
    matching: &[String],
    one_to_one: bool,
    include: &[String],
) -> Labels {
    if one_to_one {
        let names: Vec<&str> = matching.iter().map(String::as_str).collect();
        if on {
            // `on` keeps the matching labels only; the name is kept while it may still be needed (delayed
            // removal), which only matters when `__name__` is listed.
            return many.keep_only(&names);
        }
        return many.without(&names);
    }
    if include.is_empty() {
        return many.clone();
    }
    let mut b = many.builder();
    for n in include {
        match one.get(n) {
            Some(v) => b.set(n, v),
            None => b.del(n),
        };
    }
    b.build()
}
