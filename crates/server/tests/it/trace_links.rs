//! Issue 6, end to end: exemplars remote-written into the real binary come back from
//! `/api/diamond/v1/exemplars/links` with normalised IDs, links from `trace_destinations`, and existence
//! checked against a Jaeger. No Jaeger binary runs here, so the Jaeger is a small real HTTP server in this
//! test (axum on 127.0.0.1, a free port) answering Jaeger's documented `GET /api/traces/<id>` shapes:
//! `{"data":[{"traceID",…}]}` when it holds the trace, 404 with `{"data":null,"errors":[…]}` otherwise.

use std::time::Duration;

use diamond_model::{Exemplar, Labels, Sample};
use diamond_wire::{TimeSeries, WriteBatch};

use crate::harness::{Diamond, client, enc, now_ms, wait_until};

const KNOWN: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const UNKNOWN: &str = "0af7651916cd43dd8448eb211c80319c";

/// A Jaeger query service that holds exactly [`KNOWN`], on its own thread and runtime.
fn fake_jaeger() -> String {
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/api/traces/{id}",
                axum::routing::get(|Path(id): Path<String>| async move {
                    if id == KNOWN {
                        (
                            StatusCode::OK,
                            format!(r#"{{"data":[{{"traceID":"{id}","spans":[],"processes":{{}}}}],"errors":null}}"#),
                        )
                            .into_response()
                    } else {
                        (
                            StatusCode::NOT_FOUND,
                            r#"{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}"#.to_owned(),
                        )
                            .into_response()
                    }
                }),
            );
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(l, app).await;
        });
    });
    format!("http://{addr}")
}

fn write(d: &Diamond, t: i64, exemplars: &[&[(&str, &str)]]) {
    let series = vec![TimeSeries {
        labels: Labels::from_pairs(&[("__name__", "checkout_seconds"), ("job", "shop")]),
        samples: vec![Sample { t, v: 1.0 }],
        exemplars: exemplars
            .iter()
            .enumerate()
            .map(|(i, l)| Exemplar {
                labels: Labels::from_pairs(l),
                value: 0.5,
                ts: t + i as i64,
                has_ts: true,
            })
            .collect(),
        histograms_dropped: 0,
        metadata: None,
    }];
    let body = diamond_wire::compress_snappy(&diamond_wire::encode_remote_write_v1(&WriteBatch {
        series,
        metadata: Vec::new(),
        rejected: Vec::new(),
    }));
    let r = client()
        .post(d.url("/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
}

fn links(d: &Diamond) -> serde_json::Value {
    d.get_json(&format!(
        "/api/diamond/v1/exemplars/links?query={}&start=0",
        enc("checkout_seconds")
    ))
}

#[test]
fn exemplar_links_checked_against_jaeger_counted_and_reloaded() {
    let jaeger = fake_jaeger();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    let yaml = |name: &str| {
        format!(
            "trace_destinations:\n  - name: {name}\n    kind: jaeger\n    url: {jaeger}/trace/{{trace_id}}\n    timeout: 2s\n"
        )
    };
    std::fs::write(&cfg, yaml("jaeger")).unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);
    let t = now_ms();
    let upper = KNOWN.to_uppercase();
    write(
        &d,
        t,
        &[
            &[("traceID", &upper), ("span_id", "00f067aa0ba902b7")],
            &[("trace_id", UNKNOWN)],
            &[("trace_id", "not-a-trace-id")],
            &[("user", "alice")],
        ],
    );
    let v = links(&d);
    let ex = &v[0]["exemplars"];
    assert_eq!(ex.as_array().map(Vec::len), Some(4), "{v}");
    // The Prometheus API keeps the labels as ingested.
    let pe = d.get_json(&format!(
        "/api/v1/query_exemplars?query={}&start=0",
        enc("checkout_seconds")
    ));
    assert_eq!(pe[0]["exemplars"][0]["labels"]["traceID"], upper.as_str());
    assert_eq!(ex[0]["labels"]["traceID"], upper.as_str());
    assert_eq!(ex[0]["trace"]["traceId"], KNOWN);
    assert_eq!(ex[0]["trace"]["spanId"], "00f067aa0ba902b7");
    assert_eq!(ex[0]["trace"]["status"], "found", "{v}");
    assert_eq!(ex[0]["trace"]["links"][0]["url"], format!("/trace/{KNOWN}"));
    assert_eq!(ex[0]["trace"]["links"][1]["url"], format!("{jaeger}/trace/{KNOWN}"));
    assert_eq!(ex[0]["trace"]["links"][1]["name"], "jaeger");
    // Jaeger answered 404 and no embedded store is wired yet: the only store asked says missing.
    assert_eq!(ex[1]["trace"]["status"], "missing", "{v}");
    assert_eq!(ex[2]["trace"]["status"], "unparsable");
    assert_eq!(ex[3]["trace"]["status"], "none");

    let metrics = client().get(d.url("/metrics")).send().unwrap().text().unwrap();
    for line in [
        r#"diamond_trace_link_checks_total{destination="jaeger",result="found"} 1"#,
        r#"diamond_trace_link_checks_total{destination="jaeger",result="missing"} 1"#,
        r#"diamond_exemplar_trace_id_unparsable_total{label="trace_id"} 1"#,
        r#"diamond_exemplar_trace_id_unparsable_total{label="traceID"} 0"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line:?} in\n{metrics}");
    }
    // A second look is served from the cache.
    let _ = links(&d);
    let metrics = client().get(d.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains(r#"diamond_trace_link_cache_hits_total{destination="jaeger"} 2"#),
        "{metrics}"
    );

    // The redirect Grafana's data links use: raw value in, normalised link out.
    let no_redirects = crate::harness::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(d.url(&format!(
            "/api/diamond/v1/exemplars/links/open?destination=jaeger&trace_id={upper}"
        )))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(&*format!("{jaeger}/trace/{KNOWN}"))
    );

    // Reload applies new destinations.
    std::fs::write(&cfg, yaml("traces")).unwrap();
    let r = client().post(d.url("/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(wait_until(Duration::from_secs(5), || {
        links(&d)[0]["exemplars"][0]["trace"]["links"][1]["name"] == "traces"
    }));
}
