//! Parses arbitrary strings as PromQL; whatever parses is also evaluated (instant and range) against a
//! tiny in-memory storage with tight limits. Neither step may panic: a user query must never take down a
//! server thread.
#![no_main]

use std::time::Duration;

use diamond_model::Labels;
use diamond_model::storage::memory::MemStorage;
use diamond_promql::{CancelToken, Engine, EngineOptions, EXPERIMENTAL_FUNCTIONS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else { return };
    let Ok(expr) = diamond_promql::parse(q) else { return };
    let _ = diamond_promql::extract_selectors(&expr);
    let db = MemStorage::new();
    db.add(
        Labels::from_pairs(&[("__name__", "up"), ("job", "a"), ("le", "1")]),
        &[(0, 1.0), (15_000, 2.0), (30_000, f64::NAN)],
    );
    let engine = Engine::new(EngineOptions {
        max_samples: 100_000,
        timeout: Duration::from_millis(200),
        enable_features: vec![EXPERIMENTAL_FUNCTIONS.to_owned()],
        ..EngineOptions::default()
    });
    let cancel = CancelToken::new();
    let _ = engine.instant_query(&db, q, 30_000, &cancel);
    let _ = engine.range_query(&db, q, 0, 60_000, 15_000, &cancel);
});
