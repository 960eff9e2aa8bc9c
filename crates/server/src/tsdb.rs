//! `diamond tsdb ...`: TSDB tools in the manner of `promtool tsdb`. `create-blocks-from openmetrics`
//! backfills blocks from OpenMetrics text (the work is `diamond_tsdb::backfill`); `analyze`, `dump` and
//! `list` read a data directory without changing it (`diamond_tsdb::tools`) and print what promtool
//! prints, in promtool's format (Go's `%g` for values, Go-quoted label values), so outputs compare.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use diamond_model::{Labels, Matcher};
use diamond_tsdb::backfill;
use diamond_tsdb::fs::{Dir, DiskDir};
use diamond_tsdb::tools::{self, DataDir};

use crate::cli::{CreateBlocksFrom, TsdbCommand};

pub(crate) fn run(c: TsdbCommand) -> anyhow::Result<ExitCode> {
    match c {
        TsdbCommand::Analyze {
            data_dir,
            block_id,
            block,
            limit,
            selector,
        } => analyze(&data_dir, block.or(block_id).as_deref(), limit, selector.as_deref()),
        TsdbCommand::Dump {
            data_dir,
            min_time,
            max_time,
            selectors,
        } => dump(&data_dir, min_time, max_time, &selectors),
        TsdbCommand::List { data_dir } => list(&data_dir),
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

/// Parses a series selector (`up{job="x"}`, `{__name__=~"a.+"}`) into its matchers.
fn parse_selector(s: &str) -> anyhow::Result<Vec<Matcher>> {
    let expr = diamond_promql::parse(s).map_err(|e| anyhow::anyhow!("--match {s:?}: {e}"))?;
    match &expr {
        diamond_promql::Expr::VectorSelector(vs) => {
            diamond_promql::parser::selector_matchers(vs).map_err(|e| anyhow::anyhow!("--match {s:?}: {e}"))
        }
        _ => bail!("--match {s:?}: not a series selector"),
    }
}

fn open(data_dir: &Path, with_head: bool) -> anyhow::Result<DataDir> {
    if !data_dir.is_dir() {
        bail!("{}: not a directory", data_dir.display());
    }
    let d = DataDir::open(data_dir, with_head)?;
    if let Some(damage) = d.wal_damage() {
        eprintln!(
            "diamond: warning: {}: {damage}; records after the damage are not shown (the directory was not changed)",
            data_dir.join("wal").display()
        );
    }
    Ok(d)
}

fn analyze(data_dir: &Path, block: Option<&str>, limit: usize, selector: Option<&str>) -> anyhow::Result<ExitCode> {
    let matchers = selector.map(parse_selector).transpose()?.unwrap_or_default();
    let d = open(data_dir, false)?;
    let b = d.block(block)?;
    let a = tools::analyze(b, &matchers)
        .with_context(|| format!("analyzing {}", data_dir.join(&b.meta().ulid).display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_analysis(&mut out, &a, limit, selector)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// promtool's `analyze` layout, section by section.
fn write_analysis(
    out: &mut impl Write,
    a: &tools::Analysis,
    limit: usize,
    selector: Option<&str>,
) -> std::io::Result<()> {
    writeln!(out, "Block ID: {}", a.meta.ulid)?;
    writeln!(out, "Duration: {}", go_duration_ms(a.meta.max_time - a.meta.min_time))?;
    writeln!(out, "Total Series: {}", a.meta.stats.num_series)?;
    if let Some(s) = selector {
        writeln!(out, "Matcher: {s}")?;
    }
    writeln!(out, "Label names: {}", a.label_names)?;
    if let Some(n) = a.matched_series {
        writeln!(out, "Matched series: {n}")?;
    }
    writeln!(out, "Postings (unique label pairs): {}", a.postings)?;
    writeln!(out, "Postings entries (total label pairs): {}", a.entries)?;
    for (title, list) in [
        ("Label pairs most involved in churning", &a.churn_pairs),
        ("Label names most involved in churning", &a.churn_names),
        ("Most common label pairs", &a.common_pairs),
        (
            "Label names with highest cumulative label value length",
            &a.value_lengths,
        ),
        ("Highest cardinality labels", &a.cardinality),
        ("Highest cardinality metric names", &a.metric_names),
    ] {
        writeln!(out, "\n{title}:")?;
        for (n, k) in list.iter().take(limit) {
            writeln!(out, "{n} {k}")?;
        }
    }
    Ok(())
}

fn dump(data_dir: &Path, mint: i64, maxt: i64, selectors: &[String]) -> anyhow::Result<ExitCode> {
    let sets: Vec<Vec<Matcher>> = if selectors.is_empty() {
        vec![Vec::new()]
    } else {
        selectors
            .iter()
            .map(|s| parse_selector(s))
            .collect::<anyhow::Result<_>>()?
    };
    let d = open(data_dir, true)?;
    let ctx = || format!("dumping {}", data_dir.display());
    let q = d.querier(mint, maxt).with_context(ctx)?;
    // Several selectors: the union of their series, each once, in label order.
    let mut series: Vec<diamond_model::storage::Series> = Vec::new();
    for set in &sets {
        series.extend(q.select(set).with_context(ctx)?);
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    series.dedup_by(|a, b| a.labels == b.labels);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let r = (|| -> std::io::Result<()> {
        for s in &series {
            let name = go_labels(&s.labels);
            let mut it = s.data.iter(mint, maxt);
            while let Some((t, v)) = it.next() {
                writeln!(out, "{name} {} {t}", go_g(v))?;
            }
        }
        out.flush()
    })();
    match r {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `diamond tsdb dump | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("writing to standard output"),
    }
}

fn list(data_dir: &Path) -> anyhow::Result<ExitCode> {
    let d = open(data_dir, false)?;
    let mut rows = vec![[
        "BLOCK ULID".to_owned(),
        "MIN TIME".into(),
        "MAX TIME".into(),
        "DURATION".into(),
        "NUM SAMPLES".into(),
        "NUM CHUNKS".into(),
        "NUM SERIES".into(),
        "SIZE".into(),
    ]];
    for b in d.blocks() {
        let m = b.meta();
        rows.push([
            m.ulid.clone(),
            m.min_time.to_string(),
            m.max_time.to_string(),
            go_duration_ms(m.max_time - m.min_time),
            m.stats.num_samples.to_string(),
            m.stats.num_chunks.to_string(),
            m.stats.num_series.to_string(),
            dir_bytes(&data_dir.join(&m.ulid)).to_string(),
        ]);
    }
    // Columns as promtool's tabwriter (minimum width 13, padding 2).
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].len() + 2).max().unwrap_or(0).max(13))
        .collect();
    let mut out = std::io::stdout().lock();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c == 7 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes of the files under `dir` (promtool's block size: chunks, index, tombstones and meta.json).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// A label set as Prometheus's `labels.Labels.String()`: `{a="x", b="y"}`, values Go-quoted, names
/// quoted too when they are not legacy-valid (UTF-8 names).
fn go_labels(ls: &Labels) -> String {
    let mut s = String::with_capacity(64);
    s.push('{');
    for (i, l) in ls.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let legacy = l
            .name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
            && !l.name.is_empty();
        if legacy {
            s.push_str(&l.name);
        } else {
            go_quote(&l.name, &mut s);
        }
        s.push('=');
        go_quote(&l.value, &mut s);
    }
    s.push('}');
    s
}

/// Go's `strconv.Quote`: printable characters as they are, the usual backslash escapes, other
/// non-printable characters as `\xNN`, `\uNNNN` or `\UNNNNNNNN`. Go's "printable" (Unicode letters,
/// marks, numbers, punctuation, symbols and the ASCII space) is approximated here by excluding control
/// characters and the space, format and private-use ranges listed below.
fn go_quote(v: &str, s: &mut String) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\x07' => s.push_str("\\a"),
            '\x08' => s.push_str("\\b"),
            '\x0c' => s.push_str("\\f"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\x0b' => s.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => s.push_str(&format!("\\x{:02x}", c as u32)),
            c if !go_printable(c) => {
                if (c as u32) < 0x10000 {
                    s.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    s.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

fn go_printable(c: char) -> bool {
    let u = c as u32;
    !(c.is_control()
        || u == 0xa0
        || u == 0xad
        || u == 0x1680
        || (0x2000..=0x200f).contains(&u)
        || (0x2028..=0x202f).contains(&u)
        || (0x205f..=0x206f).contains(&u)
        || u == 0x3000
        || u == 0xfeff
        || (0xd800..=0xf8ff).contains(&u)
        || (0xfff9..=0xfffb).contains(&u)
        || (0xf0000..).contains(&u))
}

/// A float as Go's `fmt` `%g`: the shortest representation that round-trips, in exponent form (`1e+06`,
/// `1.5e-05`) when the exponent is below -4 or at least 6 (the shortest-precision rule of
/// `strconv.FormatFloat(v, 'g', -1, 64)`), `+Inf`, `-Inf`, `NaN`.
fn go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` is the shortest round-tripping mantissa: "-1.2345e-7", "1e6".
    let e = format!("{v:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let mut s = String::with_capacity(24);
    if neg {
        s.push('-');
    }
    if !(-4..6).contains(&exp) {
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push_str(&format!(
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        ));
    } else if exp < 0 {
        s.push_str("0.");
        for _ in 0..(-exp - 1) {
            s.push('0');
        }
        s.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            s.push_str(&digits);
            for _ in digits.len()..int_len {
                s.push('0');
            }
        } else {
            s.push_str(&digits[..int_len]);
            s.push('.');
            s.push_str(&digits[int_len..]);
        }
    }
    s
}

/// A duration in milliseconds as Go's `time.Duration.String()`: `2h0m0s`, `1h12m0.001s`, `1.5s`, `250ms`.
fn go_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if ms < 1000 {
        s.push_str(&format!("{ms}ms"));
        return s;
    }
    let (h, m, sec, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        s.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        s.push_str(&format!("{m}m"));
    }
    s.push_str(&sec.to_string());
    if frac > 0 {
        let f = format!("{frac:03}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('s');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_matches_go_fmt() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (100.0, "100"),
            (999999.0, "999999"),
        ] {
            assert_eq!(go_g(v), want, "{v}");
        }
    }

    #[test]
    fn go_duration_matches_go() {
        for (ms, want) in [
            (0, "0s"),
            (250, "250ms"),
            (1500, "1.5s"),
            (7_200_000, "2h0m0s"),
            (4_320_001, "1h12m0.001s"),
            (61_000, "1m1s"),
            (6_360_001, "1h46m0.001s"),
        ] {
            assert_eq!(go_duration_ms(ms), want, "{ms}");
        }
    }

    #[test]
    fn go_labels_quote_like_prometheus() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("a", "x\"y\\z\n\u{1}é"), ("b.c", "v")]);
        assert_eq!(
            go_labels(&l),
            "{__name__=\"up\", a=\"x\\\"y\\\\z\\n\\x01é\", \"b.c\"=\"v\"}"
        );
    }
}
