//! The embedded files: one table, each entry's bytes included at compile time, with its content type
//! and an `ETag` computed at compile time from its bytes (FNV-1a, 64 bits: it only has to change when
//! the file does).

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Path under `/assets/`.
    pub path: &'static str,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// The file.
    pub bytes: &'static [u8],
    hash: u64,
}

impl Asset {
    /// The strong `ETag`, quoted.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }

    /// Vendored files sit under a versioned folder, so a new version is a new URL: they may be
    /// cached for a year. Our own files keep their names across releases, so browsers revalidate
    /// them (a cheap `304` thanks to the `ETag`).
    pub fn cache_control(&self) -> &'static str {
        if self.path.starts_with("vendor/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }
    }
}

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! asset {
    ($path:literal, $ct:expr) => {
        Asset {
            path: $path,
            content_type: $ct,
            bytes: include_bytes!(concat!("../assets/", $path)),
            hash: fnv1a(include_bytes!(concat!("../assets/", $path))),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The page every UI route answers with.
pub static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// Every file under `/assets/`. The vendored uPlot is updated as ARCHITECTURE.md says (ui paragraph).
pub static ASSETS: &[Asset] = &[
    asset!("app.css", CSS),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/api.js", JS),
    asset!("js/time.js", JS),
    asset!("js/complete.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/graph.js", JS),
    asset!("js/targets.js", JS),
    asset!("js/coverage.js", JS),
    asset!("js/trace.js", JS),
    asset!("vendor/uplot-1.6.32/uPlot.esm.js", JS),
    asset!("vendor/uplot-1.6.32/uPlot.min.css", CSS),
    asset!("vendor/uplot-1.6.32/LICENSE", "text/plain; charset=utf-8"),
];

/// The asset at `path` (relative to `/assets/`), if embedded.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}
