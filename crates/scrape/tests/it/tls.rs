//! Scraping over HTTPS: CA files, `server_name`, `insecure_skip_verify`. Certificates are generated per test;
//! the target is a minimal HTTP/1.1 responder behind rustls on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use diamond_model::storage::memory::MemStorage;
use diamond_scrape::{Health, ScrapeManager};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    ca_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

/// A CA and a leaf certificate for `name`, signed by it.
fn pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec![name.to_owned()]).expect("leaf params");
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).expect("leaf cert");
    Pki {
        ca_pem: ca_cert.pem(),
        cert_der: leaf_cert.der().to_vec(),
        key_der: leaf_key.serialize_der(),
    }
}

/// Serves `body` as classic text over TLS until the returned sender is dropped.
async fn tls_target(p: &Pki, body: &'static str) -> (String, tokio::sync::oneshot::Sender<()>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(p.cert_der.clone())],
            rustls::pki_types::PrivateKeyDer::Pkcs8(p.key_der.clone().into()),
        )
        .expect("server cert");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                _ = &mut rx => return,
                c = listener.accept() => c,
            };
            let Ok((tcp, _)) = conn else { continue };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // Failed handshakes are what some tests expect; they just end the connection.
                let Ok(mut s) = acceptor.accept(tcp).await else { return };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                // Read the request head (bounded: at most 16 reads).
                for _ in 0..16 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_targets_table() {
    let dir = std::env::temp_dir().join(format!("diamond-scrape-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // (certificate name, tls_config, expected health, expected error fragment)
    let cases: [(&str, &str, Health, &str); 5] = [
        ("127.0.0.1", "{ca_file: CA}", Health::Up, ""),
        ("127.0.0.1", "{}", Health::Down, "certificate"),
        ("127.0.0.1", "{insecure_skip_verify: true}", Health::Up, ""),
        (
            "diamond.test",
            "{ca_file: CA, server_name: diamond.test}",
            Health::Up,
            "",
        ),
        ("diamond.test", "{ca_file: CA}", Health::Down, "certificate"),
    ];
    for (i, (name, tls, want, err)) in cases.into_iter().enumerate() {
        let p = pki(name);
        let ca = dir.join(format!("ca{i}.pem"));
        std::fs::write(&ca, &p.ca_pem).expect("write ca");
        let (addr, _stop) = tls_target(&p, "tls_metric 1\n").await;
        let store = MemStorage::new();
        let s = store.clone();
        let mgr = ScrapeManager::new(Arc::new(move || s.appender()));
        let yaml = format!(
            "scrape_configs:\n  - job_name: tls\n    scheme: https\n    scrape_interval: 300ms\n    tls_config: {}\n    static_configs: [{{targets: ['{addr}']}}]\n",
            tls.replace("CA", &format!("'{}'", ca.display()))
        );
        let cfg = diamond_config::parse(&yaml, "tls.yml").expect("config");
        mgr.apply_config(&cfg).expect("apply");
        let mut status = None;
        for _ in 0..250 {
            if let Some(t) = mgr
                .active_targets()
                .into_iter()
                .find(|t| t.state.health != Health::Unknown)
            {
                status = Some(t);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let t = status.unwrap_or_else(|| panic!("case {i}: no scrape within 5s"));
        assert_eq!(t.state.health, want, "case {i} ({tls}): {}", t.state.last_error);
        assert!(t.state.last_error.contains(err), "case {i}: {}", t.state.last_error);
        assert!(t.scrape_url.starts_with("https://"));
        mgr.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
