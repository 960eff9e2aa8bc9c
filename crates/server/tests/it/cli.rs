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

/// `diamond grafana-datasource`: YAML that parses, with the fields Grafana reads, one link per recognised
/// label name, and the config's destinations.
#[test]
fn grafana_datasource_prints_provisioning_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        "trace_destinations:\n  - name: tempo\n    kind: tempo\n    url: 'http://grafana:3000/explore?q=${__value.raw}'\n    api_url: http://tempo:3200\n    label_names: [traceID]\n",
    )
    .unwrap();
    let (ok, out) = diamond(
        &[
            "grafana-datasource",
            &format!("--config.file={}", cfg.display()),
            "--web.listen-address=0.0.0.0:19090",
            "--embedded-datasource=tempo",
        ],
        None,
    );
    assert!(ok, "{out}");
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    let ds = &v["datasources"][0];
    assert_eq!(ds["type"].as_str(), Some("prometheus"));
    assert_eq!(ds["url"].as_str(), Some("http://localhost:19090"));
    let e = ds["jsonData"]["exemplarTraceIdDestinations"].as_sequence().unwrap();
    for x in e {
        assert!(x["name"].as_str().is_some(), "{x:?}");
        assert!(x["urlDisplayLabel"].as_str().is_some(), "{x:?}");
        assert!(
            x["url"].as_str().is_some() || x["datasourceUid"].as_str().is_some(),
            "{x:?}"
        );
    }
    assert!(e.iter().any(|x| x["name"].as_str() == Some("traceID")
        && x["url"].as_str()
            == Some(
                "http://localhost:19090/api/diamond/v1/exemplars/links/open?destination=tempo&trace_id=$${__value.raw}"
            )));
    assert!(
        e.iter()
            .any(|x| x["name"].as_str() == Some("trace_id") && x["datasourceUid"].as_str() == Some("diamond-traces"))
    );
    assert_eq!(v["datasources"][1]["type"].as_str(), Some("tempo"));

    // A bad config is refused with its location; a bad --url too.
    std::fs::write(
        &cfg,
        "trace_destinations:\n  - name: diamond\n    url: http://x/{trace_id}\n",
    )
    .unwrap();
    let (ok, out) = diamond(
        &["grafana-datasource", &format!("--config.file={}", cfg.display())],
        None,
    );
    assert!(!ok);
    assert!(out.contains("prometheus.yml:2:5:"), "{out}");
    let (ok, out) = diamond(&["grafana-datasource", "--url=ftp://x"], None);
    assert!(!ok);
    assert!(out.contains("--url"), "{out}");
}
