//! Measures parser throughput in samples per second of wall time and of this thread's CPU time (from
//! `/proc/thread-self/schedstat`, Linux), so that a figure taken on a busy machine still says what one core does.
//!
//! `cargo run --release -p diamond-exposition --example throughput [FILE om|text]`; without a file it parses the
//! generated 10k-sample OpenMetrics body of the benchmark.

use std::time::Instant;

use diamond_exposition::{Entry, Format, Parser};

#[path = "../benches/common.rs"]
mod common;

/// Nanoseconds this thread has spent on a CPU, if the kernel tells.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (input, format) = match args.get(1) {
        Some(path) => {
            let format = if args.get(2).map(String::as_str) == Some("text") {
                Format::PromText
            } else {
                Format::OpenMetrics
            };
            (std::fs::read(path).expect("readable file"), format)
        }
        None => (common::generated_openmetrics(1_000), Format::OpenMetrics),
    };
    // Enough rounds for about 3M samples, so the CPU clock's granularity does not matter.
    let per_round = diamond_exposition::count_samples(&input, format)
        .expect("input parses")
        .max(1);
    let rounds = (3_000_000 / per_round).max(1);
    let (wall, cpu0) = (Instant::now(), cpu_ns());
    let mut samples = 0u64;
    let mut acc = 0usize;
    for _ in 0..rounds {
        let mut p = Parser::new(&input, format);
        while let Some(e) = p.next() {
            if let Entry::Sample(s) = e.expect("input parses") {
                samples += 1;
                acc += s.series().len() + s.value() as usize;
            }
        }
    }
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu_ns().zip(cpu0).map(|(b, a)| (b - a) as f64 / 1e9);
    println!("{samples} samples in {rounds} rounds (checksum {acc})");
    println!("wall: {:.2} M samples/s", samples as f64 / wall / 1e6);
    if let Some(cpu) = cpu {
        println!("cpu:  {:.2} M samples/s of one core's time", samples as f64 / cpu / 1e6);
    }
}
