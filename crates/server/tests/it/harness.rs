//! Processes under test and HTTP helpers. Every process is killed when its handle drops; every wait is
//! bounded in time.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Installs rustls's ring crypto provider once: the workspace builds reqwest without a default provider
/// (no aws-lc C build), so every process must choose one before its first client.
pub fn ensure_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client builder with TLS ready.
pub fn client_builder() -> reqwest::blocking::ClientBuilder {
    ensure_tls();
    reqwest::blocking::Client::builder()
}

/// A default client.
pub fn client() -> reqwest::blocking::Client {
    client_builder().build().expect("http client")
}

/// Reads the child's stdout until a line starts with `prefix`; returns the rest of that line.
fn wait_for_line(child: &mut Child, prefix: &str, timeout: Duration) -> String {
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    let wanted = prefix.to_owned();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(rest) = line.strip_prefix(&wanted) {
                let _ = tx.send(rest.trim().to_owned());
                sent = true;
            }
        }
    });
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("process did not print {prefix:?} within {timeout:?}"))
}

/// A running `diamond serve`.
pub struct Diamond {
    child: Option<Child>,
    /// `127.0.0.1:port`.
    pub addr: String,
}

impl Diamond {
    /// Starts Diamond on a free port with `data` as its TSDB directory.
    pub fn start(data: &Path, extra: &[&str]) -> Diamond {
        let mut child = Command::new(env!("CARGO_BIN_EXE_diamond"))
            .arg("serve")
            .arg("--web.listen-address=127.0.0.1:0")
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--log.level=warn")
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning diamond");
        let url = wait_for_line(&mut child, "diamond: listening on http://", Duration::from_secs(60));
        Diamond {
            child: Some(child),
            addr: url,
        }
    }

    /// `http://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET a JSON answer, asserting status 200 and `"status":"success"`.
    pub fn get_json(&self, path: &str) -> Value {
        get_json(&self.url(path))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the process with SIGTERM and waits (bounded) for a clean exit.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("diamond did not exit within 20s of SIGTERM");
        }
    }
}

impl Drop for Diamond {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Fails the test with set-up instructions: tests never skip silently.
pub fn missing(what: &str) -> ! {
    panic!("{what} is required by this test; run `scripts/test` (or `eval \"$(scripts/setup-test-deps)\"`) first")
}

/// The Python interpreter that has the real client libraries installed.
pub fn python() -> String {
    let py = std::env::var("DIAMOND_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ok = Command::new(&py)
        .args(["-c", "import prometheus_client"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        missing("Python with prometheus_client (DIAMOND_TEST_PYTHON)");
    }
    py
}

/// The reference Prometheus binary.
pub fn reference_prometheus() -> PathBuf {
    let p = std::env::var("DIAMOND_REFERENCE_PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/reference-prometheus/root/usr/bin/prometheus")
        });
    if !p.exists() {
        missing("the reference Prometheus (DIAMOND_REFERENCE_PROMETHEUS)");
    }
    p
}

/// The `prometheus_client` app of `fixtures/exemplar_app.py`.
pub struct PyApp {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl PyApp {
    /// Starts the app; `classic_only` makes it ignore the Accept header and always answer classic text.
    pub fn start(classic_only: bool) -> PyApp {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exemplar_app.py");
        let mut cmd = Command::new(python());
        cmd.arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if classic_only {
            cmd.arg("--classic-only");
        }
        let mut child = cmd.spawn().expect("spawning the Python app");
        let port = wait_for_line(&mut child, "PORT ", Duration::from_secs(30))
            .parse()
            .expect("port number");
        let stdin = child.stdin.take();
        PyApp { child, stdin, port }
    }

    /// `127.0.0.1:port`.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for PyApp {
    fn drop(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real `client_golang` app of `fixtures/go_app/main.go`, built by `scripts/setup-test-deps` with
/// Debian's Go toolchain and client_golang package (path in `DIAMOND_TEST_GO_APP`).
pub struct GoApp {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl GoApp {
    /// Starts the app; `openmetrics` sets promhttp's `EnableOpenMetrics` (off is promhttp's default).
    pub fn start(openmetrics: bool) -> GoApp {
        let bin = std::env::var("DIAMOND_TEST_GO_APP")
            .ok()
            .filter(|p| Path::new(p).exists())
            .unwrap_or_else(|| missing("the client_golang test app (DIAMOND_TEST_GO_APP)"));
        let mut child = Command::new(bin)
            .arg(format!("-openmetrics={openmetrics}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning the Go app");
        let port = wait_for_line(&mut child, "PORT ", Duration::from_secs(30))
            .parse()
            .expect("port number");
        GoApp { child, port }
    }

    /// `127.0.0.1:port`.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for GoApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback (for programs that cannot report the port they bound).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running reference Prometheus.
pub struct RefPrometheus {
    child: Child,
    /// `127.0.0.1:port`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl RefPrometheus {
    /// Starts the reference Prometheus with `config` (YAML) and extra flags; waits until it is ready.
    pub fn start(config: &str, extra: &[&str]) -> RefPrometheus {
        Self::start_in(config, None, extra)
    }

    /// As [`RefPrometheus::start`], with `data` as its TSDB directory when given (e.g. holding blocks).
    pub fn start_in(config: &str, data: Option<&Path>, extra: &[&str]) -> RefPrometheus {
        let bin = reference_prometheus();
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, config).expect("writing config");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let data = data.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning prometheus");
        let p = RefPrometheus { child, addr, _dir: dir };
        let ready = wait_until(Duration::from_secs(60), || {
            crate::harness::client()
                .get(format!("http://{}/-/ready", p.addr))
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        assert!(ready, "reference Prometheus did not become ready");
        p
    }

    /// GET a JSON answer.
    pub fn get_json(&self, path: &str) -> Value {
        get_json(&format!("http://{}{}", self.addr, path))
    }
}

/// Sends `method url` with an empty body; returns (status, body text).
pub fn send(method: &str, url: &str) -> (u16, String) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
    let resp = crate::harness::client()
        .request(m, url)
        .send()
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().unwrap_or_default())
}

impl Drop for RefPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 100 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET `url`, asserting a 200 and a success envelope; returns `data`.
pub fn get_json(url: &str) -> Value {
    let resp = crate::harness::client()
        .get(url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status();
    let body = resp.text().unwrap_or_default();
    assert!(status.is_success(), "GET {url}: {status}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: bad JSON {e}: {body}"));
    assert_eq!(v["status"], "success", "GET {url}: {body}");
    v["data"].clone()
}

/// GET `url` and return (status, parsed body or Null).
pub fn get_raw(url: &str) -> (u16, Value) {
    let resp = crate::harness::client()
        .get(url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// URL-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Now in ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends `series` to `url` as one snappy-compressed remote-write 1.0 request; asserts the 204.
pub fn remote_write(url: &str, series: Vec<diamond_wire::TimeSeries>) {
    let body = diamond_wire::compress_snappy(&diamond_wire::encode_remote_write_v1(&diamond_wire::WriteBatch {
        series,
        metadata: Vec::new(),
        rejected: Vec::new(),
    }));
    let st = client()
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(st, 204, "remote write to {url}");
}
