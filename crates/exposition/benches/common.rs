//! Input generators shared by the benchmark and the `throughput` example.

/// A histogram-heavy OpenMetrics body: `http_request_duration_seconds` for `series` label sets (method, code,
/// handler), each with 8 buckets that carry a `trace_id`/`span_id` exemplar, then `_sum` and `_count`: 10 samples
/// per label set.
pub fn generated_openmetrics(series: u64) -> Vec<u8> {
    use std::fmt::Write;
    let mut out = String::new();
    out.push_str("# HELP http_request_duration_seconds Latency of HTTP requests.\n");
    out.push_str("# TYPE http_request_duration_seconds histogram\n");
    out.push_str("# UNIT http_request_duration_seconds seconds\n");
    let les = ["0.005", "0.01", "0.05", "0.1", "0.5", "1.0", "5.0", "+Inf"];
    for s in 0..series {
        // s % 21 fixes (method, code) and s / 21 the handler, so every label set is distinct.
        let (method, code, handler) = (["GET", "POST", "PUT"][s as usize % 3], 200 + s % 7, s / 21);
        let labels = format!("method=\"{method}\",code=\"{code}\",handler=\"/api/v1/h{handler}\"");
        for (i, le) in les.iter().enumerate() {
            let trace = s.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {} \
                 # {{trace_id=\"{trace:016x}{trace:016x}\",span_id=\"{trace:016x}\"}} 0.0{i}7 1700000000.{i:03}",
                (i as u64 + 1) * 17
            );
        }
        let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} 123.456");
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{{labels}}} {}",
            les.len() * 17
        );
    }
    out.push_str("# EOF\n");
    out.into_bytes()
}
