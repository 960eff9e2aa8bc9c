//! Diamond's storage engine: a write-ahead log, an in-memory head of XOR-compressed chunks with postings,
//! and replay. It implements the storage seams of `diamond_model::storage`.
//!
//! Principal types and how they relate:
//! * [`Db`] is the engine: [`Db::appender`] returns a transaction ([`diamond_model::storage::Appender`]) whose
//!   `commit` logs to the WAL ([`wal`], records from [`record`]) and then applies to the head; [`Db`] is a
//!   [`diamond_model::storage::Queryable`] whose queriers read the head's chunks ([`chunk`]) found through
//!   postings ([`index`]). Exemplars go to a [`diamond_exemplars::ExemplarStore`].
//! * [`Options`] (with [`FsyncPolicy`]) configure it; [`Stats`] and [`Cardinality`] report on it.
//! * [`fs`] is the file-system seam used for fault injection in tests.
//!
//! On-disk formats: `docs/format/wal.md` and `docs/format/chunks.md`.
//!
//! ```
//! use diamond_model::storage::Queryable;
//! use diamond_model::{Labels, Matcher};
//! use diamond_tsdb::{Db, Options};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path(), Options::default()).unwrap();
//! let up = Labels::from_pairs(&[("__name__", "up"), ("job", "node")]);
//! let mut app = db.appender();
//! let r = app.append(0, &up, 1000, 1.0).unwrap();
//! app.append(r, &up, 2000, 0.0).unwrap();
//! app.commit().unwrap();
//! db.close().unwrap();
//! drop(db);
//!
//! // Reopening replays the WAL.
//! let db = Db::open(dir.path(), Options::default()).unwrap();
//! let q = db.querier(0, 10_000).unwrap();
//! let series = q.select(&[Matcher::equal("job", "node")]).unwrap();
//! let mut it = series[0].data.iter(0, 10_000);
//! assert_eq!(it.next(), Some((1000, 1.0)));
//! assert_eq!(it.next(), Some((2000, 0.0)));
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

mod admin;
pub mod backfill;
pub mod block;
pub mod chunk;
pub mod compact;
mod db;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
mod head;
pub mod index;
mod querier;
pub mod record;
pub mod tombstones;
pub mod tools;
pub mod wal;

pub use admin::CleanStats;
pub use db::{BlockStats, Cardinality, Db, Error, FsyncPolicy, HeadStats, Options, Stats};

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
