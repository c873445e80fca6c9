//! The dashboard's routes: the page and its assets (served from memory),
//! `/api/series` and `/api/stream`.

use std::sync::Arc;

use eventstorm_core::http::{Request, Response, Router};

use super::{Shared, stream};

/// The page and what it loads, compiled into the binary: it works offline.
const ASSETS: [(&str, &str, &str); 6] = [
    (
        "",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "assets/dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/dashboard.js"),
    ),
    (
        "assets/dashboard.css",
        "text/css; charset=utf-8",
        include_str!("assets/dashboard.css"),
    ),
    (
        "assets/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/uPlot.iife.min.js"),
    ),
    (
        "assets/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("assets/uPlot.min.css"),
    ),
    (
        "assets/uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_str!("assets/uPlot.LICENSE"),
    ),
];

/// Nothing but the page's own files and API: no inline script, no other
/// origin.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";

/// Every route, under `mount` (which starts and ends with `/`).
pub(super) fn router(shared: &Arc<Shared>, mount: &str) -> Router {
    let mut router = Router::new();
    for (path, content_type, body) in ASSETS {
        router = router.route("GET", &format!("{mount}{path}"), move |_: &Request| {
            Response::new(200)
                .with_header("Content-Type", content_type)
                .with_header("Cache-Control", "no-cache")
                .with_header("X-Content-Type-Options", "nosniff")
                .with_header("Content-Security-Policy", CSP)
                .with_body(body)
        });
    }
    let series = Arc::clone(shared);
    router = router.route("GET", &format!("{mount}api/series"), move |_: &Request| {
        Response::new(200)
            .with_header("Content-Type", "application/json")
            .with_header("Cache-Control", "no-store")
            .with_body(series.series())
    });
    let follow = Arc::clone(shared);
    router = router.route(
        "GET",
        &format!("{mount}api/stream"),
        move |request: &Request| stream::subscribe(&follow, request),
    );
    if mount != "/" {
        // `/ops` → `/ops/`: the page's relative links need the slash.
        let location = mount.to_string();
        router = router.route("GET", mount.trim_end_matches('/'), move |_: &Request| {
            Response::new(308).with_header("Location", location.clone())
        });
    }
    router
}
