//! A target that serves whatever the test sets, on 127.0.0.1 and a free port, stopped on drop.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What the target answers.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub gzip: bool,
    /// Wait this long before answering.
    pub delay_ms: u64,
}

impl Canned {
    pub fn om(body: &str) -> Canned {
        Canned {
            status: 200,
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
            body: body.into(),
            gzip: false,
            delay_ms: 0,
        }
    }

    pub fn text(body: &str) -> Canned {
        Canned {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8".into(),
            body: body.into(),
            gzip: false,
            delay_ms: 0,
        }
    }
}

#[derive(Default)]
struct Shared {
    canned: Option<Canned>,
    requests: Vec<HeaderMap>,
}

pub struct Server {
    pub addr: String,
    shared: Arc<Mutex<Shared>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Server {
    pub async fn start(c: Canned) -> Server {
        let shared = Arc::new(Mutex::new(Shared {
            canned: Some(c),
            requests: Vec::new(),
        }));
        let s2 = Arc::clone(&shared);
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let s = Arc::clone(&s2);
            async move {
                let delay = lock(&s).canned.as_ref().map_or(0, |c| c.delay_ms);
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                respond(&s, headers)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr").to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Server {
            addr,
            shared,
            stop: Some(tx),
        }
    }

    pub fn set(&self, c: Canned) {
        lock(&self.shared).canned = Some(c);
    }

    pub fn requests(&self) -> Vec<HeaderMap> {
        lock(&self.shared).requests.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn respond(s: &Mutex<Shared>, headers: HeaderMap) -> Response {
    let c = {
        let mut g = lock(s);
        g.requests.push(headers);
        g.canned.clone()
    };
    let Some(c) = c else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let status = StatusCode::from_u16(c.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = Response::builder().status(status);
    if !c.content_type.is_empty() {
        b = b.header(header::CONTENT_TYPE, c.content_type.clone());
    }
    let body = if c.gzip {
        b = b.header(header::CONTENT_ENCODING, "gzip");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(c.body.as_bytes()).expect("gzip in memory");
        enc.finish().expect("gzip in memory")
    } else {
        c.body.into_bytes()
    };
    b.body(axum::body::Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
