//! `info(v [, data-label-selector])` (experimental in Prometheus 3.5, behind
//! `--enable-feature=promql-experimental-functions`): adds the data labels of info metrics (`target_info`
//! unless the selector names others) to each series of `v` whose identifying labels (`instance`, `job`)
//! match, step by step, as Prometheus's `promql/info.go` does:
//!
//! - input series that are themselves the selected info metric pass through unchanged;
//! - info series are selected by the identifying label values present on the input, plus the selector's
//!   matchers (its `__name__` matchers pick the info metrics), and read like an instant selector (the
//!   newest sample within the lookback delta at each step);
//! - per info metric and identifying labels, the newest info sample wins; two at the same timestamp are an
//!   error;
//! - a data label already on the input series is kept as it is; two info metrics giving one label
//!   different values is an error; with a selector, only the labels it names are added;
//! - an input series no info series matched is dropped when a selector matcher does not match the empty
//!   string, else kept unchanged.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use diamond_model::{Labels, METRIC_NAME, MatchOp, Matcher, is_stale_nan};
use promql_parser::parser::Expr;

use crate::engine::Error;
use crate::engine::eval::{Evaluator, Sample, Val, offset_ms};

const TARGET_INFO: &str = "target_info";
const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// Signature of a series for one info metric: the name and the identifying labels it has.
type Sig = (String, Option<String>, Option<String>);

fn sig(info_name: &str, l: &Labels) -> Sig {
    (
        info_name.to_owned(),
        l.get(IDENTIFYING[0]).map(str::to_owned),
        l.get(IDENTIFYING[1]).map(str::to_owned),
    )
}

fn regex_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The offset and `@` time of the first vector selector in `e` (Prometheus's `infoSelectHints`).
fn first_selector_hints(e: &Expr) -> (i64, Option<i64>) {
    let mut found = None;
    crate::parser::walk(e, &mut |vs| {
        if found.is_none() {
            let at = match &vs.at {
                Some(promql_parser::parser::AtModifier::At(t)) => t
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_millis() as i64),
                _ => None,
            };
            found = Some((offset_ms(&vs.offset), at));
        }
    });
    found.unwrap_or((0, None))
}

/// See the module docs. `base` is the first argument evaluated at every step of `ts`.
pub(crate) fn call(ev: &mut Evaluator<'_>, args: &[&Expr], base: Vec<Vec<Sample>>, ts: &[i64]) -> Result<Val, Error> {
    // Data-label matchers by label name; the `__name__` ones pick the info metrics.
    let mut data: BTreeMap<String, Vec<Matcher>> = BTreeMap::new();
    let name_matchers: Vec<Matcher> = match args.get(1) {
        Some(Expr::VectorSelector(vs)) => {
            let mut ms = crate::parser::selector_matchers(vs).map_err(|e| Error::bad_data(e.to_string()))?;
            ms.retain(|m| m.name != crate::parser::INFO_SELECTOR_MARK);
            for m in &ms {
                data.entry(m.name.clone()).or_default().push(m.clone());
            }
            ms.into_iter().filter(|m| m.name == METRIC_NAME).collect()
        }
        Some(_) => {
            return Err(Error::bad_data(
                "expected label selectors as the second argument of info",
            ));
        }
        None => vec![Matcher::equal(METRIC_NAME, TARGET_INFO)],
    };
    let is_info = |l: &Labels| {
        !name_matchers.is_empty() && name_matchers.iter().all(|m| m.matches(l.metric_name().unwrap_or("")))
    };
    let mut ignored: HashSet<Arc<Labels>> = HashSet::new();
    let mut id_values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for s in base.iter().flatten() {
        if is_info(&s.labels) {
            ignored.insert(Arc::clone(&s.labels));
            continue;
        }
        for id in IDENTIFYING {
            if let Some(v) = s.labels.get(id) {
                id_values.entry(id).or_default().insert(v.to_owned());
            }
        }
    }
    let has_name_matcher = data.contains_key(METRIC_NAME);
    let mut info_series = Vec::new();
    if !id_values.is_empty() && !ts.is_empty() {
        let mut ms: Vec<Matcher> = Vec::new();
        if !has_name_matcher {
            ms.push(Matcher::equal(METRIC_NAME, TARGET_INFO));
        }
        for (id, vals) in &id_values {
            let re = vals.iter().map(|v| regex_quote(v)).collect::<Vec<_>>().join("|");
            ms.push(Matcher::new(MatchOp::Regex, *id, re).map_err(|e| Error::exec(e.to_string()))?);
        }
        ms.extend(data.values().flatten().cloned());
        let (offset, at) = first_selector_hints(args[0]);
        let lookback = ev.opts.lookback_delta_ms;
        let (lo, hi) = match at {
            Some(t) => (t, t),
            None => (ts[0], ts[ts.len() - 1]),
        };
        let (mint, maxt) = (lo - (lookback - 1) - offset, hi - offset);
        info_series = crate::engine::selector::load_uncached(ev, &[ms], mint, maxt, true)?;
    }
    data.remove(METRIC_NAME);
    let info_names: BTreeSet<String> = info_series
        .iter()
        .filter_map(|(l, _)| l.metric_name().map(str::to_owned))
        .collect();
    let lookback = ev.opts.lookback_delta_ms;
    let drop_unmatched = data.values().flatten().any(|m| !m.matches(""));
    let mut out = Vec::with_capacity(ts.len());
    for (i, step) in base.into_iter().enumerate() {
        ev.check()?;
        let t = ts[i];
        // The newest info sample per signature, as an instant selector reads it at `t`.
        let mut right: HashMap<Sig, (&Arc<Labels>, i64)> = HashMap::new();
        for (l, pts) in &info_series {
            let end = pts.partition_point(|p| p.0 <= t);
            let Some(&(pt, pv)) = end.checked_sub(1).map(|k| &pts[k]) else {
                continue;
            };
            if pt <= t - lookback || is_stale_nan(pv) {
                continue;
            }
            let name = l.metric_name().unwrap_or("");
            match right.entry(sig(name, l)) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert((l, pt));
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    let (el, et) = *e.get();
                    if et < pt {
                        e.insert((l, pt));
                    } else if et == pt {
                        return Err(Error::exec(format!(
                            "found duplicate series for info metric: existing {el} @ {et}, new {l} @ {pt}"
                        )));
                    }
                }
            }
        }
        let mut res: Vec<Sample> = Vec::with_capacity(step.len());
        for s in step {
            if ignored.contains(&s.labels) {
                res.push(s);
                continue;
            }
            let mut add: BTreeMap<&str, &str> = BTreeMap::new();
            let mut matched = false;
            for name in &info_names {
                let Some((il, _)) = right.get(&sig(name, &s.labels)) else {
                    continue;
                };
                matched = true;
                for l in il.iter() {
                    if l.name == METRIC_NAME || (!data.is_empty() && !data.contains_key(l.name.as_str())) {
                        continue;
                    }
                    if let Some(v) = add.get(l.name.as_str())
                        && *v != l.value
                    {
                        return Err(Error::exec(format!("conflicting label: {}", l.name)));
                    }
                    if s.labels.get(&l.name).is_some() {
                        continue;
                    }
                    add.insert(&l.name, &l.value);
                }
            }
            if !matched && drop_unmatched {
                continue;
            }
            // A data label the series already has must satisfy the selector too (the reference drops
            // `{version="own"}` under `{version=~"2.*"}` even when its target_info matched).
            let fails = data.iter().any(|(name, ms)| {
                let have = add
                    .get(name.as_str())
                    .copied()
                    .or_else(|| s.labels.get(name))
                    .unwrap_or("");
                ms.iter().any(|m| !m.matches(have))
            });
            if fails {
                continue;
            }
            if add.is_empty() {
                res.push(s);
                continue;
            }
            let mut b = s.labels.builder();
            for (k, v) in add {
                b.set(k, v);
            }
            res.push(Sample {
                labels: Arc::new(b.build()),
                v: s.v,
                drop_name: s.drop_name,
            });
        }
        let mut seen: HashSet<&Labels> = HashSet::with_capacity(res.len());
        if res.iter().any(|s| !seen.insert(&s.labels)) {
            return Err(Error::exec("vector cannot contain metrics with the same labelset"));
        }
        out.push(res);
    }
    Ok(Val::Vector(out))
}
