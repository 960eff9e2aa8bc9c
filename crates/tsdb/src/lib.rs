//! diamond-tsdb (being written).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
pub mod chunk;
pub mod fs;
pub mod record;
pub mod wal;

/// Formats an error with its `source` chain: `a: b: c`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
