//! `GET /ui/live/{view}`: a page's live fragment as server-sent events.
//!
//! Every [`TICK`] the stream looks whether the status was republished or an
//! event was recorded; if so it renders the view's fragment again and sends
//! it (`event: live`, the HTML as data) when it differs from the last one
//! sent. htmx's SSE extension swaps it into the page's `#live` region, so a
//! path that goes down shows as down without a reload. The session is
//! checked again every [`RECHECK`]: a revoked token's stream ends.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;

use super::pages::{EventFilter, View, events_query, fragment, urlenc};
use super::session::Viewer;
use crate::api::Ctx;

/// How often a stream looks for changes.
const TICK: Duration = Duration::from_millis(500);

/// How often a stream checks that its token is still valid.
const RECHECK: Duration = Duration::from_secs(30);

/// The stream URL of `view`.
pub(crate) fn url(view: &View) -> String {
    match view {
        View::Overview => "/ui/live/overview".to_owned(),
        View::Topology => "/ui/live/topology".to_owned(),
        View::Paths(None) => "/ui/live/paths".to_owned(),
        View::Paths(Some(site)) => format!("/ui/live/paths?site={}", urlenc(site)),
        View::Path(id) => format!("/ui/live/path?id={id}"),
        View::Flows => "/ui/live/flows".to_owned(),
        View::Events(f) => format!("/ui/live/events{}", events_query(f)),
        View::Policies => "/ui/live/policies".to_owned(),
        View::Registry => "/ui/live/registry".to_owned(),
    }
}

/// The query of a live stream.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LiveQuery {
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    id: Option<u32>,
    #[serde(default)]
    kind: Option<String>,
}

fn view_of(name: &str, q: LiveQuery) -> Option<View> {
    Some(match name {
        "overview" => View::Overview,
        "topology" => View::Topology,
        "paths" => View::Paths(q.site.filter(|s| !s.is_empty())),
        "path" => View::Path(q.id?),
        "flows" => View::Flows,
        "events" => View::Events(EventFilter { kind: q.kind, site: q.site }),
        "policies" => View::Policies,
        "registry" => View::Registry,
        _ => return None,
    })
}

/// `GET /ui/live/{view}`.
pub(crate) async fn stream(
    State(ctx): State<Arc<Ctx>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<LiveQuery>,
) -> Response {
    let Some(view) = view_of(&name, q) else {
        return (axum::http::StatusCode::NOT_FOUND, "no such live view").into_response();
    };
    Sse::new(updates(ctx, viewer, view)).keep_alive(KeepAlive::default()).into_response()
}

fn updates(
    ctx: Arc<Ctx>,
    viewer: Viewer,
    view: View,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let rx = ctx.events.subscribe();
    let state = (ctx, viewer, view, rx, 0_u64, String::new(), Instant::now());
    futures_util::stream::unfold(
        state,
        |(ctx, viewer, view, mut rx, gen0, last, checked)| async move {
            let mut checked = checked;
            loop {
                tokio::time::sleep(TICK).await;
                if checked.elapsed() >= RECHECK {
                    if !still_valid(&ctx, &viewer).await {
                        return None;
                    }
                    checked = Instant::now();
                }
                let mut changed = false;
                loop {
                    match rx.try_recv() {
                        Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                            changed = true;
                        }
                        Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                        Err(tokio::sync::broadcast::error::TryRecvError::Closed) => return None,
                    }
                }
                let generation = ctx.status.get().generation;
                if generation == gen0 && !changed {
                    continue;
                }
                let html = fragment(&ctx, &viewer, &view).await;
                if html == last {
                    continue;
                }
                let ev = SseEvent::default().event("live").data(html.clone());
                return Some((Ok(ev), (ctx, viewer, view, rx, generation, html, checked)));
            }
        },
    )
}

async fn still_valid(ctx: &Arc<Ctx>, viewer: &Viewer) -> bool {
    let Some(secret) = viewer.secret.clone() else {
        return true;
    };
    let store = ctx.store.clone();
    matches!(
        tokio::task::spawn_blocking(move || store.verify_token(&secret)).await,
        Ok(Ok(Some(_)))
    )
}
