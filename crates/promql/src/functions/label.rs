//! Label functions and sorting: `label_replace`, `label_join`, `sort`, `sort_desc`, `sort_by_label`,
//! `sort_by_label_desc`.

use std::cmp::Ordering;
use std::sync::Arc;

use diamond_model::{Labels, METRIC_NAME};
use regex::Regex;

use super::{string_arg, vector_arg};
use crate::engine::Error;
use crate::engine::eval::{Evaluator, Sample, Val};
use crate::engine::hash::AddrMap;

/// Dispatches one label or sort function.
pub(crate) fn call(_ev: &mut Evaluator<'_>, name: &str, vals: Vec<Val>, _ts: &[i64]) -> Result<Val, Error> {
    match name {
        "label_replace" => {
            let dst = string_arg(&vals, 1)?.to_owned();
            let repl = string_arg(&vals, 2)?.to_owned();
            let src = string_arg(&vals, 3)?.to_owned();
            let pattern = string_arg(&vals, 4)?.to_owned();
            let re = Regex::new(&format!("^(?s:{pattern})$"))
                .map_err(|_| Error::exec(format!("invalid regular expression in label_replace(): {pattern}")))?;
            if !valid_label_name(&dst) {
                return Err(Error::exec(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let v = vector_arg(vals, 0)?;
            relabel_all(v, &dst, |l| {
                let sv = l.get(&src).unwrap_or("");
                let caps = re.captures(sv)?;
                let mut res = String::new();
                caps.expand(&repl, &mut res);
                let mut b = l.builder();
                b.set(&dst, &res);
                Some(b.build())
            })
        }
        "label_join" => {
            let dst = string_arg(&vals, 1)?.to_owned();
            let sep = string_arg(&vals, 2)?.to_owned();
            let srcs: Vec<String> = (3..vals.len())
                .map(|i| string_arg(&vals, i).map(str::to_owned))
                .collect::<Result<_, _>>()?;
            if !valid_label_name(&dst) {
                return Err(Error::exec(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            for s in &srcs {
                if !valid_label_name(s) {
                    return Err(Error::exec(format!("invalid source label name in label_join(): {s}")));
                }
            }
            let v = vector_arg(vals, 0)?;
            relabel_all(v, &dst, |l| {
                let joined: Vec<&str> = srcs.iter().map(|n| l.get(n).unwrap_or("")).collect();
                let mut b = l.builder();
                b.set(&dst, &joined.join(&sep));
                Some(b.build())
            })
        }
        "sort" | "sort_desc" => {
            let desc = name == "sort_desc";
            let v = vector_arg(vals, 0)?;
            Ok(Val::Vector(
                v.into_iter()
                    .map(|mut step| {
                        // NaN sorts to the end in both directions.
                        step.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                            (true, true) => Ordering::Equal,
                            (true, false) => Ordering::Greater,
                            (false, true) => Ordering::Less,
                            _ if desc => b.v.partial_cmp(&a.v).unwrap_or(Ordering::Equal),
                            _ => a.v.partial_cmp(&b.v).unwrap_or(Ordering::Equal),
                        });
                        step
                    })
                    .collect(),
            ))
        }
        _ => {
            let desc = name == "sort_by_label_desc";
            let names: Vec<String> = (1..vals.len())
                .map(|i| string_arg(&vals, i).map(str::to_owned))
                .collect::<Result<_, _>>()?;
            let v = vector_arg(vals, 0)?;
            Ok(Val::Vector(
                v.into_iter()
                    .map(|mut step| {
                        step.sort_by(|a, b| {
                            let o = by_labels(&names, &a.labels, &b.labels);
                            if desc { o.reverse() } else { o }
                        });
                        step
                    })
                    .collect(),
            ))
        }
    }
}

/// Relabels every sample of every step with `f` (`None`: the labels stay as they are). Each series is
/// relabelled once, and its steps share the result. As Prometheus does for these functions, two series of
/// the whole evaluation (not only of one step) that end up with the same labels are an error. Writing
/// `__name__` (where `f` relabels) cancels a pending name removal.
fn relabel_all(steps: Vec<Vec<Sample>>, dst: &str, f: impl Fn(&Labels) -> Option<Labels>) -> Result<Val, Error> {
    // Input series by the address of its shared labels (kept alive here, so the address is not reused)
    // -> its relabelled labels.
    let mut by_series: AddrMap<usize, (Arc<Labels>, Arc<Labels>, bool)> = AddrMap::default();
    // Relabelled labels -> the input labels that gave them: another input giving the same is a duplicate.
    let mut outputs: AddrMap<Arc<Labels>, Arc<Labels>> = AddrMap::default();
    let keeps_name = dst == METRIC_NAME;
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let mut o = Vec::with_capacity(step.len());
        for s in step {
            let addr = Arc::as_ptr(&s.labels) as usize;
            let (labels, changed) = match by_series.get(&addr) {
                Some((_, l, changed)) => (Arc::clone(l), *changed),
                None => {
                    let new = f(&s.labels);
                    let changed = new.is_some();
                    let l = new.map_or_else(|| Arc::clone(&s.labels), Arc::new);
                    match outputs.get(&l) {
                        Some(input) if **input != *s.labels => {
                            return Err(Error::exec("vector cannot contain metrics with the same labelset"));
                        }
                        Some(_) => {}
                        None => {
                            outputs.insert(Arc::clone(&l), Arc::clone(&s.labels));
                        }
                    }
                    by_series.insert(addr, (Arc::clone(&s.labels), Arc::clone(&l), changed));
                    (l, changed)
                }
            };
            o.push(Sample {
                labels,
                v: s.v,
                drop_name: s.drop_name && !(changed && keeps_name),
            });
        }
        out.push(o);
    }
    Ok(Val::Vector(out))
}

/// Label names are any non-empty valid UTF-8 in Prometheus 3 (UTF-8 names are allowed).
/// Prometheus 3 accepts any non-empty UTF-8 label name; bytes of invalid UTF-8 written in the query
/// (see `parser::is_bad_byte`) make it invalid.
fn valid_label_name(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(crate::parser::is_bad_byte)
}

fn by_labels(names: &[String], a: &Labels, b: &Labels) -> Ordering {
    for n in names {
        let (x, y) = (a.get(n).unwrap_or(""), b.get(n).unwrap_or(""));
        if x == y {
            continue;
        }
        return natural_cmp(x, y);
    }
    a.cmp(b)
}

/// Natural ordering: runs of digits compare by numeric value, everything else byte-wise.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = trim_zeros(&a[si..i]);
            let nb = trim_zeros(&b[sj..j]);
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let k = d.iter().take_while(|&&c| c == b'0').count();
    &d[k..]
}
