//! Differential test against the reference Prometheus 3.5 server: each case body is served over HTTP with its
//! content type, Prometheus scrapes it, and the outcome (scrape success, stored series and values, stored
//! exemplars) must match what our parser yields. Needs the binary from `/work/shared/tools/reference-prometheus`;
//! run with `cargo test -p diamond-exposition --test reference_prometheus -- --ignored --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diamond_exposition::{Entry, Format, Parser};
use diamond_model::{Labels, format_timestamp, format_value};

const PROMETHEUS: &str = "/root/.cache/reference-prometheus/root/usr/bin/prometheus";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const SCRAPE_TIME: &str = "scrape time";
const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// (name, content type, body). Bodies have no timestamps, so every sample is visible to an instant query "now".
const CASES: &[(&str, &str, &str)] = &[
    ("text basic", TEXT, "a 1\nb{c=\"d\",e=\"f\"} 2.5\n"),
    ("text whitespace", TEXT, "  a { b = \"c\" , } \t 2 \t\n"),
    ("text missing commas", TEXT, "a{b=\"1\" c=\"2\"} 1\n"),
    ("text escapes", TEXT, "a{b=\"x\\\\y\\\"z\\nw\\q\"} 1\n"),
    (
        "text special values",
        TEXT,
        "a +Inf\nb -Inf\nc NaN\nd Infinity\ne -inf\nf .5\ng 5.\n",
    ),
    ("text empty help with space", TEXT, "# HELP a \na 1\n"),
    ("text help without text", TEXT, "# HELP a\na 1\n"),
    ("text type without text", TEXT, "# TYPE a\na 1\n"),
    ("text leading tab", TEXT, "\ta{b=\"c\"} 1\n"),
    ("text type unknown", TEXT, "# TYPE a unknown\na 1\n"),
    ("text type gaugehistogram", TEXT, "# TYPE a gaugehistogram\na 1\n"),
    ("text comments", TEXT, "# hello\n#x\n# HELPX y\n\n  \na 1\n"),
    (
        "text le normalization",
        TEXT,
        "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"1e6\"} 0\nh_bucket{le=\"100000\"} 0\nh_bucket{le=\"0.00001\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_bucket{le=\"x\"} 0\n",
    ),
    ("text last type applies", TEXT, "# TYPE h histogram\nx{le=\"2\"} 0\n"),
    (
        "text quantile normalization",
        TEXT,
        "# TYPE s summary\ns{quantile=\"0\"} 1\ns{quantile=\"1\"} 1\n",
    ),
    ("text quoted names", TEXT, "{\"my.metric\", \"label.name\"=\"v\"} 1\n"),
    ("text exemplar", TEXT, "a 1 # {t=\"x\"} 1\n"),
    ("text trailing comment", TEXT, "a 1 # note\n"),
    ("text duplicate label", TEXT, "a{b=\"1\",b=\"2\"} 1\n"),
    ("text name label", TEXT, "a{__name__=\"b\"} 1\n"),
    ("text nul in value", TEXT, "a{b=\"x\0y\"} 1\n"),
    ("text value overflow", TEXT, "a 1e400\n"),
    ("text hex value", TEXT, "a 0x10\n"),
    ("text crlf", TEXT, "a 1\r\n"),
    ("text value glued to name", TEXT, "a-1\n"),
    (
        "om basic",
        OM,
        "# TYPE a counter\na_total{b=\"c\"} 1\na_created 5\n# EOF\n",
    ),
    (
        "om exemplars",
        OM,
        "# TYPE g gauge\ng 1 # {trace_id=\"abc\"} 0.5\n# TYPE c counter\nc_total 2 # {trace_id=\"d\",span_id=\"e\"} 1 1700000000.5\n# EOF\n",
    ),
    (
        "om exemplar escapes",
        OM,
        "# TYPE c counter\nc_total 2 # {t=\"x\\\"y\"} 1\n# EOF\n",
    ),
    ("om untyped", OM, "# TYPE a untyped\na 1\n# EOF\n"),
    ("om comment", OM, "# hello\na 1\n# EOF\n"),
    ("om help without text", OM, "# HELP a\na 1\n# EOF\n"),
    ("om empty unit", OM, "# UNIT a \na 1\n# EOF\n"),
    ("om no eof", OM, "a 1\n"),
    ("om blank line", OM, "a 1\n\n# EOF\n"),
    (
        "om trailing comma and quoted names",
        OM,
        "a{b=\"c\",} 1\n{\"d.e\",\"f.g\"=\"h\"} 2\n# EOF\n",
    ),
    (
        "om le normalization",
        OM,
        "# TYPE h histogram\nh_bucket{le=\"10\"} 0\nh_bucket{le=\"+Inf\"} 0\n# TYPE g gaugehistogram\ng_bucket{le=\"10\"} 0\ng_bucket{le=\"+Inf\"} 0\n# EOF\n",
    ),
    ("om two spaces", OM, "a  1\n# EOF\n"),
    ("text value underflow", TEXT, "a 1e-400\nb -1e-400\n"),
    (
        "text metadata",
        TEXT,
        "# HELP a x\\\\y\\nz\\\"q\n# TYPE a counter\na 1\n# TYPE b untyped\n# HELP b  two\nb 1\n",
    ),
    ("text quoted name escapes", TEXT, "{\"a\\\"b\", \"c\\nd\"=\"e\"} 1\n"),
    (
        "om metadata",
        OM,
        "# TYPE a_seconds counter\n# UNIT a_seconds seconds\n# HELP a_seconds x\\\"y\\\\z\na_seconds_total 1\n# TYPE i info\ni_info{v=\"1\"} 1\n# TYPE s stateset\ns{s=\"x\"} 1\n# EOF\n",
    ),
    (
        "om empty exemplar labels",
        OM,
        "# TYPE c counter\nc_total 1 # {} 3\n# EOF\n",
    ),
    ("om eof without newline", OM, "a 1\n# EOF"),
    ("om quoted name escapes", OM, "{\"a\\\"b\"} 1\n# EOF\n"),
    ("text empty label name", TEXT, "a{\"\"=\"x\"} 1\n"),
    ("text empty metric name", TEXT, "{\"\"} 1\n"),
    ("text extra token", TEXT, "a{b=\"c\"} 1 2 3\n"),
    ("text leading comma", TEXT, "a{,b=\"c\"} 1\n"),
    ("text label names with colon", TEXT, "a{b:c=\"d\"} 1\n"),
    (
        "om duplicate exemplar labels",
        OM,
        "# TYPE c counter\nc_total 1 # {a=\"1\",a=\"2\"} 3\n# EOF\n",
    ),
    (
        "om exemplar name label",
        OM,
        "# TYPE c counter\nc_total 1 # {__name__=\"x\"} 3\n# EOF\n",
    ),
    (
        "om exemplar trailing comma",
        OM,
        "# TYPE c counter\nc_total 1 # {a=\"1\",} 3\n# EOF\n",
    ),
    ("om duplicate series labels", OM, "a{b=\"1\",b=\"2\"} 1\n# EOF\n"),
    ("om type unknown word case", OM, "# TYPE a Gauge\na 1\n# EOF\n"),
    ("om value spellings", OM, "a Infinity\nb nan\nc +1\nd 1E3\n# EOF\n"),
    (
        "om exemplar timestamps",
        OM,
        "# TYPE c counter\nc_total 1 # {a=\"1\"} 3 1600000000.001\n# TYPE d counter\nd_total 1 # {a=\"1\"} 3 1600000000.0019\n# TYPE e counter\ne_total 1 # {a=\"1\"} 3 1.6e9\n# EOF\n",
    ),
    (
        "om long exemplar",
        OM,
        "# TYPE c counter\nc_total 2 # {t=\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"} 1\n# EOF\n",
    ),
];

/// Serves case `i` at `/m/<i>` until the test ends.
fn serve(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        let _ = handle(stream);
    }
}

fn handle(mut s: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf)?;
    let req = String::from_utf8_lossy(&buf[..n]);
    let path = req.split_whitespace().nth(1).unwrap_or("");
    let i: usize = path
        .strip_prefix("/m/")
        .and_then(|i| i.parse().ok())
        .unwrap_or(usize::MAX);
    let Some((_, ct, body)) = CASES.get(i) else {
        return s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn get_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = get(port, path).expect("Prometheus answers");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn labels_of(v: &serde_json::Value, drop: &[&str]) -> Labels {
    let pairs: Vec<(String, String)> = v
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Labels::from_pairs(&pairs)
}

struct Ours {
    error: Option<String>,
    /// Family → (type, help, unit), as the metadata API reports them (type `unknown` and empty strings by default).
    metadata: BTreeMap<String, (String, String, String)>,
    samples: BTreeSet<(String, String)>,
    /// (series, exemplar labels, value, timestamp or "scrape time").
    exemplars: BTreeSet<(String, String, String, String)>,
}

fn ours(body: &str, ct: &str) -> Ours {
    let format = Format::from_content_type(ct).expect("known content type");
    let mut p = Parser::new(body.as_bytes(), format);
    let mut out = Ours {
        error: None,
        metadata: BTreeMap::new(),
        samples: BTreeSet::new(),
        exemplars: BTreeSet::new(),
    };
    while let Some(e) = p.next() {
        match e {
            Ok(Entry::Sample(s)) => {
                out.samples.insert((s.labels().to_string(), format_value(s.value())));
                // The storage drops exemplars over 128 characters; the parser returns them.
                if let Some(ex) = s.exemplar().filter(|e| e.labels.rune_count() <= 128) {
                    let ts = if ex.has_ts {
                        format_timestamp(ex.ts)
                    } else {
                        SCRAPE_TIME.to_owned()
                    };
                    out.exemplars.insert((
                        s.labels().to_string(),
                        ex.labels.to_string(),
                        format_value(ex.value),
                        ts,
                    ));
                }
            }
            Ok(Entry::Type { family, metric_type }) => {
                out.metadata.entry(family.to_owned()).or_insert_with(default_meta).0 = metric_type.to_string();
            }
            Ok(Entry::Help { family, help }) => {
                out.metadata.entry(family.to_owned()).or_insert_with(default_meta).1 = help.into_owned();
            }
            Ok(Entry::Unit { family, unit }) => {
                out.metadata.entry(family.to_owned()).or_insert_with(default_meta).2 = unit.to_owned();
            }
            Err(e) => out.error = Some(e.to_string()),
        }
    }
    out
}

fn default_meta() -> (String, String, String) {
    ("unknown".to_owned(), String::new(), String::new())
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "starts the reference Prometheus server; run with --ignored"]
fn parser_agrees_with_reference_prometheus() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target_port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || serve(listener));

    let dir = std::env::temp_dir().join(format!("diamond-exposition-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cfg = String::from("global:\n  scrape_interval: 2s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for i in 0..CASES.len() {
        cfg.push_str(&format!(
            "  - job_name: c{i}\n    metrics_path: /m/{i}\n    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        ));
    }
    std::fs::write(dir.join("prometheus.yml"), cfg).expect("config written");
    let port = free_port();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--enable-feature=exemplar-storage")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the reference Prometheus starts");
    let _server = Server(child);

    // Wait until every target has been scraped at least once.
    let deadline = Instant::now() + Duration::from_secs(90);
    let targets = loop {
        assert!(Instant::now() < deadline, "targets were not all scraped in time");
        std::thread::sleep(Duration::from_millis(500));
        let Some((200, body)) = get(port, "/api/v1/targets") else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let active = v["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        if active.len() == CASES.len() && active.iter().all(|t| t["health"] != "unknown") {
            break active;
        }
    };
    std::thread::sleep(Duration::from_secs(1));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut mismatches = Vec::new();
    for (i, (name, ct, body)) in CASES.iter().enumerate() {
        let job = format!("c{i}");
        let t = targets
            .iter()
            .find(|t| t["labels"]["job"] == job.as_str())
            .expect("target listed");
        let their_error = t["lastError"].as_str().unwrap_or("").to_owned();
        let ours = ours(body, ct);
        println!(
            "{name}:\n  prometheus: {}\n  ours:       {}",
            if their_error.is_empty() { "ok" } else { &their_error },
            ours.error.as_deref().unwrap_or("ok")
        );
        if their_error.is_empty() != ours.error.is_none() {
            mismatches.push(format!("{name}: prometheus {their_error:?}, ours {:?}", ours.error));
            continue;
        }
        if ours.error.is_some() {
            continue;
        }
        let q = encode(&format!("{{job=\"{job}\",__name__!~\"up|scrape_.*\"}}"));
        let v = get_json(port, &format!("/api/v1/query?query={q}"));
        let theirs: BTreeSet<(String, String)> = v["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|s| {
                        (
                            labels_of(&s["metric"], &["job", "instance"]).to_string(),
                            s["value"][1].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if theirs != ours.samples {
            mismatches.push(format!(
                "{name}: samples\n    prometheus {theirs:?}\n    ours       {:?}",
                ours.samples
            ));
        }
        let v = get_json(
            port,
            &format!(
                "/api/v1/query_exemplars?query={q}&start={}&end={}",
                now - 3600 * 24 * 365 * 30,
                now + 3600
            ),
        );
        let mut theirs_ex = BTreeSet::new();
        for series in v["data"].as_array().cloned().unwrap_or_default() {
            let sl = labels_of(&series["seriesLabels"], &["job", "instance"]).to_string();
            for e in series["exemplars"].as_array().cloned().unwrap_or_default() {
                // Exemplars without a timestamp get the scrape time, within the last hour here; the cases'
                // explicit timestamps are all years old.
                let ts = e["timestamp"].as_f64().unwrap_or(0.0);
                let ts = if ts > (now - 3600) as f64 {
                    SCRAPE_TIME.to_owned()
                } else {
                    format_timestamp((ts * 1000.0).round() as i64)
                };
                theirs_ex.insert((
                    sl.clone(),
                    labels_of(&e["labels"], &[]).to_string(),
                    e["value"].as_str().unwrap_or("").to_owned(),
                    ts,
                ));
            }
        }
        let v = get_json(
            port,
            &format!(
                "/api/v1/targets/metadata?match_target={}",
                encode(&format!("{{job=\"{job}\"}}"))
            ),
        );
        let theirs_meta: BTreeMap<String, (String, String, String)> = v["data"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|m| {
                        let s = |k: &str| m[k].as_str().unwrap_or("").to_owned();
                        (s("metric"), (s("type"), s("help"), s("unit")))
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!("  metadata:   {theirs_meta:?}");
        if theirs_meta != ours.metadata {
            mismatches.push(format!(
                "{name}: metadata\n    prometheus {theirs_meta:?}\n    ours       {:?}",
                ours.metadata
            ));
        }
        if theirs_ex != ours.exemplars {
            mismatches.push(format!(
                "{name}: exemplars\n    prometheus {theirs_ex:?}\n    ours       {:?}",
                ours.exemplars
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "reference comparison: {} cases, {} mismatches",
        CASES.len(),
        mismatches.len()
    );
    for m in &mismatches {
        println!("  MISMATCH {m}");
    }
    assert!(mismatches.is_empty(), "{} mismatches", mismatches.len());
}
