//! `diamond check config|metrics`.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::CheckCommand;

pub(crate) fn run(cmd: CheckCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CheckCommand::Config { files } => {
            let mut ok = true;
            for f in files {
                match diamond_config::load_file(&f) {
                    Ok(cfg) => {
                        println!(
                            "Checking {}\n  SUCCESS: {} is valid config file syntax",
                            f.display(),
                            f.display()
                        );
                        for w in &cfg.warnings {
                            println!("  WARNING: {w}");
                        }
                    }
                    Err(e) => {
                        ok = false;
                        eprintln!("Checking {}\n  FAILED: {e}", f.display());
                    }
                }
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        CheckCommand::Metrics { file } => {
            let (name, data) = match file {
                Some(f) => (
                    f.display().to_string(),
                    std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?,
                ),
                None => {
                    let mut buf = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut buf)
                        .context("reading standard input")?;
                    ("<stdin>".to_owned(), buf)
                }
            };
            match diamond_exposition::validate_openmetrics(&data) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("{name}:{e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
