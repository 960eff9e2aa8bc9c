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

/// `diamond tsdb create-blocks-from openmetrics`: aligned 2h blocks that the reference promtool reads
/// back sample for sample, and bad input refused with the file and line.
#[test]
fn create_blocks_from_openmetrics_is_read_by_promtool_and_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.om");
    // 5 h of two series every 60 s, starting mid-block: 4 blocks of 2 h (aligned), 600 samples in all.
    let start_s = 1_700_003_000i64;
    let mut body = String::from("# HELP req Requests.\n# TYPE req counter\n");
    let mut want = std::collections::BTreeSet::new();
    for route in ["a", "b"] {
        for i in 0..300i64 {
            let t = start_s + i * 60;
            body.push_str(&format!("req_total{{route=\"{route}\"}} {i} {t}\n"));
            want.insert((
                format!("{{__name__=\"req_total\", route=\"{route}\"}}"),
                i.to_string(),
                t * 1000,
            ));
        }
    }
    body.push_str("# EOF\n");
    std::fs::write(&input, &body).unwrap();
    let out_dir = dir.path().join("out");
    let (ok, out) = diamond(
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            input.to_str().unwrap(),
            out_dir.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{out}");
    assert!(out.contains("wrote 4 block(s) with 600 samples of 2 series"), "{out}");
    let mut ranges = Vec::new();
    for e in std::fs::read_dir(&out_dir).unwrap() {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path().join("meta.json")).unwrap()).unwrap();
        ranges.push((meta["minTime"].as_i64().unwrap(), meta["maxTime"].as_i64().unwrap()));
    }
    ranges.sort();
    let h2 = 7_200_000i64;
    assert_eq!(ranges.len(), 4);
    for (i, &(a, b)) in ranges.iter().enumerate() {
        assert_eq!(a % h2, 0, "aligned");
        assert_eq!(b - a, h2);
        assert_eq!(a, (start_s * 1000).div_euclid(h2) * h2 + i as i64 * h2);
    }

    let prom = crate::harness::reference_prometheus();
    let promtool = prom.with_file_name("promtool");
    assert!(promtool.exists(), "promtool missing next to {}", prom.display());
    std::fs::create_dir(out_dir.join("wal")).unwrap(); // promtool's read-only open wants one
    let o = Command::new(&promtool)
        .args(["tsdb", "dump"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: std::collections::BTreeSet<(String, String, i64)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let (rest, ts) = l.rsplit_once(' ').unwrap();
            let (series, v) = rest.rsplit_once(' ').unwrap();
            (series.to_owned(), v.to_owned(), ts.parse().unwrap())
        })
        .collect();
    assert_eq!(got, want);

    // A bigger --max-block-duration gives 6h blocks (2h × 3), as promtool.
    let out6 = dir.path().join("out6");
    let (ok, out) = diamond(
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=7h",
            input.to_str().unwrap(),
            out6.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{out}");
    assert!(out.contains("wrote 2 block(s)"), "{out}");

    for (text, msg) in [
        (
            "a_total 1 100\na_total 2\n# EOF\n",
            "in.om: line 2: sample {__name__=\"a_total\"} has no timestamp",
        ),
        (
            "a 1 100\na 2 99\n# EOF\n",
            "in.om: line 2: sample of {__name__=\"a\"} at 99000 ms is older",
        ),
        ("a 1 100\n", "in.om: line 2:1: data does not end with # EOF"),
        ("a{x=\"1} 1 100\n# EOF\n", "in.om: line 1:"),
    ] {
        std::fs::write(&input, text).unwrap();
        let (ok, out) = diamond(
            &[
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                input.to_str().unwrap(),
                out_dir.to_str().unwrap(),
            ],
            None,
        );
        assert!(!ok, "{text:?} accepted: {out}");
        assert!(out.contains(msg), "{text:?}: {out}");
        assert!(!out.contains("panicked"), "{out}");
    }
    let (ok, out) = diamond(
        &["tsdb", "create-blocks-from", "openmetrics", "/nonexistent/x.om", "o"],
        None,
    );
    assert!(!ok && out.contains("reading /nonexistent/x.om"), "{out}");
}
