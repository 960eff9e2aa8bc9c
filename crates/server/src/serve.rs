//! `diamond serve`: opens the TSDB (replaying the WAL before the listener opens), starts the scrape
//! manager, serves the HTTP API, reloads on SIGHUP or `POST /-/reload`, and shuts down cleanly on
//! SIGINT/SIGTERM (scrape loops stopped, WAL flushed and fsynced).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use diamond_model::storage::Appender;

use crate::backend::ServerBackend;
use crate::cli::ServeArgs;

/// The embedded default configuration: Diamond scrapes itself every 15 s.
pub(crate) fn default_config(self_addr: &SocketAddr) -> anyhow::Result<diamond_config::Config> {
    let yaml = format!(
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: diamond\n    static_configs:\n      - targets: ['{self_addr}']\n"
    );
    diamond_config::parse(&yaml, "<embedded default>").context("embedded default configuration")
}

pub(crate) fn parse_prom_duration(flag: &str, s: &str) -> anyhow::Result<Duration> {
    diamond_config::parse_duration(s).with_context(|| format!("invalid --{flag} {s:?}"))
}

/// A byte size as Prometheus's `--storage.tsdb.retention.size` takes it: an integer and a unit of B, KB,
/// MB, GB, TB, PB or EB (powers of 1024).
pub(crate) fn parse_byte_size(flag: &str, s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.to_ascii_uppercase().as_str() {
        "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        "PB" => 1 << 50,
        "EB" => 1 << 60,
        _ => bail!("invalid --{flag} {s:?}: expected a number and a unit of B, KB, MB, GB, TB, PB or EB"),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("invalid --{flag} {s:?}: expected a number and a unit"))?;
    n.checked_mul(mult)
        .with_context(|| format!("invalid --{flag} {s:?}: too large"))
}

/// The block options from the storage flags, as Prometheus derives them: max block duration defaults to
/// 10% of the time retention, at most 31 d, and never below the min block duration.
pub(crate) fn block_options(args: &ServeArgs) -> anyhow::Result<(i64, i64, Option<i64>, Option<u64>)> {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let min = ms(parse_prom_duration(
        "storage.tsdb.min-block-duration",
        &args.min_block_duration,
    )?);
    if min <= 0 {
        bail!(
            "invalid --storage.tsdb.min-block-duration {:?}: must be positive",
            args.min_block_duration
        );
    }
    let (retention, size) = args.retention()?;
    let retention = (retention > 0).then(|| i64::try_from(retention).unwrap_or(i64::MAX));
    let size = (size > 0).then_some(size);
    const MAX: i64 = 31 * 24 * 3600 * 1000;
    let max = match &args.max_block_duration {
        Some(s) => ms(parse_prom_duration("storage.tsdb.max-block-duration", s)?),
        None => retention.map_or(MAX, |r| (r / 10).min(MAX)),
    };
    Ok((min, max.max(min), retention, size))
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(args.log_level.clone()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let lookback = parse_prom_duration("query.lookback-delta", &args.lookback_delta)?;
    let query_timeout = parse_prom_duration("query.timeout", &args.query_timeout)?;
    let fsync = match args.wal_fsync.as_str() {
        "interval" => diamond_tsdb::FsyncPolicy::default(),
        "always" => diamond_tsdb::FsyncPolicy::Always,
        other => bail!("invalid --storage.tsdb.wal-fsync {other:?}: expected interval or always"),
    };

    // Bind first: with port 0 the self-scrape target must name the port actually bound.
    let listener = tokio::net::TcpListener::bind(&args.listen_address)
        .await
        .with_context(|| format!("listening on {}", args.listen_address))?;
    let addr = listener.local_addr().context("reading the bound address")?;

    let config = match &args.config_file {
        Some(p) => diamond_config::load_file(p).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => default_config(&addr)?,
    };
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }

    // Exemplars default to the series retention (none when only a size limits the blocks).
    let series_retention = Duration::from_millis(args.retention()?.0);
    let (min_block, max_block, retention_ms, retention_bytes) = block_options(&args)?;
    let opts = diamond_tsdb::Options {
        max_exemplars: config.storage.max_exemplars.max(0) as usize,
        exemplar_policy: match config.storage.exemplar_store {
            diamond_config::ExemplarStoreKind::Fair => diamond_exemplars::Policy::Fair,
            diamond_config::ExemplarStoreKind::Circular => diamond_exemplars::Policy::Circular,
        },
        exemplar_retention_ms: config
            .storage
            .exemplar_retention
            .unwrap_or(series_retention)
            .as_millis()
            .min(i64::MAX as u128) as i64,
        exemplar_seal_age_ms: config
            .storage
            .exemplar_seal_after
            .map_or(diamond_exemplars::DEFAULT_SEAL_AGE_MS, |d| {
                d.as_millis().min(i64::MAX as u128) as i64
            }),
        out_of_order_time_window_ms: config.storage.out_of_order_time_window.as_millis() as i64,
        wal_fsync: fsync,
        chunk_range_ms: min_block,
        max_block_duration_ms: max_block,
        retention_ms,
        retention_bytes,
        compaction_interval: Some(parse_prom_duration(
            "storage.tsdb.compaction-interval",
            &args.compaction_interval,
        )?),
        ..Default::default()
    };
    let path = args.tsdb_path.clone();
    let started = std::time::Instant::now();
    let db = tokio::task::spawn_blocking(move || diamond_tsdb::Db::open(&path, opts))
        .await
        .context("opening the TSDB")?
        .with_context(|| format!("opening the TSDB at {}", args.tsdb_path.display()))?;
    let db = Arc::new(db);
    tracing::info!(elapsed = ?started.elapsed(), "TSDB opened, WAL replayed");

    let appendable: Arc<dyn Fn() -> Box<dyn Appender> + Send + Sync> = {
        let db = Arc::clone(&db);
        Arc::new(move || db.appender())
    };
    let scrape = Arc::new(diamond_scrape::ScrapeManager::new(appendable));
    let backend = Arc::new(ServerBackend::new(
        Arc::clone(&db),
        Arc::clone(&scrape),
        config,
        args.clone(),
        addr,
    ));
    backend.apply_current();
    // The embedded trace store (issue 6): OTLP ingest, Jaeger/Tempo query APIs, exemplar link checks.
    let traces = open_trace_store(&args).await?;
    backend.set_trace_lookup(Some(traces.clone() as Arc<dyn diamond_model::traceid::TraceLookup>));
    let self_trace = crate::selftrace::SelfTrace::new(Arc::clone(&traces));
    backend.set_self_trace(Arc::clone(&self_trace));
    self_trace.spawn_flusher();

    let engine = diamond_promql::Engine::new(diamond_promql::EngineOptions {
        lookback_delta_ms: lookback.as_millis() as i64,
        max_samples: args.query_max_samples,
        timeout: query_timeout,
        enable_features: args.enable_feature.clone(),
        count_queryable_samples: false,
    });
    let api_opts = diamond_api::ApiOptions {
        enable_lifecycle: args.enable_lifecycle,
        enable_remote_write: args.enable_remote_write,
        enable_admin_api: args.enable_admin_api,
        query_timeout,
        ..Default::default()
    };
    let state = Arc::new(diamond_api::ApiState::new(
        backend.clone(),
        engine,
        api_opts,
        args.query_max_concurrency,
    ));
    let mut app = diamond_api::router(state)
        .merge(diamond_ui::router())
        .merge(diamond_traces::http::router(
            Arc::clone(&traces),
            diamond_traces::http::HttpOptions::default(),
        ));
    if args.self_tracing {
        app = app.layer(axum::middleware::from_fn_with_state(
            Arc::clone(&self_trace),
            crate::selftrace::layer,
        ));
    }
    // gzip for clients that ask (`Accept-Encoding: gzip`), as Prometheus compresses its API, UI and
    // `/metrics` answers: a `query_range` or exemplar-links answer shrinks several-fold (the links
    // answer for 10k exemplars is ~3.9 MB of repetitive JSON). Requests are not decompressed here:
    // remote write and OTLP handle their own `Content-Encoding`.
    let app = app.layer(tower_http::compression::CompressionLayer::new().gzip(true));

    spawn_sighup(Arc::clone(&backend));
    backend.set_ready();
    // One parseable line so scripts and tests learn the address when port 0 was asked for.
    println!("diamond: listening on http://{addr}");
    tracing::info!(%addr, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;

    tracing::info!("shutting down");
    scrape.stop().await;
    let db2 = Arc::clone(&db);
    tokio::task::spawn_blocking(move || db2.close())
        .await
        .context("closing the TSDB")??;
    tokio::task::spawn_blocking(move || {
        self_trace.flush();
        traces.close()
    })
    .await
    .context("closing the trace store")?
    .context("closing the trace store")?;
    Ok(())
}

/// Opens `<storage.tsdb.path>/traces/` with the `--storage.traces.*` retention.
async fn open_trace_store(args: &ServeArgs) -> anyhow::Result<Arc<diamond_traces::Store>> {
    let retention = parse_prom_duration("storage.traces.retention.time", &args.traces_retention_time)?;
    if retention.is_zero() {
        bail!(
            "invalid --storage.traces.retention.time {:?}: must be positive",
            args.traces_retention_time
        );
    }
    let max_bytes = parse_byte_size("storage.traces.retention.size", &args.traces_retention_size)?;
    if max_bytes < 1 << 20 {
        bail!(
            "invalid --storage.traces.retention.size {:?}: at least 1MB",
            args.traces_retention_size
        );
    }
    let opts = diamond_traces::Options {
        retention,
        max_bytes,
        ..Default::default()
    };
    let dir = args.tsdb_path.join("traces");
    let d2 = dir.clone();
    let store = tokio::task::spawn_blocking(move || diamond_traces::Store::open(d2, opts))
        .await
        .context("opening the trace store")?
        .with_context(|| format!("opening the trace store at {}", dir.display()))?;
    Ok(Arc::new(store))
}

#[cfg(unix)]
fn spawn_sighup(backend: Arc<ServerBackend>) {
    tokio::spawn(async move {
        let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return;
        };
        while sig.recv().await.is_some() {
            let b = Arc::clone(&backend);
            match tokio::task::spawn_blocking(move || diamond_api::Backend::reload(&*b)).await {
                Ok(Ok(())) => tracing::info!("configuration reloaded (SIGHUP)"),
                Ok(Err(e)) => tracing::error!("reload failed, keeping the running configuration: {e}"),
                Err(e) => tracing::error!("reload task failed: {e}"),
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_sighup(_backend: Arc<ServerBackend>) {}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> ServeArgs {
        let mut v = vec!["diamond", "serve"];
        v.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(v).expect("flags parse").command {
            Some(crate::cli::Command::Serve(a)) => *a,
            _ => unreachable!("serve was given"),
        }
    }

    #[test]
    fn byte_sizes_as_prometheus() {
        assert_eq!(parse_byte_size("f", "0B").unwrap(), 0);
        assert_eq!(parse_byte_size("f", "512MB").unwrap(), 512 << 20);
        assert_eq!(parse_byte_size("f", "1gb").unwrap(), 1 << 30);
        assert_eq!(parse_byte_size("f", "3TB").unwrap(), 3 << 40);
        for bad in ["", "MB", "12", "1.5GB", "-1GB", "10XB", "99999999999EB"] {
            let e = parse_byte_size("storage.tsdb.retention.size", bad).unwrap_err();
            assert!(e.to_string().contains("--storage.tsdb.retention.size"), "{bad}: {e}");
        }
    }

    #[test]
    fn block_flags_derive_like_prometheus() {
        const H: i64 = 3600 * 1000;
        // Defaults: 2h blocks, 15d retention, max block = 10% of it (36h), no size limit.
        assert_eq!(block_options(&args(&[])).unwrap(), (2 * H, 36 * H, Some(360 * H), None));
        // Long retention: max block capped at 31d.
        let (_, max, _, _) = block_options(&args(&["--storage.tsdb.retention.time=1y"])).unwrap();
        assert_eq!(max, 31 * 24 * H);
        let got = block_options(&args(&[
            "--storage.tsdb.min-block-duration=1h",
            "--storage.tsdb.max-block-duration=9h",
            "--storage.tsdb.retention.time=0s",
            "--storage.tsdb.retention.size=1GB",
        ]))
        .unwrap();
        assert_eq!(got, (H, 9 * H, None, Some(1 << 30)));
        assert!(block_options(&args(&["--storage.tsdb.min-block-duration=0s"])).is_err());
        // Prometheus 3: a size alone sets no time limit (and max block 31d); 0s alone is the default.
        assert_eq!(
            block_options(&args(&["--storage.tsdb.retention.size=512MB"])).unwrap(),
            (2 * H, 31 * 24 * H, None, Some(512 << 20))
        );
        assert_eq!(
            block_options(&args(&["--storage.tsdb.retention.time=0s"])).unwrap(),
            (2 * H, 36 * H, Some(360 * H), None)
        );
        assert_eq!(
            block_options(&args(&[
                "--storage.tsdb.retention.time=0s",
                "--storage.tsdb.retention.size=0B"
            ]))
            .unwrap(),
            (2 * H, 36 * H, Some(360 * H), None)
        );
    }

    #[test]
    fn retention_is_shown_as_prometheus_shows_it() {
        // Each line: flags, then Prometheus 3.5's runtimeinfo storageRetention and its flags page values
        // (read from the reference binary).
        for (flags, want, time, size) in [
            (&[][..], "15d", "15d", "0B"),
            (&["--storage.tsdb.retention.size=512MB"][..], "512MiB", "0s", "512MiB"),
            (&["--storage.tsdb.retention.time=0s"][..], "15d", "15d", "0B"),
            (
                &["--storage.tsdb.retention.time=7d", "--storage.tsdb.retention.size=1GB"][..],
                "1w or 1GiB",
                "1w",
                "1GiB",
            ),
            (
                &[
                    "--storage.tsdb.retention.time=36h",
                    "--storage.tsdb.retention.size=1536MB",
                ][..],
                "1d12h or 1GiB512MiB",
                "1d12h",
                "1GiB512MiB",
            ),
        ] {
            let a = args(flags);
            assert_eq!(a.storage_retention(), want, "{flags:?}");
            let m = a.as_map();
            assert_eq!(m["storage.tsdb.retention.time"], time, "{flags:?}");
            assert_eq!(m["storage.tsdb.retention.size"], size, "{flags:?}");
        }
    }
}
