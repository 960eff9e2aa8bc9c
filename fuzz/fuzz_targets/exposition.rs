//! Fuzzes the exposition parser in both formats (calling every sample accessor) and the strict OpenMetrics
//! validator: no input may panic, and the parser must stop after at most one entry per input line.
#![no_main]

use diamond_exposition::{Entry, Format, Parser, count_samples, validate_openmetrics};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    for format in [Format::PromText, Format::OpenMetrics] {
        let mut p = Parser::new(data, format);
        let mut entries = 0;
        let mut samples = 0;
        let mut failed = false;
        while let Some(entry) = p.next() {
            entries += 1;
            assert!(entries <= lines, "more entries than lines");
            match entry {
                Ok(Entry::Sample(s)) => {
                    samples += 1;
                    let labels = s.labels();
                    assert_eq!(labels.metric_name(), Some(s.metric_name().as_ref()));
                    let _ = (s.series(), s.value(), s.timestamp_ms(), s.has_exemplar_syntax());
                    if let Some(e) = s.exemplar() {
                        assert!(s.has_exemplar_syntax());
                        assert!(e.has_ts || e.ts == 0);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    failed = true;
                    assert!(e.line >= 1 && e.line <= lines && e.column >= 1);
                    let _ = e.to_string();
                }
            }
        }
        assert!(p.next().is_none(), "parser resumed after the end");
        match count_samples(data, format) {
            Ok(n) => assert!(!failed && n == samples),
            Err(_) => assert!(failed),
        }
    }
    if let Err(e) = validate_openmetrics(data) {
        let _ = e.to_string();
    }
});
