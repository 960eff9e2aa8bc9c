//! `diamond tsdb ...`: TSDB tools in the manner of `promtool tsdb`. `create-blocks-from openmetrics`
//! backfills blocks from OpenMetrics text (the work is `diamond_tsdb::backfill`).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use diamond_tsdb::backfill;
use diamond_tsdb::fs::{Dir, DiskDir};

use crate::cli::{CreateBlocksFrom, TsdbCommand};

pub(crate) fn run(c: TsdbCommand) -> anyhow::Result<ExitCode> {
    match c {
        TsdbCommand::CreateBlocksFrom(CreateBlocksFrom::Openmetrics {
            file,
            outdir,
            max_block_duration,
        }) => {
            let Some(max) = diamond_api::params::prom_duration_ms(&max_block_duration) else {
                bail!("--max-block-duration: invalid duration {max_block_duration:?}");
            };
            let input = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let series = backfill::parse_openmetrics(&input).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            std::fs::create_dir_all(&outdir).with_context(|| format!("creating {}", outdir.display()))?;
            let root: Arc<dyn Dir> =
                Arc::new(DiskDir::open(&outdir).with_context(|| format!("opening {}", outdir.display()))?);
            let metas = backfill::write_blocks(&root, &series, backfill::block_duration(max))
                .with_context(|| format!("writing blocks into {}", outdir.display()))?;
            println!(
                "BLOCK ULID                  MIN TIME       MAX TIME       DURATION     NUM SAMPLES  NUM CHUNKS   NUM SERIES"
            );
            for m in &metas {
                println!(
                    "{:<27} {:<14} {:<14} {:<12} {:<12} {:<12} {}",
                    m.ulid,
                    m.min_time,
                    m.max_time,
                    format!("{}ms", m.max_time - m.min_time),
                    m.stats.num_samples,
                    m.stats.num_chunks,
                    m.stats.num_series
                );
            }
            eprintln!(
                "diamond: wrote {} block(s) with {} samples of {} series into {}",
                metas.len(),
                series.num_samples(),
                series.by_labels.len(),
                outdir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
