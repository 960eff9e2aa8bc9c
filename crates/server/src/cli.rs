//! Command-line flags. Names follow Prometheus's where the concept is the same, so a Prometheus command
//! line mostly works unchanged.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Diamond: a Prometheus-compatible metrics server where every spike links to its trace.
#[derive(Debug, Parser)]
#[command(name = "diamond", version, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// Flags of `serve`, which runs when no command is given.
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server (the default command).
    Serve(Box<ServeArgs>),
    /// Validate files without starting the server.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Print Grafana provisioning YAML for a Prometheus data source pointed at Diamond, with exemplar trace
    /// links that match the label names Diamond recognises and the config's trace_destinations.
    GrafanaDatasource(GrafanaArgs),
    /// TSDB tools (like promtool tsdb).
    #[command(subcommand)]
    Tsdb(TsdbCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum TsdbCommand {
    /// Backfill: create blocks from a file (like promtool tsdb create-blocks-from).
    #[command(subcommand)]
    CreateBlocksFrom(CreateBlocksFrom),
    /// Analyze churn, label pair cardinality and label values of a block (like promtool tsdb analyze).
    Analyze {
        /// Data directory.
        #[arg(default_value = "data")]
        data_dir: PathBuf,
        /// Block to analyze (default: the newest); the same as --block.
        block_id: Option<String>,
        /// Block to analyze (default: the newest).
        #[arg(long = "block", conflicts_with = "block_id")]
        block: Option<String>,
        /// How many items to show in each list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Series selector: analyze only the matching series.
        #[arg(long = "match")]
        selector: Option<String>,
    },
    /// Print every sample of the blocks and the head (WAL) as `{labels} value timestamp` lines (like
    /// promtool tsdb dump). Nothing in the data directory is changed; it may belong to a running server.
    Dump {
        /// Data directory.
        #[arg(default_value = "data")]
        data_dir: PathBuf,
        /// Minimum timestamp to dump, in milliseconds since the epoch.
        #[arg(long = "min-time", default_value_t = i64::MIN, allow_hyphen_values = true)]
        min_time: i64,
        /// Maximum timestamp to dump (inclusive), in milliseconds since the epoch.
        #[arg(long = "max-time", default_value_t = i64::MAX, allow_hyphen_values = true)]
        max_time: i64,
        /// Series selector (repeatable: series matching any are dumped). Default: every series.
        #[arg(long = "match")]
        selectors: Vec<String>,
    },
    /// List the blocks of a data directory (like promtool tsdb list).
    List {
        /// Data directory.
        #[arg(default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CreateBlocksFrom {
    /// From OpenMetrics text whose samples all have timestamps (ending in `# EOF`).
    Openmetrics {
        /// The OpenMetrics file.
        file: PathBuf,
        /// Where to write the blocks (a Diamond or Prometheus data directory, or one to move them from).
        #[arg(default_value = "data")]
        outdir: PathBuf,
        /// Largest block to write; blocks are 2h × 3^k, aligned (as promtool).
        #[arg(long = "max-block-duration", default_value = "2h")]
        max_block_duration: String,
    },
}

/// The embedded trace store's data source type in `diamond grafana-datasource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EmbeddedKind {
    /// Grafana's Jaeger data source.
    Jaeger,
    /// Grafana's Tempo data source.
    Tempo,
}

impl EmbeddedKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EmbeddedKind::Jaeger => "jaeger",
            EmbeddedKind::Tempo => "tempo",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub(crate) struct GrafanaArgs {
    /// Configuration file whose trace_destinations become links (default: none but Diamond's own store).
    #[arg(long = "config.file")]
    pub(crate) config_file: Option<PathBuf>,
    /// Diamond's URL as Grafana reaches it (default: http://<--web.listen-address>).
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// The address Diamond listens on, for the default --url.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9090")]
    pub(crate) listen_address: String,
    /// Data source name.
    #[arg(long, default_value = "Diamond")]
    pub(crate) name: String,
    /// Data source UID.
    #[arg(long, default_value = "diamond")]
    pub(crate) uid: String,
    /// Make it Grafana's default data source.
    #[arg(long)]
    pub(crate) default: bool,
    /// Also link to this Tempo data source of Grafana's (internal links by `datasourceUid`).
    #[arg(long)]
    pub(crate) tempo_datasource_uid: Option<String>,
    /// Also provision a Jaeger or Tempo data source pointed at Diamond's embedded trace store, and link to it.
    #[arg(long, value_enum)]
    pub(crate) embedded_datasource: Option<EmbeddedKind>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CheckCommand {
    /// Validate Prometheus-style configuration files.
    Config {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate an OpenMetrics exposition strictly (like `promtool check metrics`); reads standard input
    /// when no file is given.
    Metrics {
        /// File to check (default: standard input).
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// Prometheus-style configuration file. Without one, Diamond scrapes its own /metrics every 15s.
    #[arg(long = "config.file")]
    pub(crate) config_file: Option<PathBuf>,
    /// Address to listen on for the UI, API and telemetry.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9090")]
    pub(crate) listen_address: String,
    /// Base path for the database.
    #[arg(long = "storage.tsdb.path", default_value = "data")]
    pub(crate) tsdb_path: PathBuf,
    /// How long to keep samples: blocks ending more than this before the newest block's end are deleted.
    /// If neither this flag nor --storage.tsdb.retention.size is set (or both are zero), it defaults to
    /// 15d; with only a size set there is no time limit (as Prometheus 3).
    #[arg(long = "storage.tsdb.retention.time")]
    pub(crate) retention_time: Option<String>,
    /// Maximum bytes of blocks plus WAL (units B, KB, MB, GB, TB, PB, EB, powers of 1024); the oldest
    /// blocks are deleted first. `0B` (the default) disables size retention.
    #[arg(long = "storage.tsdb.retention.size", default_value = "0B")]
    pub(crate) retention_size: String,
    /// How long the embedded trace store (`<storage.tsdb.path>/traces/`) keeps spans: segments whose
    /// newest span ended longer ago are deleted, and older spans are refused at ingest.
    #[arg(long = "storage.traces.retention.time", default_value = "7d")]
    pub(crate) traces_retention_time: String,
    /// Maximum bytes of the embedded trace store (units as for `storage.tsdb.retention.size`); the oldest
    /// segments are deleted first.
    #[arg(long = "storage.traces.retention.size", default_value = "1GB")]
    pub(crate) traces_retention_size: String,
    /// Trace Diamond's own HTTP requests into the embedded store and record
    /// `diamond_http_request_duration_seconds` with their trace IDs as exemplars.
    #[arg(long = "web.self-tracing", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) self_tracing: bool,
    /// Duration of the blocks cut from the head (and of head chunks).
    #[arg(long = "storage.tsdb.min-block-duration", default_value = "2h")]
    pub(crate) min_block_duration: String,
    /// Largest block compaction produces. Default: 10% of the time retention, at most 31d.
    #[arg(long = "storage.tsdb.max-block-duration")]
    pub(crate) max_block_duration: Option<String>,
    /// How often the head is cut into blocks, blocks compacted and retention applied (Prometheus: 1m,
    /// fixed). Diamond-specific, for tests.
    #[arg(long = "storage.tsdb.compaction-interval", default_value = "1m", hide = true)]
    pub(crate) compaction_interval: String,
    /// WAL fsync policy: `interval` (fsync about every second; acknowledged writes survive a process
    /// crash) or `always` (fsync before acknowledging; they survive power loss too).
    #[arg(long = "storage.tsdb.wal-fsync", default_value = "interval")]
    pub(crate) wal_fsync: String,
    /// How far back a vector selector looks for a sample.
    #[arg(long = "query.lookback-delta", default_value = "5m")]
    pub(crate) lookback_delta: String,
    /// Maximum time a query may take before it is aborted.
    #[arg(long = "query.timeout", default_value = "2m")]
    pub(crate) query_timeout: String,
    /// Maximum number of samples a single query can load into memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub(crate) query_max_samples: usize,
    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub(crate) query_max_concurrency: usize,
    /// Experimental features, comma-separated or repeated (e.g. promql-experimental-functions).
    #[arg(long = "enable-feature", value_delimiter = ',')]
    pub(crate) enable_feature: Vec<String>,
    /// Accept remote-write requests at /api/v1/write (on by default in Diamond).
    #[arg(long = "web.enable-remote-write-receiver", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) enable_remote_write: bool,
    /// Enable /-/reload (on by default in Diamond, which listens on loopback by default).
    #[arg(long = "web.enable-lifecycle", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) enable_lifecycle: bool,
    /// Enable the admin API: /api/v1/admin/tsdb/{delete_series,clean_tombstones,snapshot}.
    #[arg(long = "web.enable-admin-api", default_value_t = false)]
    pub(crate) enable_admin_api: bool,
    /// Log level: debug, info, warn, error.
    #[arg(long = "log.level", default_value = "info")]
    pub(crate) log_level: String,
}

/// Bytes as Prometheus prints a size (`units.Base2Bytes`): `0B`, `512MiB`, `1GiB512MiB`.
pub(crate) fn format_base2_bytes(mut n: u64) -> String {
    if n == 0 {
        return "0B".into();
    }
    let mut s = String::new();
    for (unit, shift) in [
        ("EiB", 60),
        ("PiB", 50),
        ("TiB", 40),
        ("GiB", 30),
        ("MiB", 20),
        ("KiB", 10),
        ("B", 0),
    ] {
        let v = n >> shift;
        if v > 0 {
            s.push_str(&format!("{v}{unit}"));
            n -= v << shift;
        }
    }
    s
}

impl ServeArgs {
    /// The retention in effect, (time in ms, bytes), 0 meaning none: Prometheus 3's rule is that when
    /// neither a time nor a size is set (or both are zero) the time retention is 15d, and that a size
    /// alone sets no time limit.
    pub(crate) fn retention(&self) -> anyhow::Result<(u64, u64)> {
        let time = match &self.retention_time {
            Some(s) => diamond_config::parse_duration(s)
                .map_err(|e| anyhow::anyhow!("invalid --storage.tsdb.retention.time {s:?}: {e}"))?,
            None => std::time::Duration::ZERO,
        };
        let time = u64::try_from(time.as_millis()).unwrap_or(u64::MAX);
        let size = crate::serve::parse_byte_size("storage.tsdb.retention.size", &self.retention_size)?;
        if time == 0 && size == 0 {
            return Ok((15 * 24 * 3600 * 1000, 0));
        }
        Ok((time, size))
    }

    /// `/api/v1/status/runtimeinfo` `storageRetention`, as Prometheus words it: `15d`, `512MiB`,
    /// `1w or 1GiB`.
    pub(crate) fn storage_retention(&self) -> String {
        let (time, size) = self.retention().unwrap_or_default();
        let mut parts = Vec::new();
        if time > 0 {
            parts.push(diamond_config::format_duration(std::time::Duration::from_millis(time)));
        }
        if size > 0 {
            parts.push(format_base2_bytes(size));
        }
        parts.join(" or ")
    }

    /// The flags as `/api/v1/status/flags` shows them.
    pub(crate) fn as_map(&self) -> std::collections::BTreeMap<String, String> {
        let mut m = std::collections::BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_owned(), v);
        };
        put(
            "config.file",
            self.config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        );
        put("web.listen-address", self.listen_address.clone());
        put("storage.tsdb.path", self.tsdb_path.display().to_string());
        // As Prometheus shows them: the retention in effect, in its formats (`0s` = no time limit).
        let (time, size) = self.retention().unwrap_or_default();
        put(
            "storage.tsdb.retention.time",
            diamond_config::format_duration(std::time::Duration::from_millis(time)),
        );
        put("storage.tsdb.retention.size", format_base2_bytes(size));
        put("storage.traces.retention.time", self.traces_retention_time.clone());
        put("storage.traces.retention.size", self.traces_retention_size.clone());
        put("web.self-tracing", self.self_tracing.to_string());
        put("storage.tsdb.min-block-duration", self.min_block_duration.clone());
        put(
            "storage.tsdb.max-block-duration",
            self.max_block_duration.clone().unwrap_or_default(),
        );
        put("storage.tsdb.wal-fsync", self.wal_fsync.clone());
        put("query.lookback-delta", self.lookback_delta.clone());
        put("query.timeout", self.query_timeout.clone());
        put("query.max-samples", self.query_max_samples.to_string());
        put("query.max-concurrency", self.query_max_concurrency.to_string());
        put("enable-feature", self.enable_feature.join(","));
        put("web.enable-remote-write-receiver", self.enable_remote_write.to_string());
        put("web.enable-lifecycle", self.enable_lifecycle.to_string());
        put("web.enable-admin-api", self.enable_admin_api.to_string());
        put("log.level", self.log_level.clone());
        m
    }
}
