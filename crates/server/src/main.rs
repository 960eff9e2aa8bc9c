//! The `diamond` binary: a thin main that parses flags, runs a command and turns its result into an exit
//! code. `serve` (the default) wires storage, scrape, the PromQL engine and the HTTP API together; `check`
//! validates a config file or an exposition without starting anything.

mod backend;
mod check;
mod cli;
mod grafana;
mod selfmetrics;
mod selftrace;
mod serve;
mod tsdb;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // reqwest is built without a default TLS provider (no aws-lc C build): choose ring once, up front.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Before any thread allocates: fixed allocator thresholds (why: diamond_model::mem::tune_allocator).
    diamond_model::mem::tune_allocator();
    let cli = cli::Cli::parse();
    let result = match cli.command {
        None => serve::run(cli.serve),
        Some(cli::Command::Serve(args)) => serve::run(*args),
        Some(cli::Command::Check(c)) => check::run(c),
        Some(cli::Command::GrafanaDatasource(a)) => grafana::run(a),
        Some(cli::Command::Tsdb(c)) => tsdb::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("diamond: {e:#}");
            ExitCode::FAILURE
        }
    }
}
