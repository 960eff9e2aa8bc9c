//! Integration tests of diamond-wire, one binary:
//! - `remote_write`: round-trip properties (1.0, 2.0), hand-built wire bytes, and the bad-input table;
//! - `otlp`: OTLP decoding and translation;
//! - `no_panic`: arbitrary bytes into every decoder;
//! - `captured`: requests captured from Prometheus 3.5.3 as a sender;
//! - `raw_v1`: the raw 1.0 decoder against the prost one.

mod captured;
mod common;
mod no_panic;
mod otlp;
mod raw_v1;
mod remote_write;
