//! Parser throughput over the Prometheus exposition corpora and a generated 10k-sample OpenMetrics body with an
//! exemplar on every histogram bucket. Throughput is in samples, so criterion reports samples per second.
//!
//! Run with `cargo bench -p diamond-exposition --bench exposition_parse`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diamond_exposition::{Entry, Format, Parser, count_samples, validate_openmetrics};

#[path = "common.rs"]
mod common;

use common::generated_openmetrics;

const CORPORA: &str = "/work/shared/testdata/exposition";

/// Parses every entry and touches each sample's value and series key, as a scrape loop with a warm series cache
/// does.
fn parse_only(input: &[u8], format: Format) -> usize {
    let mut p = Parser::new(input, format);
    let mut acc = 0usize;
    while let Some(e) = p.next() {
        if let Ok(Entry::Sample(s)) = e {
            acc += s.series().len() + s.value() as usize;
        }
    }
    acc
}

/// Parses and builds the label set (and exemplar) of every sample, as a scrape with a cold series cache does.
fn parse_with_labels(input: &[u8], format: Format) -> usize {
    let mut p = Parser::new(input, format);
    let mut acc = 0usize;
    while let Some(e) = p.next() {
        if let Ok(Entry::Sample(s)) = e {
            acc += s.labels().len();
            if let Some(ex) = s.exemplar() {
                acc += ex.labels.len();
            }
        }
    }
    acc
}

fn benches(c: &mut Criterion) {
    let generated = generated_openmetrics(1_000);
    let n = count_samples(&generated, Format::OpenMetrics).expect("generated body parses");
    assert_eq!(n, 10_000);
    if let Err(e) = validate_openmetrics(&generated) {
        panic!("generated body is not valid OpenMetrics: {e}");
    }

    let mut g = c.benchmark_group("exposition");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(
        "baseline: count the line ends of the 10k-sample OpenMetrics body",
        |b| b.iter(|| memchr_count(black_box(&generated))),
    );
    g.bench_function("parse 10k OpenMetrics samples with exemplars", |b| {
        b.iter(|| parse_only(black_box(&generated), Format::OpenMetrics))
    });
    g.bench_function(
        "parse 10k OpenMetrics samples with exemplars and build every label set and exemplar",
        |b| b.iter(|| parse_with_labels(black_box(&generated), Format::OpenMetrics)),
    );
    g.bench_function("validate 10k OpenMetrics samples with exemplars strictly", |b| {
        b.iter(|| validate_openmetrics(black_box(&generated)))
    });

    for (file, format) in [
        ("alltypes.237mfs.prom.txt", Format::PromText),
        ("alltypes.237mfs.nometa.prom.txt", Format::PromText),
        ("alltypes.5mfs.om.txt", Format::OpenMetrics),
        ("1histogram.om.txt", Format::OpenMetrics),
    ] {
        let input = std::fs::read(format!("{CORPORA}/{file}")).expect("corpus readable");
        let n = count_samples(&input, format).expect("corpus parses");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("parse the {n} samples of {file}"), |b| {
            b.iter(|| parse_only(black_box(&input), format))
        });
        g.bench_function(
            format!("parse the {n} samples of {file} and build every label set"),
            |b| b.iter(|| parse_with_labels(black_box(&input), format)),
        );
    }
    g.finish();
}

fn memchr_count(input: &[u8]) -> usize {
    input.iter().filter(|&&b| b == b'\n').count()
}

criterion_group!(exposition, benches);
criterion_main!(exposition);
