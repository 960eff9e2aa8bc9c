//! The read API and the remote-write receiver over a real socket, side by side with the reference
//! Prometheus: the same requests must get the same status code and `errorType` (and, where marked, the
//! same message and data).

use diamond_model::{Labels, Sample};
use diamond_wire::{TimeSeries, WriteBatch};
use serde_json::Value;

use crate::harness::{Diamond, RefPrometheus, enc, get_raw};

struct Case {
    path: String,
    /// Also compare the error message or the data exactly.
    exact: bool,
}

fn case(path: &str, exact: bool) -> Case {
    Case {
        path: path.to_owned(),
        exact,
    }
}

#[test]
fn read_api_matches_reference_status_and_error_types() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("d.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);
    let p = RefPrometheus::start(
        "scrape_configs: []\n",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
        ],
    );
    let cases = [
        case("/api/v1/query_exemplars?query=1", true),
        case("/api/v1/query_exemplars?query=", false),
        case("/api/v1/query_exemplars?query=up&start=10&end=5", true),
        case("/api/v1/query_exemplars?query=up&start=abc", true),
        case("/api/v1/query_exemplars?query=up", true),
        case("/api/v1/series", true),
        case(&format!("/api/v1/series?match[]={}", enc("up(")), false),
        case("/api/v1/series?match[]=up", true),
        case(&format!("/api/v1/query?query={}", enc("sum(")), false),
        case(&format!("/api/v1/query?query={}", enc("rate(up)")), false),
        case(&format!("/api/v1/query?query={}&time=100", enc("1+1")), true),
        case(&format!("/api/v1/query?query={}&time=100.5", enc("time()")), true),
        case(&format!("/api/v1/query?query={}&time=100", enc("\"a<b\"")), true),
        case("/api/v1/query?query=up&time=abc", true),
        case("/api/v1/query_range?query=up&start=0&end=10&step=0", true),
        case("/api/v1/query_range?query=up&start=10&end=0&step=1", true),
        case("/api/v1/query_range?query=up&start=0&end=100000&step=1", true),
        case("/api/v1/query_range?query=up&start=0&end=10", true),
        case(
            &format!("/api/v1/query_range?query={}&start=0&end=30&step=10", enc("vector(1)")),
            true,
        ),
        case("/api/v1/labels", true),
        case("/api/v1/label/job/values", true),
        case("/api/v1/metadata", true),
        case("/api/v1/metadata?limit=x", true),
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let (ps, pb) = get_raw(&format!("http://{}{}", p.addr, c.path));
        let (ds, db) = get_raw(&d.url(&c.path));
        let same = ps == ds
            && pb.get("errorType") == db.get("errorType")
            && (!c.exact || (pb.get("error") == db.get("error") && pb.get("data") == db.get("data")));
        if !same {
            failures.push(format!("{}\n  prometheus: {ps} {pb}\n  diamond:    {ds} {db}", c.path));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn post(url: &str, ct: &str, body: Vec<u8>) -> u16 {
    crate::harness::client()
        .post(url)
        .header("Content-Type", ct)
        .header("Content-Encoding", "snappy")
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn batch(t: i64, v: f64) -> Vec<u8> {
    let series = vec![TimeSeries {
        labels: Labels::from_pairs(&[("__name__", "rw_metric"), ("a", "1")]),
        samples: vec![Sample { t, v }],
        exemplars: Vec::new(),
        histograms_dropped: 0,
        metadata: None,
    }];
    diamond_wire::compress_snappy(&diamond_wire::encode_remote_write_v1(&WriteBatch {
        series,
        metadata: Vec::new(),
        rejected: Vec::new(),
    }))
}

#[test]
fn remote_write_status_codes_match_reference() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("d.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);
    let p = RefPrometheus::start("scrape_configs: []\n", &["--web.enable-remote-write-receiver"]);
    let now = crate::harness::now_ms();
    let steps: Vec<(&str, &str, Vec<u8>)> = vec![
        ("accepted", "application/x-protobuf", batch(now, 1.0)),
        ("same sample again", "application/x-protobuf", batch(now, 1.0)),
        ("out of order", "application/x-protobuf", batch(now - 60_000, 1.0)),
        (
            "duplicate timestamp, new value",
            "application/x-protobuf",
            batch(now, 2.0),
        ),
        ("wrong content type", "text/plain", batch(now + 1000, 1.0)),
        (
            "unknown proto",
            "application/x-protobuf;proto=foo.Bar",
            batch(now + 1000, 1.0),
        ),
        ("bad snappy", "application/x-protobuf", b"not snappy at all".to_vec()),
        (
            "bad protobuf",
            "application/x-protobuf",
            diamond_wire::compress_snappy(b"\xff\xff\xff\xff"),
        ),
        ("accepted later", "application/x-protobuf", batch(now + 1000, 1.0)),
    ];
    let mut failures = Vec::new();
    for (name, ct, body) in steps {
        let ps = post(&format!("http://{}/api/v1/write", p.addr), ct, body.clone());
        let ds = post(&d.url("/api/v1/write"), ct, body);
        if ps != ds {
            failures.push(format!("{name}: prometheus {ps}, diamond {ds}"));
        }
    }
    assert!(failures.is_empty(), "status codes differ:\n{}", failures.join("\n"));
    let v: Value = crate::harness::get_json(&d.url(&format!(
        "/api/v1/query?query=rw_metric&time={}",
        (now + 1000) / 1000 + 1
    )));
    assert_eq!(v["result"][0]["value"][1], "1");
}

/// Answers are gzip-compressed when the client asks, as Prometheus's are, and identical once decoded;
/// a client that does not ask gets them plain.
#[test]
fn answers_gzip_when_asked() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[]);
    let raw = crate::harness::client_builder().no_gzip().build().unwrap();
    for path in [
        "/api/v1/status/buildinfo",
        "/api/v1/query?query=vector(1)%2Bvector(2)&time=100",
        "/graph",
    ] {
        let url = format!("http://{}{path}", d.addr);
        let plain = raw.get(&url).send().unwrap();
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
        let plain = plain.bytes().unwrap();
        let zipped = raw.get(&url).header("Accept-Encoding", "gzip").send().unwrap();
        assert_eq!(zipped.status().as_u16(), 200, "{path}");
        assert_eq!(zipped.headers()["content-encoding"], "gzip", "{path}");
        let zipped = zipped.bytes().unwrap();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, plain.to_vec(), "{path}");
    }
}
