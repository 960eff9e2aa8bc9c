use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::*;

async fn get(path: &str, if_none_match: Option<&str>) -> axum::response::Response {
    let mut req = Request::get(path);
    if let Some(t) = if_none_match {
        req = req.header(header::IF_NONE_MATCH, t);
    }
    router()
        .oneshot(req.body(Body::empty()).expect("valid request"))
        .await
        .expect("infallible router")
}

#[tokio::test]
async fn pages_serve_the_app_with_a_strict_policy() {
    for path in [
        "/",
        "/graph",
        "/targets",
        "/exemplars",
        "/trace/4bf92f3577b34da6a3ce929d0e0e4736",
        "/ui/graph",
    ] {
        let res = get(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = res.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let body = to_bytes(res.into_body(), 1 << 20).await.expect("body");
        assert_eq!(&body[..], assets::INDEX.bytes);
    }
}

#[test]
fn the_policy_allows_no_inline_script_or_eval() {
    let script = CONTENT_SECURITY_POLICY
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .expect("a script-src directive");
    assert_eq!(script, "script-src 'self'");
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-"));
    assert!(CONTENT_SECURITY_POLICY.contains("object-src 'none'"));
    assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
}

#[tokio::test]
async fn every_asset_is_served_with_its_type_and_caching() {
    for a in assets::ASSETS {
        let res = get(&format!("/assets/{}", a.path), None).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", a.path);
        let h = res.headers().clone();
        let ext = a.path.rsplit('.').next().unwrap_or("");
        let want = match ext {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            _ => "text/plain; charset=utf-8",
        };
        assert_eq!(h[header::CONTENT_TYPE], want, "{}", a.path);
        assert!(h.contains_key(header::CONTENT_SECURITY_POLICY));
        let cc = h[header::CACHE_CONTROL].to_str().expect("ascii");
        if a.path.starts_with("vendor/") {
            assert!(cc.contains("immutable"), "{}", a.path);
        } else {
            assert_eq!(cc, "no-cache", "{}", a.path);
        }
        let etag = h[header::ETAG].to_str().expect("ascii").to_owned();
        let body = to_bytes(res.into_body(), 1 << 22).await.expect("body");
        assert_eq!(&body[..], a.bytes);
        let again = get(&format!("/assets/{}", a.path), Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{}", a.path);
        let body = to_bytes(again.into_body(), 1 << 22).await.expect("body");
        assert!(body.is_empty());
        let stale = get(&format!("/assets/{}", a.path), Some("\"0000000000000000\"")).await;
        assert_eq!(stale.status(), StatusCode::OK);
    }
}

#[test]
fn etags_differ_between_files() {
    let mut tags: Vec<String> = assets::ASSETS.iter().map(|a| a.etag()).collect();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), assets::ASSETS.len());
}

#[tokio::test]
async fn unknown_assets_and_traversal_are_404() {
    for path in [
        "/assets/nope.js",
        "/assets/../src/lib.rs",
        "/assets/js/../../Cargo.toml",
        "/assets/",
    ] {
        let res = get(path, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

/// Every module the page loads is embedded, and every embedded module is under /assets/: the page
/// cannot break at run time on a file that was forgotten in the table.
#[test]
fn every_import_and_page_reference_resolves() {
    let index = std::str::from_utf8(assets::INDEX.bytes).expect("utf-8");
    for part in index.split("\"/assets/").skip(1) {
        let path = part.split('"').next().unwrap_or("");
        assert!(
            assets::find(path).is_some(),
            "index.html references missing /assets/{path}"
        );
    }
    for a in assets::ASSETS.iter().filter(|a| a.path.starts_with("js/")) {
        let src = std::str::from_utf8(a.bytes).expect("utf-8");
        for line in src
            .lines()
            .filter(|l| l.starts_with("import ") || l.starts_with("export {"))
        {
            let Some(spec) = line.split('\'').nth(1) else { continue };
            let resolved = resolve("js/", spec);
            assert!(
                assets::find(&resolved).is_some(),
                "{} imports missing {spec} ({resolved})",
                a.path
            );
        }
    }
}

fn resolve(dir: &str, spec: &str) -> String {
    let mut parts: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    for seg in spec.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The XSS rule of the UI, checked on the sources: no HTML parsing sinks, no string-built code, and
/// no inline script or handler in the page (the CSP would refuse it anyway).
#[test]
fn sources_use_no_html_sinks() {
    const SINKS: [&str; 8] = [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "createContextualFragment",
        "DOMParser",
    ];
    for a in assets::ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        let src = std::str::from_utf8(a.bytes).expect("utf-8");
        for sink in SINKS {
            // dom.js names the sinks in a comment that says they are not used.
            let uses = src
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| l.contains(sink));
            assert!(!uses, "{} uses {sink}", a.path);
        }
    }
    let index = std::str::from_utf8(assets::INDEX.bytes).expect("utf-8");
    for tag in index.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap_or("");
        assert!(open.contains("src="), "inline script in index.html");
    }
    assert!(!index.contains(" onload=") && !index.contains(" onclick=") && !index.contains("javascript:"));
}
