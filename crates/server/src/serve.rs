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

    let series_retention = diamond_config::parse_duration(&args.retention_time)
        .map_err(|e| anyhow::anyhow!("--storage.tsdb.retention.time: {e}"))?;
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
        out_of_order_time_window_ms: config.storage.out_of_order_time_window.as_millis() as i64,
        wal_fsync: fsync,
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
    // The embedded trace store answers link checks once it is wired here (issue 6); until then none.
    backend.set_trace_lookup(None);

    let engine = diamond_promql::Engine::new(diamond_promql::EngineOptions {
        lookback_delta_ms: lookback.as_millis() as i64,
        max_samples: args.query_max_samples,
        timeout: query_timeout,
        enable_features: args.enable_feature.clone(),
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
    let app = diamond_api::router(state).merge(diamond_ui::router());

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
    Ok(())
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
