//! `diamond check config` and `diamond check metrics` as a user runs them.

use std::process::Command;

fn diamond(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_diamond"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn check_config_reports_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['x:1']\n").unwrap();
    let (ok, out) = diamond(&["check", "config", good.to_str().unwrap()], None);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");

    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "global:\n  scrape_intervl: 15s\n").unwrap();
    let (ok, out) = diamond(&["check", "config", bad.to_str().unwrap()], None);
    assert!(!ok, "{out}");
    assert!(out.contains("bad.yml:2:"), "error must name file and line: {out}");
    assert!(out.contains("scrape_intervl"), "{out}");
}

#[test]
fn check_metrics_validates_openmetrics() {
    let (ok, out) = diamond(
        &["check", "metrics"],
        Some("# TYPE a counter\na_total 1 # {trace_id=\"abc\"} 1\n# EOF\n"),
    );
    assert!(ok, "{out}");
    let (ok, out) = diamond(&["check", "metrics"], Some("# TYPE a counter\na_total 1\n"));
    assert!(!ok, "missing # EOF must fail: {out}");
    assert!(out.contains("line"), "{out}");
}
