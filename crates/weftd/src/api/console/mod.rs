//! The web console at `/ui`: server-rendered pages of the API's own state,
//! live over server-sent events, on the API's listeners and tokens.
//!
//! It decides nothing: every page is rendered from the status the control
//! loop publishes, the store and the control plane's view (the same sources
//! the JSON API reads), and every button calls the JSON API (`/api/v1/...`).
//!
//! # Sessions and CSRF
//! `POST /ui/login` takes a token secret; when the store knows it, the answer
//! sets it as the cookie `weft_console` (`HttpOnly`, `SameSite=Strict`, `Path=/`; `Secure` under HTTPS).
//! The API's `authorize` middleware accepts that cookie in place of a bearer
//! header; a mutating request authenticated by the cookie must also carry an
//! `Origin` equal to its `Host` (and no cross-site `Sec-Fetch-Site`), so a
//! page on another site cannot forge one even in a browser that ignores
//! `SameSite`. Scopes are the token's: a read token's pages show no mutating
//! buttons, and the API refuses the mutation anyway (403). Over the unix
//! socket the caller is the local admin, as in the API.
//!
//! # Layout
//! - `html`: escaping, the page frame, formatters.
//! - `session`: the cookie, the caller, the Origin check.
//! - `pages`: the views, the page frame, flows, events (with the audit log).
//! - `overview`, `paths`: the overview; paths and one path's charts.
//! - `policies`: versions, diff, check and apply, rollback.
//! - `topology`: the graph (server-rendered SVG) and the path matrix.
//! - `registry`: the control plane (leader, epoch, shards) and the registry.
//! - `live`: the SSE stream of a page's live fragment.
//! - `assets`: the embedded static files (own CSS and JS; vendored htmx,
//!   its SSE extension and uPlot, see `vendor/SHA256SUMS` and
//!   `scripts/vendor-console.sh`).

mod assets;
pub(crate) mod html;
mod live;
mod overview;
mod pages;
mod paths;
mod policies;
mod registry;
pub(crate) mod session;
mod topology;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use super::Ctx;

/// The console's routes (merged into the API router; `authorize` lets
/// `/ui` through and the console checks its session itself).
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/ui", get(overview::overview))
        .route("/ui/", get(overview::overview))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/topology", get(topology::page_handler))
        .route("/ui/paths", get(paths::paths))
        .route("/ui/paths/{id}", get(paths::path))
        .route("/ui/flows", get(pages::flows))
        .route("/ui/events", get(pages::events))
        .route("/ui/policies", get(policies::page))
        .route("/ui/registry", get(registry::page_handler))
        .route("/ui/live/{view}", get(live::stream))
        .route("/ui/static/{name}", get(assets::serve))
        .route_layer(axum::middleware::from_fn(server_timing))
}

/// Adds `Server-Timing: total;dur=MS` to every console answer: the time from
/// the request reaching the console's routes (after the API's middleware)
/// to its answer's head, the session check included. Pages also carry
/// `render;dur=` (the handler alone); `bench/console.sh` reads `total`.
async fn server_timing(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let mut r = next.run(req).await;
    let dur = started.elapsed().as_secs_f64() * 1e3;
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("total;dur={dur:.3}")) {
        r.headers_mut().append("server-timing", v);
    }
    r
}

/// Whether `path` belongs to the console.
pub(crate) fn is_console(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}
