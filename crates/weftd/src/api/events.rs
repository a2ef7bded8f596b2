//! The event stream: stored history, SSE and WebSocket, resumable.
//!
//! The recorder stores each event (assigning the next id) and then
//! broadcasts it. A stream first subscribes to the broadcast, then replays
//! the stored events after the client's last id, then forwards live ones,
//! skipping ids it already sent; a gap (the client fell behind the
//! broadcast buffer) is refilled from the store. So a client that
//! reconnects with `Last-Event-ID: N` sees every event after `N` exactly once.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use utoipa::IntoParams;
use weft_api::{ApiError, Event, Page};

use super::error::{ApiResult, Q, check_id, parse_id};
use super::{Ctx, blocking};

/// Events fetched from the store at a time.
const REPLAY_BATCH: usize = 1000;

/// `?after=N`: resume after event `N` (the `Last-Event-ID` header wins).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Replay stored events after this id first; without it (and without
    /// `Last-Event-ID`) only new events are sent.
    #[param(maximum = 9_223_372_036_854_775_807_i64)]
    after: Option<u64>,
}

/// `?after=N&limit=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Events after this id (default 0: from the oldest kept).
    #[param(maximum = 9_223_372_036_854_775_807_i64)]
    after: Option<u64>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Cursor from the previous page (the same as `after`).
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// Stored events, oldest first.
#[utoipa::path(get, path = "/api/v1/events/history", tag = "events", params(HistoryQuery),
    responses((status = 200, body = Page<Event>), (status = 400, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn history(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<HistoryQuery>,
) -> ApiResult<Json<Page<Event>>> {
    let after = match &q.cursor {
        Some(c) => parse_id("cursor", c)?,
        None => check_id("after", q.after.unwrap_or(0))?,
    };
    let limit = super::admin::checked_limit(q.limit)?;
    let store = ctx.store.clone();
    let (mut items, last) =
        blocking(move || Ok((store.events_after(after, limit + 1)?, store.last_event_id()?)))
            .await?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more { items.last().map(|e| e.id.to_string()) } else { None };
    let first = items.first().map_or(last + 1, |e| e.id);
    // Ids are consecutive: the total after `after` is (last - after) minus pruned ones.
    let total = last.saturating_sub(after.max(first.saturating_sub(1)));
    Ok(Json(Page { items, next_cursor, total }))
}

fn resume_point(headers: &HeaderMap, q: &StreamQuery) -> Option<u64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(q.after)
}

struct Follow {
    ctx: Arc<Ctx>,
    rx: Receiver<Event>,
    last: u64,
    backlog: VecDeque<Event>,
}

impl Follow {
    async fn refill(&mut self) -> bool {
        let store = self.ctx.store.clone();
        let after = self.last;
        match blocking(move || store.events_after(after, REPLAY_BATCH)).await {
            Ok(v) => {
                self.backlog.extend(v);
                true
            }
            Err(_) => false,
        }
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.backlog.pop_front() {
                if ev.id <= self.last {
                    continue;
                }
                self.last = ev.id;
                return Some(ev);
            }
            match self.rx.recv().await {
                Ok(ev) if ev.id <= self.last => {}
                Ok(ev) if ev.id == self.last + 1 => {
                    self.last = ev.id;
                    return Some(ev);
                }
                Ok(ev) => {
                    // A gap: what is missing is in the store. If it cannot be
                    // read, end the stream: the client resumes from its last id.
                    if !self.refill().await {
                        return None;
                    }
                    if self.backlog.is_empty() {
                        self.backlog.push_back(ev);
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    if !self.refill().await {
                        return None;
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// The stream of events after `after` (or only new ones).
async fn follow(ctx: Arc<Ctx>, after: Option<u64>) -> ApiResult<impl Stream<Item = Event>> {
    let rx = ctx.events.subscribe();
    let store = ctx.store.clone();
    let newest = blocking(move || store.last_event_id()).await?;
    // A resume point past the newest event (a client of a wiped store) means "from now".
    let last = after.map_or(newest, |a| a.min(newest));
    let mut f = Follow { ctx, rx, last, backlog: VecDeque::new() };
    if after.is_some() {
        f.refill().await;
    }
    Ok(futures_util::stream::unfold(f, |mut f| async move { f.next().await.map(|e| (e, f)) }))
}

/// Live events as Server-Sent Events (`id`, `event` = kind, `data` = JSON);
/// resumable with `Last-Event-ID` or `?after=`.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(StreamQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this event")),
    responses((status = 200, description = "text/event-stream of Event", content_type = "text/event-stream", body = Event),
        (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn sse(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Q(q): Q<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let events = follow(ctx, resume_point(&headers, &q)).await?;
    let stream = events.map(|e| {
        let data = serde_json::to_string(&e).unwrap_or_default();
        Ok(SseEvent::default().id(e.id.to_string()).event(e.kind.as_str()).data(data))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Live events over a WebSocket: one JSON [`Event`] per text message.
#[utoipa::path(get, path = "/api/v1/events/ws", tag = "events", params(StreamQuery),
    responses((status = 101, description = "WebSocket of Event JSON messages"), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn websocket(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Q(q): Q<StreamQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let ws = ws.map_err(|e| {
        super::error::Failure(
            e.status(),
            weft_api::ApiError::new(
                "bad_request",
                format!("a WebSocket upgrade is needed: {}", e.body_text()),
            ),
        )
    })?;
    let events = follow(ctx, resume_point(&headers, &q)).await?;
    Ok(ws.on_upgrade(move |socket| pump(socket, events)).into_response())
}

async fn pump(mut socket: WebSocket, events: impl Stream<Item = Event>) {
    let mut events = std::pin::pin!(events);
    loop {
        tokio::select! {
            ev = events.next() => {
                let Some(ev) = ev else { break };
                let text = serde_json::to_string(&ev).unwrap_or_default();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
