//! Resolution and error-location tests.

use super::*;

fn ok(yaml: &str) -> Config {
    match parse(yaml, "prometheus.yml") {
        Ok(c) => c,
        Err(e) => panic!("expected valid config, got: {e}\n{yaml}"),
    }
}

#[test]
fn default_config_is_prometheus_defaults() {
    let c = Config::default();
    assert_eq!(c.global.scrape_interval, Duration::from_secs(60));
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(10));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(60));
    assert_eq!(c.global.scrape_protocols, ScrapeProtocol::DEFAULT.to_vec());
    assert!(c.scrape_configs.is_empty());
    assert_eq!(c.storage.max_exemplars, 100_000);
    assert!(c.warnings.is_empty());
    // An empty file resolves to the same values.
    let empty = ok("");
    assert_eq!(empty.global, c.global);
    assert_eq!(empty.storage, c.storage);
}

#[test]
fn scrape_config_defaults_and_inheritance() {
    let c = ok("
global:
  scrape_interval: 15s
  sample_limit: 100
scrape_configs:
  - job_name: a
  - job_name: b
    scrape_interval: 5s
  - job_name: c
    scrape_interval: 1h
    scrape_timeout: 30s
    sample_limit: 7
    metrics_path: /m
    scheme: https
    honor_labels: true
    honor_timestamps: false
    enable_compression: false
    scrape_protocols: [PrometheusText0.0.4]
    fallback_scrape_protocol: PrometheusText0.0.4
    body_size_limit: 10MB
    params: {module: [x, y]}
");
    let [a, b, cc] = &c.scrape_configs[..] else {
        panic!("three jobs")
    };
    assert_eq!(
        (a.scrape_interval, a.scrape_timeout),
        (Duration::from_secs(15), Duration::from_secs(10))
    );
    assert_eq!(a.metrics_path, "/metrics");
    assert_eq!(a.scheme, Scheme::Http);
    assert!(a.honor_timestamps && !a.honor_labels && a.enable_compression);
    assert_eq!(a.sample_limit, 100);
    // A timeout inherited from global is capped at the job's shorter interval.
    assert_eq!(
        (b.scrape_interval, b.scrape_timeout),
        (Duration::from_secs(5), Duration::from_secs(5))
    );
    assert_eq!(
        (cc.scrape_interval, cc.scrape_timeout),
        (Duration::from_secs(3600), Duration::from_secs(30))
    );
    assert_eq!(cc.sample_limit, 7);
    assert_eq!(cc.metrics_path, "/m");
    assert_eq!(cc.scheme, Scheme::Https);
    assert!(cc.honor_labels && !cc.honor_timestamps && !cc.enable_compression);
    assert_eq!(cc.scrape_protocols, vec![ScrapeProtocol::PrometheusText0_0_4]);
    assert_eq!(cc.fallback_scrape_protocol, Some(ScrapeProtocol::PrometheusText0_0_4));
    assert_eq!(a.fallback_scrape_protocol, None);
    assert_eq!(cc.body_size_limit, 10 << 20);
    assert_eq!(cc.params["module"], vec!["x".to_owned(), "y".to_owned()]);
}

#[test]
fn global_timeout_defaults_to_short_interval() {
    let c = ok("global: {scrape_interval: 5s}");
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(5));
}

#[test]
fn auth_tls_relabel_and_sd_resolve() {
    let c = ok("
scrape_configs:
  - job_name: a
    basic_auth: {username: u, password_file: /p}
    tls_config: {ca_file: /ca, server_name: s, insecure_skip_verify: true}
    relabel_configs:
      - source_labels: [__address__]
        target_label: host
    metric_relabel_configs:
      - {action: drop, source_labels: [__name__], regex: 'go_.*'}
    static_configs:
      - targets: ['a:1', 'b:2']
        labels: {env: prod}
      - targets: ['c:3']
    file_sd_configs:
      - files: ['/tmp/sd/*.json']
  - job_name: b
    authorization: {credentials: tok}
");
    let a = &c.scrape_configs[0];
    assert_eq!(a.basic_auth.as_ref().map(|b| b.username.as_str()), Some("u"));
    assert_eq!(a.tls_config.server_name.as_deref(), Some("s"));
    assert!(a.tls_config.insecure_skip_verify);
    assert_eq!(a.relabel_configs.len(), 1);
    assert_eq!(a.metric_relabel_configs[0].action, relabel::Action::Drop);
    assert_eq!(a.static_configs[1].targets, vec!["c:3".to_owned()]);
    assert_eq!(a.static_configs[1].source, "1");
    assert_eq!(a.static_configs[0].labels["env"], "prod");
    assert_eq!(a.file_sd_configs[0].refresh_interval, Duration::from_secs(300));
    let b = &c.scrape_configs[1];
    let auth = b.authorization.as_ref().expect("authorization");
    assert_eq!(
        (auth.kind.as_str(), auth.credentials.as_deref()),
        ("Bearer", Some("tok"))
    );
}

#[test]
fn ignored_sections_are_kept_with_warnings() {
    let c = ok("
rule_files: [a.yml]
remote_write:
  - url: http://x/api/v1/write
storage:
  exemplars: {max_exemplars: 5}
  tsdb: {out_of_order_time_window: 30m}
scrape_configs:
  - job_name: k
    kubernetes_sd_configs: [{role: pod}]
");
    assert_eq!(c.storage.max_exemplars, 5);
    assert_eq!(c.storage.exemplar_retention, None);
    assert_eq!(c.storage.exemplar_store, ExemplarStoreKind::Fair);
    assert_eq!(c.storage.out_of_order_time_window, Duration::from_secs(1800));
    let names: Vec<&str> = c.ignored_sections.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["rule_files", "remote_write"]);
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("prometheus.yml:2: section `rule_files`"))
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("prometheus.yml:3: section `remote_write`"))
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("prometheus.yml:10: `kubernetes_sd_configs`"))
    );
}

/// Each case: YAML, expected `line:column`, expected message prefix.
const ERRORS: &[(&str, &str, &str)] = &[
    (
        "global:\n  scrape_intervl: 15s\n",
        "2:3",
        "unknown field `scrape_intervl`, expected one of",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    metric_path: /x\n",
        "3:5",
        "unknown field `metric_path`",
    ),
    (
        "global:\n  scrape_interval: 15\n",
        "2:3",
        "not a valid duration string: \"15\"",
    ),
    (
        "global:\n  scrape_interval: 10s\n  scrape_timeout: 20s\n",
        "3:3",
        "global scrape timeout greater than scrape interval",
    ),
    (
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 5s\n    scrape_timeout: 6s\n",
        "5:5",
        "scrape timeout greater than scrape interval for scrape config with job name \"b\"",
    ),
    (
        "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
        "3:5",
        "found multiple scrape configs with job name \"a\"",
    ),
    ("scrape_configs:\n  - scrape_interval: 5s\n", "2:5", "job_name is empty"),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n        regex: '('\n        target_label: y\n",
        "5:9",
        "invalid regex \"(\"",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n        action: replace\n",
        "5:9",
        "relabel configuration for replace action requires 'target_label' value",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    scrape_protocols: [OpenMetricsText1.0.0, Foo]\n",
        "3:5",
        "unknown scrape protocol Foo, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0] for scrape config with job name \"a\"",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusProto, PrometheusProto]\n",
        "3:5",
        "duplicated protocol in scrape_protocols",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    scheme: ftp\n",
        "3:5",
        "scheme must be \"http\" or \"https\"",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    fallback_scrape_protocol: Text\n",
        "3:5",
        "invalid fallback_scrape_protocol for scrape config with job name \"a\": unknown scrape protocol Text, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    scrape_protocols: []\n",
        "3:5",
        "scrape_protocols cannot be empty for scrape config with job name \"a\"",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    tls_config:\n      cert_file: c\n",
        "3:5",
        "exactly one of key or key_file must be configured when a client certificate is configured",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    body_size_limit: 1000\n",
        "3:5",
        "invalid size 1000: a unit is required",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [ok, 'a/b']\n",
        "4:9",
        "\"a/b\" is not a valid hostname",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    authorization: {type: basic, credentials: x}\n",
        "3:5",
        "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    sample_limit: -1\n",
        "3:19",
        "invalid type: integer `-1`, expected u64",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [targets.txt]\n",
        "4:9",
        "path name \"targets.txt\" is not valid for file discovery",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n",
        "3:5",
        "at most one of basic_auth password & password_file must be configured",
    ),
    (
        "storage:\n  tsdb:\n    out_of_order_time_window: 1.5h\n",
        "3:5",
        "not a valid duration string",
    ),
    ("scrape_configs: [\n", "2:1", "did not find expected node content"),
    ("unknown_section: 1\n", "1:1", "unknown field `unknown_section`"),
];

#[test]
fn error_locations_table() {
    for (yaml, at, msg) in ERRORS {
        let e = parse(yaml, "prometheus.yml").expect_err(yaml);
        let s = e.to_string();
        let want = format!("prometheus.yml:{at}: {msg}");
        assert!(
            s.starts_with(&want),
            "\nyaml:\n{yaml}\nwant prefix: {want}\ngot:         {s}"
        );
    }
}

#[test]
fn load_file_reports_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("p.yml");
    std::fs::write(&p, "global:\n  bogus: 1\n").expect("write");
    let e = load_file(&p).expect_err("bogus key");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:2:3: unknown field `bogus`", p.display())),
        "{e}"
    );
    let missing = load_file(&dir.path().join("missing.yml")).expect_err("missing file");
    assert!(matches!(missing, Error::Io { .. }));
}

#[test]
fn to_yaml_round_trips_with_defaults() {
    let c = ok("
global: {scrape_interval: 15s, external_labels: {dc: eu}}
scrape_configs:
  - job_name: a
    basic_auth: {username: u, password: hunter2}
    relabel_configs: [{source_labels: [a], target_label: b}]
    static_configs: [{targets: ['x:1'], labels: {k: v}}]
remote_write: [{url: 'http://r'}]
");
    let y = to_yaml(&c);
    assert!(!y.contains("hunter2"), "{y}");
    assert!(y.contains("password: <secret>"), "{y}");
    assert!(y.contains("scrape_timeout: 10s"), "{y}");
    assert!(y.contains("honor_timestamps: true"), "{y}");
    assert!(y.contains("- OpenMetricsText1.0.0"), "{y}");
    assert!(y.contains("replacement: $1"), "{y}");
    // What we print parses back to the same resolved values (secrets aside).
    let back = parse(&y, "status").expect("to_yaml output parses");
    assert_eq!(back.global, c.global);
    assert_eq!(
        back.scrape_configs[0].relabel_configs,
        c.scrape_configs[0].relabel_configs
    );
    assert_eq!(
        back.scrape_configs[0].static_configs,
        c.scrape_configs[0].static_configs
    );
    assert_eq!(
        back.scrape_configs[0].scrape_timeout,
        c.scrape_configs[0].scrape_timeout
    );
    assert_eq!(back.ignored_sections.len(), 1);
}

#[test]
fn bytes_table() {
    // Accepted and refused as promtool 3.5.3 does (`1000` is refused: a unit is required).
    let ok: [(&str, u64); 7] = [
        ("0", 0),
        ("100B", 100),
        ("1KB", 1024),
        ("2MiB", 2 << 20),
        ("1GB", 1 << 30),
        ("1.5MB", 3 << 19),
        ("1GB512MB", (1 << 30) + (512 << 20)),
    ];
    for (s, v) in ok {
        assert_eq!(parse_bytes(s), Some(v), "{s}");
    }
    for (n, s) in [
        (0, "0B"),
        (10 << 20, "10MiB"),
        (1536, "1KiB512B"),
        (7, "7B"),
        (1 << 30, "1GiB"),
    ] {
        assert_eq!(format_bytes(n), s);
        assert_eq!(parse_bytes(s), Some(n), "{s} parses back");
    }
    for s in ["", "MB", "1000", "1mb", "-1", "1XB"] {
        assert_eq!(parse_bytes(s), None, "{s}");
    }
}

#[test]
fn scalars_read_as_strings_like_prometheus() {
    // promtool 3.5.3 accepts this file: go-yaml reads numbers and booleans into string fields.
    let c = ok("
global:
  external_labels: {dc: 1}
scrape_configs:
  - job_name: 123
    params: {x: [1]}
    basic_auth: {username: 42, password: 1234}
    static_configs: [{targets: [a], labels: {tier: 1, ok: true}}]
    relabel_configs: [{source_labels: [a], regex: 200, target_label: b, replacement: 8080}]
");
    assert_eq!(c.global.external_labels.get("dc"), Some("1"));
    let j = &c.scrape_configs[0];
    assert_eq!(j.job_name, "123");
    assert_eq!(j.params["x"], vec!["1".to_owned()]);
    assert_eq!(j.basic_auth.as_ref().and_then(|b| b.password.as_deref()), Some("1234"));
    assert_eq!(j.static_configs[0].labels["tier"], "1");
    assert_eq!(j.static_configs[0].labels["ok"], "true");
    assert_eq!(j.relabel_configs[0].regex.as_str(), "200");
    assert_eq!(j.relabel_configs[0].replacement, "8080");
    // Structures are still refused where a string is expected.
    let e = parse("scrape_configs:\n  - job_name: [a]\n", "p.yml").expect_err("sequence as job name");
    assert!(
        e.to_string()
            .starts_with("p.yml:2:15: invalid type: sequence, expected a string"),
        "{e}"
    );
}

#[test]
fn load_file_resolves_relative_paths_against_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("prometheus.yml");
    std::fs::write(
        &p,
        "scrape_configs:
  - job_name: a
    file_sd_configs: [{files: ['sd/*.json', '/abs/*.json']}]
    tls_config: {ca_file: ca.pem}
    basic_auth: {username: u, password_file: secrets/pw}
  - job_name: b
    authorization: {credentials_file: /etc/token}
",
    )
    .expect("write");
    let c = load_file(&p).expect("valid");
    let d = dir.path();
    let a = &c.scrape_configs[0];
    assert_eq!(
        a.file_sd_configs[0].files,
        vec![d.join("sd/*.json").display().to_string(), "/abs/*.json".to_owned()]
    );
    assert_eq!(a.tls_config.ca_file.as_deref(), Some(d.join("ca.pem").as_path()));
    assert_eq!(
        a.basic_auth.as_ref().and_then(|b| b.password_file.clone()),
        Some(d.join("secrets/pw"))
    );
    let b = &c.scrape_configs[1];
    assert_eq!(
        b.authorization.as_ref().and_then(|a| a.credentials_file.clone()),
        Some(PathBuf::from("/etc/token"))
    );
    // parse() alone leaves paths as written.
    let raw = parse(&std::fs::read_to_string(&p).expect("read"), "x").expect("valid");
    assert_eq!(
        raw.scrape_configs[0].tls_config.ca_file.as_deref(),
        Some(Path::new("ca.pem"))
    );
}

#[test]
fn exemplar_retention_and_store() {
    let c = ok("
storage:
  exemplars: {max_exemplars: 7, retention: 3d, seal_after: 10m, store: circular}
");
    assert_eq!(c.storage.exemplar_retention, Some(Duration::from_secs(3 * 86400)));
    assert_eq!(c.storage.exemplar_seal_after, Some(Duration::from_secs(600)));
    let e = parse("storage:\n  exemplars:\n    seal_after: later\n", "p.yml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.yml:3:"), "{e}");
    assert_eq!(c.storage.exemplar_store, ExemplarStoreKind::Circular);
    let e = parse("storage:\n  exemplars:\n    store: ring\n", "p.yml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.yml:3:") && e.contains("fair or circular"), "{e}");
    let e = parse("storage:\n  exemplars:\n    retention: soon\n", "p.yml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.yml:3:"), "{e}");
}

/// Seeds for the fuzz body: configurations using most sections, which the mutations below damage.
const FUZZ_SEEDS: [&str; 3] = [
    "global:
  scrape_interval: 15s
  external_labels: {region: eu}
storage:
  exemplars: {max_exemplars: 5000, retention: 7d, seal_after: 30m}
  tsdb: {out_of_order_time_window: 30m}
scrape_configs:
  - job_name: a
    honor_labels: true
    scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]
    basic_auth: {username: u, password: p}
    tls_config: {ca_file: /ca, insecure_skip_verify: true}
    relabel_configs:
      - {source_labels: [__address__], regex: '(.*):\\d+', target_label: host, replacement: '$1'}
    metric_relabel_configs:
      - {action: drop, source_labels: [__name__], regex: 'go_.*'}
    static_configs:
      - targets: ['a:1', 'b:2']
        labels: {env: prod}
    file_sd_configs:
      - files: ['/tmp/sd/*.json']
",
    "trace_destinations:
  - name: jaeger
    kind: jaeger
    url: http://jaeger:16686/trace/{trace_id}
    label_names: [trace_id, traceID]
  - name: tempo
    kind: tempo
    url: http://grafana:3000/explore?left={trace_id}
    api_url: http://tempo:3200
    timeout: 2s
scrape_configs:
  - job_name: b
    authorization: {credentials: tok}
    static_configs: [{targets: ['c:3']}]
",
    "[{\"targets\": [\"a:1\"], \"labels\": {\"job\": \"x\"}}]",
];

#[test]
fn fuzz_body_seeds_parse_and_print_stably() {
    assert!(crate::fuzzing::config_text(FUZZ_SEEDS[0].as_bytes()));
    assert!(crate::fuzzing::config_text(FUZZ_SEEDS[1].as_bytes()));
    assert!(!crate::fuzzing::config_text(b"scrape_configs: [{job_name: 1h: x}]"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 400, ..Default::default() })]
    #[test]
    fn fuzz_body_never_panics_on_damaged_configs(
        seed in 0usize..FUZZ_SEEDS.len(),
        edits in proptest::collection::vec(
            (proptest::prelude::any::<u16>(), proptest::sample::select(b" :-\n'\"{}[],#0a&*!|>".to_vec()), 0usize..3),
            1..4,
        ),
    ) {
        let mut b = FUZZ_SEEDS[seed].as_bytes().to_vec();
        for (at, byte, how) in edits {
            let at = usize::from(at) % (b.len() + 1);
            match how {
                0 => b.insert(at, byte),
                1 if at < b.len() => b[at] = byte,
                _ => {
                    let end = (at + 5).min(b.len());
                    b.drain(at..end);
                }
            }
        }
        let _ = crate::fuzzing::config_text(&b);
    }

    #[test]
    fn fuzz_body_never_panics_on_bytes(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let _ = crate::fuzzing::config_text(&b);
    }
}
