//! Link resolution against real HTTP servers: each test starts, on 127.0.0.1 and a free port, a small axum
//! server that answers Jaeger's (`GET /api/traces/<id>`: `{"data":[{"traceID",…}]}` or 404 with
//! `{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`) and Tempo's
//! (`GET /api/v2/traces/<id>`: `{"trace":{…}}` or 404) documented shapes, because no Tempo or Jaeger binary
//! runs here. The embedded store is a `TraceLookup` over a set.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use super::*;

const A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const B: &str = "0af7651916cd43dd8448eb211c80319c";
const SLOW: &str = "00000000000000000000000000000bad";

struct Fake {
    known: HashSet<String>,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

async fn jaeger(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> axum::response::Response {
    f.requests.fetch_add(1, Ordering::SeqCst);
    let now = f.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    f.max_in_flight.fetch_max(now, Ordering::SeqCst);
    // Long enough that unbounded checks would pile up.
    tokio::time::sleep(Duration::from_millis(5)).await;
    f.in_flight.fetch_sub(1, Ordering::SeqCst);
    if id == SLOW {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if id == "00000000000000000000000000000500" {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    if f.known.contains(&id) {
        let body = format!(
            r#"{{"data":[{{"traceID":"{id}","spans":[],"processes":{{}},"warnings":null}}],"total":0,"limit":0,"offset":0,"errors":null}}"#
        );
        return ([("content-type", "application/json")], body).into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [("content-type", "application/json")],
        r#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}"#,
    )
        .into_response()
}

async fn tempo_v2(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> axum::response::Response {
    f.requests.fetch_add(1, Ordering::SeqCst);
    if f.known.contains(&id) {
        return (
            [("content-type", "application/json")],
            r#"{"trace":{"resourceSpans":[]}}"#,
        )
            .into_response();
    }
    (StatusCode::NOT_FOUND, "trace not found").into_response()
}

/// Starts the fake on a free port; the server task ends with the test's runtime.
async fn serve(known: &[&str]) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        known: known.iter().map(|s| (*s).to_owned()).collect(),
        requests: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .route("/api/traces/{id}", get(jaeger))
        .route("/api/v2/traces/{id}", get(tempo_v2))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

fn dest(yaml_body: &str) -> Vec<TraceDestination> {
    diamond_config::parse(&format!("trace_destinations:\n{yaml_body}"), "t.yml")
        .unwrap()
        .trace_destinations
}

struct Set(HashSet<TraceId>);
impl TraceLookup for Set {
    fn contains(&self, id: &TraceId) -> bool {
        self.0.contains(id)
    }
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

#[tokio::test]
async fn statuses_from_jaeger_tempo_and_the_embedded_store() {
    let (base, fake) = serve(&[A]).await;
    let links = TraceLinks::new();
    links.configure(&dest(&format!(
        "  - name: jaeger\n    kind: jaeger\n    url: {base}/trace/{{trace_id}}\n    label_names: [trace_id]\n  - name: tempo\n    kind: tempo\n    url: 'http://grafana/explore?q=${{__value.raw}}'\n    api_url: {base}\n    label_names: [traceID]\n  - name: logs\n    url: /logs/{{trace_id}}?span={{span_id}}\n    label_names: [trace_id]\n"
    )));
    let ex = [
        ls(&[("trace_id", A), ("span_id", "00f067aa0ba902b7")]), // jaeger has it
        ls(&[("trace_id", B)]),                                  // nobody has it
        ls(&[("traceID", &A.to_uppercase())]),                   // tempo has it
        ls(&[("traceID", "not-a-trace")]),
        ls(&[("foo", "bar")]),
        ls(&[("trace_id", &format!("0x{B}"))]), // the same trace as #1: checked once
    ];
    let refs: Vec<&Labels> = ex.iter().collect();
    let got = links.resolve(&refs).await;
    assert_eq!(got[0].status, Status::Found);
    assert_eq!(got[0].span_id.map(|s| s.to_hex()).as_deref(), Some("00f067aa0ba902b7"));
    let l: Vec<(&str, &str, &str)> = got[0]
        .links
        .iter()
        .map(|l| (l.name.as_str(), l.url.as_str(), l.status))
        .collect();
    assert_eq!(
        l,
        vec![
            ("diamond", &*format!("/trace/{A}"), "unknown"),
            ("jaeger", &*format!("{base}/trace/{A}"), "found"),
            ("logs", &*format!("/logs/{A}?span=00f067aa0ba902b7"), "unchecked"),
        ]
    );
    assert_eq!(
        got[1].status,
        Status::Missing,
        "the embedded store does not run, so Jaeger is the only store asked"
    );
    assert_eq!(got[1].links[1].status, "missing");
    assert_eq!(got[2].status, Status::Found);
    assert_eq!(got[2].label.as_deref(), Some("traceID"));
    assert_eq!(got[2].raw.as_deref(), Some(&*A.to_uppercase()));
    assert_eq!(
        got[2].links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["diamond", "tempo"]
    );
    assert_eq!(got[3].status, Status::Unparsable);
    assert!(got[3].links.is_empty());
    assert_eq!(
        got[3].error.as_ref().map(ToString::to_string).as_deref(),
        Some("not a 128-bit ID in any known format (hex, 0x-hex, UUID, traceparent, base64, decimal)")
    );
    assert_eq!(got[4].status, Status::None);
    assert_eq!(got[4].label, None);
    assert_eq!(got[5].trace_id, got[1].trace_id);
    // A (jaeger), B (jaeger), A (tempo): three distinct checks, however many exemplars.
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3);

    // With the embedded store answering, B is missing everywhere: a dangling link.
    let mut held = HashSet::new();
    held.insert(TraceId::parse(A).unwrap());
    held.insert(TraceId::parse("abc").unwrap());
    links.set_embedded(Some(Arc::new(Set(held))));
    let got = links.resolve(&refs).await;
    assert_eq!(got[1].status, Status::Missing);
    assert_eq!(got[0].links[0].status, "found");
    // A trace only the embedded store holds is found, although Jaeger says missing.
    let only_here = ls(&[("trace_id", "00000000000000000000000000000abc")]);
    let got_here = links.resolve(&[&only_here]).await;
    assert_eq!(got_here[0].status, Status::Found);
    assert_eq!(got_here[0].links[1].status, "missing");
    assert_eq!(got[1].links[0].status, "missing");
    // The second round came from the cache (one new request: the trace only the embedded store holds).
    assert_eq!(fake.requests.load(Ordering::SeqCst), 4);
    let m = links.metrics();
    assert_eq!(
        m.checks,
        vec![
            ("diamond".to_owned(), "found", 2),
            ("diamond".to_owned(), "missing", 1),
            ("jaeger".to_owned(), "found", 1),
            ("jaeger".to_owned(), "missing", 2),
            ("tempo".to_owned(), "found", 1),
        ]
    );
    assert_eq!(m.cache_hits, vec![("jaeger".to_owned(), 2), ("tempo".to_owned(), 1)]);
    assert_eq!(m.cache_entries, 4);

    // Reconfiguring with other destinations drops the cache: the next round asks again.
    links.configure(&dest(&format!(
        "  - name: jaeger\n    kind: jaeger\n    url: {base}/ui/trace/{{trace_id}}\n    label_names: [trace_id]\n"
    )));
    let _ = links.resolve(&refs).await;
    assert_eq!(fake.requests.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn timeouts_and_errors_are_unknown_never_missing() {
    let (base, fake) = serve(&[A]).await;
    let links = TraceLinks::new();
    links.configure(&dest(&format!(
        "  - name: jaeger\n    kind: jaeger\n    url: {base}/trace/{{trace_id}}\n    timeout: 300ms\n"
    )));
    let ex = [
        ls(&[("trace_id", SLOW)]),
        ls(&[("trace_id", "00000000000000000000000000000500")]),
        ls(&[("trace_id", A)]),
    ];
    let refs: Vec<&Labels> = ex.iter().collect();
    let started = Instant::now();
    let got = links.resolve(&refs).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the timeout, not the slow server"
    );
    assert_eq!(
        got.iter().map(|t| t.status).collect::<Vec<_>>(),
        [Status::Unknown, Status::Unknown, Status::Found]
    );
    let m = links.metrics();
    assert_eq!(
        m.checks,
        vec![
            ("jaeger".to_owned(), "error", 1),
            ("jaeger".to_owned(), "found", 1),
            ("jaeger".to_owned(), "timeout", 1),
        ]
    );
    // Failures are cached briefly, so a down backend is not hammered by every refresh.
    let _ = links.resolve(&refs).await;
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn unreachable_destination_is_unknown() {
    // A port that was free a moment ago: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let links = TraceLinks::new();
    links.configure(&dest(&format!(
        "  - name: tempo\n    kind: tempo\n    tempo_api: v1\n    url: http://g/{{trace_id}}\n    api_url: http://127.0.0.1:{port}\n"
    )));
    let l = ls(&[("trace_id", A)]);
    let got = links.resolve(&[&l]).await;
    assert_eq!(got[0].status, Status::Unknown);
    assert_eq!(links.metrics().checks, vec![("tempo".to_owned(), "error", 1)]);
}

#[tokio::test]
async fn a_dashboard_of_traces_respects_the_concurrency_bound() {
    let ids: Vec<String> = (1..=200u32).map(|i| format!("{i:032x}")).collect();
    let known: Vec<&str> = ids.iter().step_by(2).map(String::as_str).collect();
    let (base, fake) = serve(&known).await;
    let links = TraceLinks::new();
    links.configure(&dest(&format!(
        "  - name: jaeger\n    kind: jaeger\n    url: {base}/trace/{{trace_id}}\n"
    )));
    let ex: Vec<Labels> = ids.iter().map(|i| ls(&[("trace_id", i)])).collect();
    let refs: Vec<&Labels> = ex.iter().collect();
    let got = links.resolve(&refs).await;
    let found = got.iter().filter(|t| t.status == Status::Found).count();
    let missing = got.iter().filter(|t| t.links[1].status == "missing").count();
    assert_eq!((found, missing), (100, 100));
    assert_eq!(fake.requests.load(Ordering::SeqCst), 200);
    let max = fake.max_in_flight.load(Ordering::SeqCst);
    assert!(
        max <= MAX_CONCURRENT_CHECKS && max > 1,
        "{max} checks in flight at once"
    );
}
