//! Diamond's web UI: a single-page app of hand-written ES modules and CSS, embedded in the binary with
//! `include_bytes!` (nothing to install at run time, no JS toolchain in `cargo build`), and served by
//! [`router`], an axum [`Router`] the server merges beside the API.
//!
//! What it serves (ARCHITECTURE.md, "HTTP surface ownership"):
//! - the app's pages `/`, `/graph`, `/targets`, `/exemplars`, `/trace/<id>` and `/ui/...`: all the same
//!   `index.html`; the page's script reads `location` and draws the page, so every URL can be bookmarked;
//! - the assets under `/assets/...` ([`assets::ASSETS`]), with their content types, an `ETag` and
//!   caching headers: `no-cache` (revalidate, answered by `304`) for our own files, a year and
//!   `immutable` for the vendored library, whose path carries its version.
//!
//! Every response carries a strict `Content-Security-Policy` ([`CONTENT_SECURITY_POLICY`]): scripts
//! only from this origin and never inline, no `eval`, no plug-ins, no framing. The app builds its DOM
//! with `textContent` only, because every label value it shows is user-controlled input.
//!
//! ```
//! # async fn demo() {
//! use tower::ServiceExt;
//! let app = diamond_ui::router();
//! let req = axum::http::Request::get("/graph").body(axum::body::Body::empty()).unwrap();
//! let res = app.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert!(res.headers().contains_key("content-security-policy"));
//! # }
//! ```

pub mod assets;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy on every UI response. `style-src 'self'` still lets scripts set `element.style`
/// (CSSOM is not covered by CSP), which is how the chart library and the trace waterfall place things.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// The UI's routes; stateless, so it merges into any `Router<()>`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(page))
        .route("/graph", get(page))
        .route("/targets", get(page))
        .route("/exemplars", get(page))
        .route("/trace/{id}", get(page))
        .route("/ui", get(page))
        .route("/ui/{*rest}", get(page))
        .route("/assets/{*path}", get(asset))
}

async fn page(headers: HeaderMap) -> Response {
    serve(&assets::INDEX, &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match assets::find(&path) {
        Some(a) => serve(a, &headers),
        None => {
            let mut res = (StatusCode::NOT_FOUND, "asset not found\n").into_response();
            security_headers(res.headers_mut());
            res
        }
    }
}

fn serve(a: &assets::Asset, req: &HeaderMap) -> Response {
    let etag = a.etag();
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        a.bytes.into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(a.cache_control()));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    security_headers(h);
    res
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // External trace links must not learn the PromQL query from the Referer.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

#[cfg(test)]
mod tests;
