//! End-to-end scrape tests: a real HTTP server on 127.0.0.1 serving canned bodies, scraped by a
//! `ScrapeManager` into `MemStorage`.
//!
//! Contents:
//! - `server`: the canned-response target (records request headers).
//! - `scrape`: report series, staleness, failures, labels, limits, gzip, exemplars, target sets.
//! - `tls`: HTTPS targets with CA files, `server_name` and `insecure_skip_verify`.

mod scrape;
mod server;
mod tls;
