//! Scrapes of a live local target into `MemStorage`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diamond_config::Config;
use diamond_model::storage::Queryable;
use diamond_model::storage::memory::MemStorage;
use diamond_model::{MatchOp, Matcher, is_stale_nan};
use diamond_scrape::{Health, ScrapeManager, TargetStatus};

use crate::server::{Canned, Server};

const INTERVAL: &str = "300ms";

struct Harness {
    store: MemStorage,
    mgr: ScrapeManager,
}

fn harness() -> Harness {
    let store = MemStorage::new();
    let s = store.clone();
    Harness {
        store,
        mgr: ScrapeManager::new(Arc::new(move || s.appender())),
    }
}

fn config(yaml: &str) -> Config {
    diamond_config::parse(yaml, "test.yml").unwrap_or_else(|e| panic!("test config: {e}\n{yaml}"))
}

fn job(addr: &str, extra: &str) -> Config {
    config(&format!(
        "scrape_configs:\n  - job_name: t\n    scrape_interval: {INTERVAL}\n    static_configs: [{{targets: ['{addr}']}}]\n{extra}"
    ))
}

/// Polls `f` every 20ms for up to 10s.
async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..500 {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Samples of every series named `name`: (labels text, samples).
fn series(store: &MemStorage, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    let q = store.querier(i64::MIN, i64::MAX).expect("querier");
    let m = Matcher::new(MatchOp::Equal, "__name__", name).expect("matcher");
    q.select(&[m])
        .expect("select")
        .into_iter()
        .map(|s| {
            let mut it = s.data.iter(i64::MIN, i64::MAX);
            let mut v = Vec::new();
            while let Some(x) = it.next() {
                v.push(x);
            }
            (s.labels.to_string(), v)
        })
        .collect()
}

fn values(store: &MemStorage, name: &str) -> Vec<f64> {
    series(store, name)
        .into_iter()
        .flat_map(|(_, v)| v.into_iter().map(|x| x.1))
        .collect()
}

fn target(h: &Harness) -> Option<TargetStatus> {
    h.mgr
        .active_targets()
        .into_iter()
        .find(|t| t.state.health != Health::Unknown)
}

const OM_BODY: &str = "# TYPE http_requests counter
http_requests_total{code=\"200\"} 10 # {trace_id=\"4bf92f\",span_id=\"00f067\"} 1
# TYPE temp gauge
temp 21.5
# EOF
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_report_series_exemplars_and_headers() {
    let srv = Server::start(Canned::om(OM_BODY)).await;
    let h = harness();
    h.mgr.apply_config(&job(&srv.addr, "")).expect("apply");
    wait_for("two scrapes", || (values(&h.store, "up").len() >= 2).then_some(())).await;
    let up = series(&h.store, "up");
    assert_eq!(
        up[0].0,
        format!(r#"{{__name__="up", instance="{}", job="t"}}"#, srv.addr)
    );
    assert!(up[0].1.iter().all(|s| s.1 == 1.0), "{up:?}");
    for (name, want) in [
        ("scrape_samples_scraped", 2.0),
        ("scrape_samples_post_metric_relabeling", 2.0),
    ] {
        assert_eq!(values(&h.store, name).first(), Some(&want), "{name}");
    }
    let added = values(&h.store, "scrape_series_added");
    assert_eq!(
        &added[..2],
        &[2.0, 0.0],
        "series are added once, then come from the cache"
    );
    assert!(values(&h.store, "scrape_duration_seconds")[0] > 0.0);
    let req = series(&h.store, "http_requests_total");
    assert_eq!(
        req[0].0,
        format!(
            r#"{{__name__="http_requests_total", code="200", instance="{}", job="t"}}"#,
            srv.addr
        )
    );
    // Exemplar stored against the series, scrape time as its timestamp (the body gave none).
    let ex = h.store.exemplars(
        0,
        i64::MAX,
        &[vec![Matcher::new(MatchOp::Equal, "code", "200").expect("m")]],
    );
    let e = &ex[0].1[0];
    assert_eq!(e.labels.get("trace_id"), Some("4bf92f"));
    assert!(!e.has_ts);
    assert_eq!(e.ts, req[0].1[0].0);
    // Target status.
    let t = wait_for("target status", || target(&h)).await;
    assert_eq!(t.state.health, Health::Up);
    assert_eq!(t.scrape_url, format!("http://{}/metrics", srv.addr));
    assert!(t.state.openmetrics);
    assert_eq!(t.state.exemplars, 1);
    assert!(t.state.content_type.starts_with("application/openmetrics-text"));
    assert!(t.state.warnings.is_empty());
    let meta: Vec<(String, diamond_model::MetricType)> = h
        .mgr
        .metadata()
        .into_iter()
        .map(|m| (m.metric, m.metadata.metric_type))
        .collect();
    assert_eq!(
        meta,
        vec![
            ("http_requests".to_owned(), diamond_model::MetricType::Counter),
            ("temp".to_owned(), diamond_model::MetricType::Gauge)
        ]
    );
    let j = t.to_json();
    assert_eq!(j["health"], "up");
    assert_eq!(j["scrapePool"], "t");
    assert_eq!(j["scrapeInterval"], "300ms");
    assert_eq!(j["discoveredLabels"]["__address__"], srv.addr.as_str());
    // Request headers as Prometheus 3.5 sends them.
    let r = &srv.requests()[0];
    assert_eq!(
        r["accept"],
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    );
    assert_eq!(r["x-prometheus-scrape-timeout-seconds"], "0.3");
    assert!(r["user-agent"].to_str().unwrap_or("").starts_with("Diamond/"));
    assert_eq!(r["accept-encoding"], "gzip");
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_on_disappearance_then_failure() {
    let srv = Server::start(Canned::text("a 1\nb 2\n")).await;
    let h = harness();
    h.mgr.apply_config(&job(&srv.addr, "")).expect("apply");
    wait_for("b scraped", || (!values(&h.store, "b").is_empty()).then_some(())).await;
    srv.set(Canned::text("a 1\n"));
    wait_for("stale marker for b", || {
        values(&h.store, "b").into_iter().any(is_stale_nan).then_some(())
    })
    .await;
    srv.set(Canned {
        status: 500,
        ..Canned::text("")
    });
    wait_for("stale marker for a", || {
        values(&h.store, "a").into_iter().any(is_stale_nan).then_some(())
    })
    .await;
    wait_for("up 0", || {
        values(&h.store, "up").into_iter().any(|v| v == 0.0).then_some(())
    })
    .await;
    let t = wait_for("down target", || target(&h).filter(|t| t.state.health == Health::Down)).await;
    assert_eq!(
        t.state.last_error,
        "server returned HTTP status 500 Internal Server Error"
    );
    // Each series gets one marker, not one per failed scrape.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let a = values(&h.store, "a");
    assert_eq!(a.iter().filter(|v| is_stale_nan(**v)).count(), 1, "{a:?}");
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels_and_metric_relabel_drop() {
    let srv = Server::start(Canned::text("m{job=\"exposed\"} 1\ngo_gc 2\n")).await;
    let h = harness();
    let extra = "  - job_name: honor
    honor_labels: true
    scrape_interval: 300ms
    static_configs: [{targets: ['ADDR']}]
    metric_relabel_configs:
      - {source_labels: [__name__], regex: 'go_.*', action: drop}
";
    h.mgr
        .apply_config(&job(&srv.addr, &extra.replace("ADDR", &srv.addr)))
        .expect("apply");
    wait_for("both jobs scraped", || (series(&h.store, "m").len() == 2).then_some(())).await;
    let names: Vec<String> = series(&h.store, "m").into_iter().map(|s| s.0).collect();
    let a = &srv.addr;
    assert_eq!(
        names,
        vec![
            format!(r#"{{__name__="m", exported_job="exposed", instance="{a}", job="t"}}"#),
            format!(r#"{{__name__="m", instance="{a}", job="exposed"}}"#),
        ]
    );
    // go_gc only from the job without the drop rule.
    let go: Vec<String> = series(&h.store, "go_gc").into_iter().map(|s| s.0).collect();
    assert_eq!(go, vec![format!(r#"{{__name__="go_gc", instance="{a}", job="t"}}"#)]);
    let post: Vec<(String, Vec<(i64, f64)>)> = series(&h.store, "scrape_samples_post_metric_relabeling");
    let honor = post
        .iter()
        .find(|s| s.0.contains("job=\"honor\""))
        .expect("honor job report");
    assert_eq!(honor.1[0].1, 1.0);
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_limit_fails_the_scrape() {
    let srv = Server::start(Canned::text("a 1\nb 1\nc 1\n")).await;
    let h = harness();
    h.mgr
        .apply_config(&job(&srv.addr, "    sample_limit: 2\n"))
        .expect("apply");
    let t = wait_for("failed scrape", || target(&h)).await;
    assert_eq!(t.state.health, Health::Down);
    assert_eq!(t.state.last_error, "sample limit exceeded");
    assert!(values(&h.store, "a").is_empty(), "nothing of a failed scrape is stored");
    assert_eq!(values(&h.store, "up").first(), Some(&0.0));
    assert_eq!(values(&h.store, "scrape_samples_scraped").first(), Some(&3.0));
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_body_is_decompressed() {
    let srv = Server::start(Canned {
        gzip: true,
        ..Canned::om(OM_BODY)
    })
    .await;
    let h = harness();
    h.mgr.apply_config(&job(&srv.addr, "")).expect("apply");
    let t = wait_for("scrape", || target(&h)).await;
    assert_eq!(t.state.health, Health::Up, "{}", t.state.last_error);
    assert_eq!(values(&h.store, "temp").first(), Some(&21.5));
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_disabled_asks_for_identity() {
    let srv = Server::start(Canned::om(OM_BODY)).await;
    let h = harness();
    h.mgr
        .apply_config(&job(&srv.addr, "    enable_compression: false\n"))
        .expect("apply");
    wait_for("scrape", || target(&h)).await;
    assert_eq!(srv.requests()[0]["accept-encoding"], "identity");
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_text_exemplar_error_and_warning() {
    let srv = Server::start(Canned::text("# TYPE c counter\nc_total 1 # {trace_id=\"a\"} 1\n")).await;
    let h = harness();
    h.mgr.apply_config(&job(&srv.addr, "")).expect("apply");
    let t = wait_for("failed scrape", || target(&h)).await;
    assert_eq!(t.state.health, Health::Down);
    assert!(
        t.state.last_error.contains("exemplars need OpenMetrics"),
        "{}",
        t.state.last_error
    );
    assert!(!t.state.openmetrics);
    // Without the suffix the scrape works, with a warning that exemplars cannot arrive this way.
    srv.set(Canned::text("# TYPE c counter\nc_total 1\n"));
    let t = wait_for("recovered", || target(&h).filter(|t| t.state.health == Health::Up)).await;
    assert_eq!(
        t.state.warnings,
        vec![diamond_scrape::append::CLASSIC_TEXT_WARNING.to_owned()]
    );
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_content_type_fails() {
    let srv = Server::start(Canned {
        content_type: "application/json".into(),
        ..Canned::text("{}")
    })
    .await;
    let h = harness();
    h.mgr.apply_config(&job(&srv.addr, "")).expect("apply");
    let t = wait_for("failed scrape", || target(&h)).await;
    assert_eq!(
        t.state.last_error,
        "received unsupported Content-Type \"application/json\" and no fallback_scrape_protocol specified for target"
    );
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_target_gets_stale_markers_and_unchanged_keeps_running() {
    let a = Server::start(Canned::text("ma 1\n")).await;
    let b = Server::start(Canned::text("mb 1\n")).await;
    let h = harness();
    let both = config(&format!(
        "scrape_configs:\n  - job_name: t\n    scrape_interval: {INTERVAL}\n    static_configs: [{{targets: ['{}', '{}']}}]\n",
        a.addr, b.addr
    ));
    h.mgr.apply_config(&both).expect("apply");
    wait_for("both scraped", || {
        (!values(&h.store, "ma").is_empty() && !values(&h.store, "mb").is_empty()).then_some(())
    })
    .await;
    let before = h.mgr.active_targets();
    assert_eq!(before.len(), 2);
    let last_a = before
        .iter()
        .find(|t| t.scrape_url.contains(&a.addr))
        .and_then(|t| t.state.last_scrape);
    h.mgr.apply_config(&job(&a.addr, "")).expect("re-apply");
    // The remaining target kept its loop (its status was not reset).
    let after = h.mgr.active_targets();
    assert_eq!(after.len(), 1);
    assert!(after[0].state.last_scrape.is_some() && after[0].state.last_scrape >= last_a);
    wait_for("stale markers for b", || {
        let stale = values(&h.store, "mb").into_iter().any(is_stale_nan);
        let up_b = series(&h.store, "up").into_iter().find(|s| s.0.contains(&b.addr));
        let up_stale = up_b.is_some_and(|s| s.1.iter().any(|x| is_stale_nan(x.1)));
        (stale && up_stale).then_some(())
    })
    .await;
    assert!(!values(&h.store, "ma").into_iter().any(is_stale_nan));
    // Removing the job stops everything.
    h.mgr.apply_config(&config("")).expect("empty config");
    assert!(h.mgr.active_targets().is_empty());
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_refresh_and_dropped_targets() {
    let a = Server::start(Canned::text("fa 1\n")).await;
    let b = Server::start(Canned::text("fb 1\n")).await;
    let dir = tempfile_dir();
    let file = dir.join("targets.json");
    std::fs::write(
        &file,
        format!(r#"[{{"targets": ["{}"], "labels": {{"env": "x"}}}}]"#, a.addr),
    )
    .expect("write");
    let h = harness();
    let yaml = format!(
        "scrape_configs:
  - job_name: fsd
    scrape_interval: {INTERVAL}
    file_sd_configs: [{{files: ['{}/*.json'], refresh_interval: 200ms}}]
    static_configs: [{{targets: ['drop-me:1']}}]
    relabel_configs:
      - {{source_labels: [__address__], regex: 'drop-me.*', action: drop}}
",
        dir.display()
    );
    h.mgr.apply_config(&config(&yaml)).expect("apply");
    let t = wait_for("file target", || h.mgr.active_targets().into_iter().next()).await;
    assert_eq!(t.labels.get("env"), Some("x"));
    assert_eq!(
        t.discovered_labels.get("__meta_filepath"),
        Some(file.display().to_string().as_str())
    );
    let dropped = h.mgr.dropped_targets();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].discovered_labels.get("__address__"), Some("drop-me:1"));
    std::fs::write(&file, format!(r#"[{{"targets": ["{}"]}}]"#, b.addr)).expect("rewrite");
    wait_for("b scraped after refresh", || {
        (!values(&h.store, "fb").is_empty()).then_some(())
    })
    .await;
    let urls: Vec<String> = h.mgr.active_targets().into_iter().map(|t| t.scrape_url).collect();
    assert_eq!(urls, vec![format!("http://{}/metrics", b.addr)]);
    // A broken file keeps its last good targets (as Prometheus's file SD).
    std::fs::write(&file, "[{\"targets\": ").expect("write broken file");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let urls: Vec<String> = h.mgr.active_targets().into_iter().map(|t| t.scrape_url).collect();
    assert_eq!(urls, vec![format!("http://{}/metrics", b.addr)]);
    h.mgr.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the system temp dir (removed by the test).
fn tempfile_dir() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!("diamond-scrape-it-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_manager_refuses_config() {
    let h = harness();
    h.mgr.stop().await;
    assert!(h.mgr.apply_config(&config("")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_failures_table() {
    // (what the target does, extra job config, expected lastError prefix)
    let cases: [(Canned, &str, &str); 4] = [
        (
            Canned {
                delay_ms: 600,
                ..Canned::text("a 1\n")
            },
            "    scrape_timeout: 100ms\n",
            "context deadline exceeded",
        ),
        (
            Canned::text(&"a 1\n".repeat(100)),
            "    body_size_limit: 100B\n",
            "body size limit exceeded",
        ),
        (
            Canned {
                status: 404,
                ..Canned::text("")
            },
            "",
            "server returned HTTP status 404 Not Found",
        ),
        (
            Canned {
                content_type: String::new(),
                ..Canned::text("a 1\n")
            },
            "",
            "non-compliant scrape target sending blank Content-Type",
        ),
    ];
    for (canned, extra, want) in cases {
        let srv = Server::start(canned).await;
        let h = harness();
        h.mgr.apply_config(&job(&srv.addr, extra)).expect("apply");
        let t = wait_for(want, || target(&h)).await;
        assert_eq!(t.state.health, Health::Down, "{want}");
        assert!(
            t.state.last_error.starts_with(want),
            "want {want:?}, got {:?}",
            t.state.last_error
        );
        assert_eq!(values(&h.store, "up").first(), Some(&0.0), "{want}");
        h.mgr.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_headers_and_params() {
    let srv = Server::start(Canned::text("a 1\n")).await;
    let h = harness();
    let dir = tempfile_dir();
    let cred = dir.join("token");
    std::fs::write(&cred, "s3cret\n").expect("write token");
    let yaml = format!(
        "scrape_configs:
  - job_name: basic
    scrape_interval: {INTERVAL}
    basic_auth: {{username: user, password: pass}}
    static_configs: [{{targets: ['{a}']}}]
  - job_name: bearer
    scrape_interval: {INTERVAL}
    metrics_path: /probe
    params: {{module: [http_2xx]}}
    authorization: {{credentials_file: '{f}'}}
    static_configs: [{{targets: ['{a}']}}]
",
        a = srv.addr,
        f = cred.display()
    );
    h.mgr.apply_config(&config(&yaml)).expect("apply");
    wait_for("both jobs scraped", || {
        (h.mgr.active_targets().iter().all(|t| t.state.health == Health::Up)).then_some(())
    })
    .await;
    let auths: Vec<String> = srv
        .requests()
        .iter()
        .filter_map(|r| r.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned))
        .collect();
    // base64("user:pass") = dXNlcjpwYXNz
    assert!(auths.contains(&"Basic dXNlcjpwYXNz".to_owned()), "{auths:?}");
    assert!(auths.contains(&"Bearer s3cret".to_owned()), "{auths:?}");
    let urls: Vec<String> = h.mgr.active_targets().into_iter().map(|t| t.scrape_url).collect();
    assert!(
        urls.contains(&format!("http://{}/probe?module=http_2xx", srv.addr)),
        "{urls:?}"
    );
    h.mgr.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_new_settings_keeps_status_and_series() {
    let srv = Server::start(Canned::text("a 1\n")).await;
    let h = harness();
    h.mgr.apply_config(&job(&srv.addr, "")).expect("apply");
    wait_for("scraped", || target(&h)).await;
    // A new timeout restarts the loop; the cache is reusable, so no staleness markers are written.
    h.mgr
        .apply_config(&job(&srv.addr, "    scrape_timeout: 200ms\n"))
        .expect("reload");
    let t = h.mgr.active_targets();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].state.health, Health::Up, "status carried over the reload");
    assert_eq!(t[0].scrape_timeout, Duration::from_millis(200));
    let n = values(&h.store, "a").len();
    wait_for("scrapes after reload", || {
        (values(&h.store, "a").len() >= n + 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!values(&h.store, "a").into_iter().any(is_stale_nan));
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_scrape_protocol_parses_blank_content_type() {
    let srv = Server::start(Canned {
        content_type: String::new(),
        ..Canned::text("blank_ct 7\n")
    })
    .await;
    let h = harness();
    h.mgr
        .apply_config(&job(&srv.addr, "    fallback_scrape_protocol: PrometheusText0.0.4\n"))
        .expect("apply");
    let t = wait_for("scrape", || target(&h)).await;
    assert_eq!(t.state.health, Health::Up, "{}", t.state.last_error);
    assert_eq!(values(&h.store, "blank_ct").first(), Some(&7.0));
    h.mgr.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_no_stale_markers() {
    let srv = Server::start(Canned::text("kept 1\n")).await;
    let h = harness();
    h.mgr.apply_config(&job(&srv.addr, "")).expect("apply");
    wait_for("scraped", || (!values(&h.store, "kept").is_empty()).then_some(())).await;
    h.mgr.stop().await;
    // Two intervals and more: a removed target would have written its markers by now.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!values(&h.store, "kept").into_iter().any(is_stale_nan));
    assert!(!values(&h.store, "up").into_iter().any(is_stale_nan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_that_changes_target_labels_marks_old_series_stale() {
    let srv = Server::start(Canned::text("relabelled 1\n")).await;
    let h = harness();
    h.mgr.apply_config(&job(&srv.addr, "")).expect("apply");
    wait_for("scraped", || (!values(&h.store, "relabelled").is_empty()).then_some(())).await;
    // A new target label changes the target's identity; scrape settings (timeout) change too, so the pool
    // restarts with a reusable cache. The old target's series must still be marked stale.
    let extra = "    scrape_timeout: 200ms\n    relabel_configs: [{target_label: env, replacement: prod}]\n";
    h.mgr.apply_config(&job(&srv.addr, extra)).expect("reload");
    wait_for("old series stale", || {
        series(&h.store, "relabelled")
            .into_iter()
            .find(|s| !s.0.contains("env="))
            .is_some_and(|s| s.1.iter().any(|x| is_stale_nan(x.1)))
            .then_some(())
    })
    .await;
    let new_series = series(&h.store, "relabelled")
        .into_iter()
        .find(|s| s.0.contains("env=\"prod\""));
    assert!(new_series.is_some_and(|s| !s.1.iter().any(|x| is_stale_nan(x.1))));
    h.mgr.stop().await;
}
