//! The in-memory index of the head: interned label strings ([`Symbols`]) and postings ([`MemPostings`],
//! label pair → sorted series refs), plus [`postings_for_matchers`], which turns PromQL matchers into a
//! set of refs with Prometheus's semantics (a matcher that matches `""` also selects series without the label).
//!
//! ```
//! use diamond_model::{Matcher, MatchOp};
//! use diamond_tsdb::index::{MemPostings, Symbols, postings_for_matchers};
//! let syms = Symbols::new();
//! let mut p = MemPostings::new();
//! let pair = |n: &str, v: &str| (syms.intern(n), syms.intern(v));
//! p.add(1, &[pair("job", "a")]);
//! p.add(2, &[pair("job", "b")]);
//! p.add(3, &[pair("env", "x")]);
//! let m = Matcher::new(MatchOp::NotEqual, "job", "a").unwrap();
//! let got: Vec<u32> = postings_for_matchers(&p, &syms, &[m]).iter().collect();
//! assert_eq!(got, vec![2, 3]);
//! ```

mod postings;
mod symbols;

pub use postings::{MemPostings, postings_for_matchers};
pub use symbols::{Symbols, SymbolsRead};
