//! End-to-end tests of the `diamond` binary: a real server on a free port, real client libraries as scrape
//! targets, and the reference Prometheus for differential checks.
//!
//! Contents:
//! - `harness`: start/stop Diamond, the Python target and the reference Prometheus; HTTP helpers.
//! - `admin`: the admin API (delete_series, clean_tombstones, snapshot) side by side with Prometheus.
//! - `api`: Prometheus-shaped answers and errors of the read API over a real socket.
//! - `blocks_api`: `diamond serve` over backfilled blocks, and over head + several blocks side by side with
//!   Prometheus on the same blocks and remote-written head (series, labels, values, query_range, exemplars).
//! - `scrape_e2e`: a `prometheus_client` app serving OpenMetrics with exemplars, scraped end to end.
//! - `go_client`: the same with a real `client_golang` app, with promhttp's OpenMetrics switch on and off.
//! - `differential`: the reference Prometheus scrapes the same app and remote-writes into Diamond; the
//!   read APIs of both are compared.
//! - `crash`: `kill -9` during remote-write ingest, and at random moments during block cuts and
//!   compaction; every acknowledged sample (and exemplar) survives, no block is ever set aside as corrupt.
//! - `exemplar_store`: the fair store under a hot series, the coverage endpoint, metrics, resizing on reload.
//! - `exemplar_persist`: exemplars through block cuts that truncate the WAL, compaction, restarts, `kill -9`
//!   and `storage.exemplars.retention`.
//! - `cli`: `diamond check config|metrics`.
//! - `tsdb_tools`: `diamond tsdb dump|analyze|list` against the reference promtool on the same directory.
//! - `query_stats`: the `stats` parameter of the query API (`totalQueryableSamples`) side by side with
//!   Prometheus.
//! - `reload`: `/-/reload` and SIGHUP with good and bad files.
//! - `promql_sweep`: random typed PromQL (fixed seed) and past mismatches against the reference Prometheus
//!   on the same remote-written data.
//! - `parse_errors`: query errors (status, errorType, text) side by side with Prometheus.
//! - `trace_links`: `/api/diamond/v1/exemplars/links` against a Jaeger-shaped HTTP server, metrics, reload.
//! - `traces`: the embedded trace store fed by the real OpenTelemetry Python SDK, read in Jaeger's and
//!   Tempo's shapes; Diamond tracing itself out of the box, its exemplars opening those traces.

mod admin;
mod api;
mod blocks_api;
mod cli;
mod crash;
mod differential;
mod exemplar_persist;
mod exemplar_store;
mod go_client;
mod harness;
mod parse_errors;
mod promql_info;
mod promql_sweep;
mod query_stats;
mod reload;
mod scrape_e2e;
mod trace_links;
mod traces;
mod tsdb_tools;
