//! Integration tests of diamond-tsdb, one binary (see Cargo.toml `autotests = false`).
//!
//! * `basics`: appender semantics (order, duplicates, bounds, hints), querier, metadata, exemplars, stats.
//! * `blocks`: block write/read round-trips against `MemStorage`, corruption, faults, promtool compatibility.
//! * `compaction`: head cuts, checkpoints, merged queries, planner, compactor, retention, partial artifacts.
//! * `model`: the whole `Db` against `MemStorage` with random appends, commits, queries and reopens.
//! * `crash`: committed data survives a dropped `Db` and a real `kill -9` of a writer process.
//! * `faults`: injected write/fsync failures poison the WAL and appends are refused.
//! * `corruption`: a damaged WAL tail is repaired on open, keeping every commit before the damage.
//! * `tombstones`: `Db::delete` against a naive model, across reopens.

mod basics;
mod blocks;
mod compaction;
mod corruption;
mod crash;
mod faults;
mod fuzz_bodies;
mod model;
mod prometheus_compat;
mod tombstones;

use diamond_model::Labels;
use diamond_model::storage::Queryable;
use diamond_model::{Matcher, Timestamp};

/// Labels from `name=value` pairs.
pub fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

/// Every series and its samples matching `matchers` in `[mint, maxt]`.
pub fn dump(
    q: &dyn Queryable,
    mint: Timestamp,
    maxt: Timestamp,
    matchers: &[Matcher],
) -> Vec<(Labels, Vec<(Timestamp, u64)>)> {
    let querier = q.querier(mint, maxt).unwrap();
    querier
        .select(matchers)
        .unwrap()
        .into_iter()
        .map(|s| {
            let mut it = s.data.iter(mint, maxt);
            let mut v = Vec::new();
            while let Some((t, x)) = it.next() {
                v.push((t, x.to_bits()));
            }
            (s.labels, v)
        })
        .collect()
}
