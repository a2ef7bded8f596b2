//! `GET /ui/paths` and `GET /ui/paths/{id}`: every path, and one path's
//! numbers, charts (uPlot, drawn by `console.js`), state timeline and
//! "test now".

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use weft_api::Scope;

use super::html::{self, badge, esc, ms, table};
use super::pages::{View, page};
use super::session::Viewer;
use crate::api::{Ctx, blocking, views};

/// `?site=` of the paths page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SiteQuery {
    #[serde(default)]
    site: Option<String>,
}

/// `GET /ui/paths[?site=]`.
pub(crate) async fn paths(
    State(ctx): State<Arc<Ctx>>,
    viewer: Viewer,
    Query(q): Query<SiteQuery>,
) -> Response {
    let site = q.site.filter(|s| !s.is_empty());
    page(&ctx, &viewer, View::Paths(site), "Paths", "/ui/paths", String::new(), "").await
}

pub(crate) fn paths_fragment(ctx: &Arc<Ctx>, site: Option<&str>) -> String {
    let s = ctx.status.get();
    let rows: Vec<String> = s
        .paths
        .iter()
        .map(|p| views::path(&s, p))
        .filter(|p| site.is_none_or(|w| p.site == w))
        .map(|p| {
            format!(
                "<tr data-path=\"{id}\" data-state=\"{st}\"><th scope=\"row\"><a href=\"/ui/paths/{id}\" \
                 aria-label=\"path {id} details\">{id}</a></th><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{:.0} s</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2} ms</td><td>{:.1} %</td><td>{}</td><td>{}</td></tr>",
                esc(&p.site),
                esc(&p.uplink),
                esc(&p.remote),
                badge(&p.state),
                p.state_for_ms / 1e3,
                ms(p.rtt_ms),
                ms(p.rtt_p95_ms),
                ms(p.rtt_p99_ms),
                p.jitter_ms,
                p.loss_pct,
                p.flows,
                esc(&p.active_for.join(", ")),
                id = p.id,
                st = esc(&p.state),
            )
        })
        .collect();
    let caption = site.map_or_else(|| "Every path".to_owned(), |w| format!("Paths to {w}"));
    table(
        &caption,
        "paths",
        &[
            "path", "site", "uplink", "remote", "state", "for", "RTT", "p95", "p99", "jitter",
            "loss", "flows", "carries",
        ],
        &rows,
    )
}

/// `GET /ui/paths/{id}`: RTT, jitter and loss charts, the state, "test now".
pub(crate) async fn path(
    State(ctx): State<Arc<Ctx>>,
    viewer: Viewer,
    Path(id): Path<u32>,
) -> Response {
    let mut after = format!(
        "<h2>History</h2><p class=\"help\">Stored 10-second samples of the last hour, then the live \
         values as they arrive.</p><div class=\"charts\"><div class=\"chart\" id=\"rtt-chart\" \
         data-path=\"{id}\" role=\"img\" aria-label=\"RTT of path {id}\"></div>\
         <div class=\"chart\" id=\"quality-chart\" role=\"img\" aria-label=\"jitter and loss of path {id}\"></div>\
         <div class=\"chart\" id=\"traffic-chart\" role=\"img\" aria-label=\"traffic of path {id}\"></div></div>"
    );
    if viewer.may(Scope::Operate) {
        let _ = write!(
            after,
            "<h2>Test now</h2><div class=\"row\"><button type=\"button\" id=\"test-now\" \
             data-post=\"/api/v1/paths/{id}/test\" data-body='{{\"probes\":10}}' data-out=\"#test-out\">\
             Send 10 probes</button></div><pre class=\"out\" id=\"test-out\" aria-live=\"polite\"></pre>"
        );
    }
    let head = "<link rel=\"stylesheet\" href=\"/ui/static/uPlot.min.css\">\
                <script src=\"/ui/static/uPlot.iife.min.js\"></script>";
    page(&ctx, &viewer, View::Path(id), &format!("Path {id}"), "/ui/paths", after, head).await
}

pub(crate) async fn path_fragment(ctx: &Arc<Ctx>, id: u32) -> String {
    let timeline = path_timeline(ctx, id).await;
    let s = ctx.status.get();
    let Some(p) = s.path(id).map(|p| views::path(&s, p)) else {
        return format!("<p class=\"error\">No path {id} (any more).</p>");
    };
    let o = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.3}"));
    format!(
        "<div id=\"path-now\" data-state=\"{st}\" data-rtt=\"{}\" data-p95=\"{}\" data-p99=\"{}\" \
         data-jitter=\"{:.3}\" data-loss=\"{:.2}\" data-tx=\"{}\" data-rx=\"{}\"></div>\
         <div class=\"cards\"><div class=\"card\"><span class=\"n\" id=\"path-state\">{}</span>\
         <span class=\"l\">for {:.0} s</span></div>\
         <div class=\"card\"><span class=\"n\">{}</span><span class=\"l\">to {} via {} → {}</span></div>\
         <div class=\"card\"><span class=\"n\">{}</span><span class=\"l\">RTT (p50 {}, p95 {}, p99 {})</span></div>\
         <div class=\"card\"><span class=\"n\">{:.2} ms</span><span class=\"l\">jitter</span></div>\
         <div class=\"card\"><span class=\"n\">{:.1} %</span><span class=\"l\">loss (long {:.1} %)</span></div>\
         <div class=\"card\"><span class=\"n\">{}</span><span class=\"l\">probes sent, {} lost</span></div>\
         <div class=\"card\"><span class=\"n\">{}</span><span class=\"l\">carries classes ({} flows)</span></div></div>",
        o(p.rtt_ms),
        o(p.rtt_p95_ms),
        o(p.rtt_p99_ms),
        p.jitter_ms,
        p.loss_pct,
        p.tx_bytes,
        p.rx_bytes,
        badge(&p.state),
        p.state_for_ms / 1e3,
        esc(&p.site),
        esc(&p.site),
        esc(&p.uplink),
        esc(&p.remote),
        ms(p.rtt_ms),
        ms(p.rtt_p50_ms),
        ms(p.rtt_p95_ms),
        ms(p.rtt_p99_ms),
        p.jitter_ms,
        p.loss_pct,
        p.loss_long_pct,
        p.probes_sent,
        p.probes_lost,
        if p.active_for.is_empty() { "none".to_owned() } else { esc(&p.active_for.join(", ")) },
        p.flows,
        st = esc(&p.state),
    ) + &timeline
}

/// The path's state changes and failovers onto or off it, newest first.
async fn path_timeline(ctx: &Arc<Ctx>, id: u32) -> String {
    let store = ctx.store.clone();
    let got = blocking(move || {
        let last = store.last_event_id()?;
        store.events_after(last.saturating_sub(5000), 5000)
    })
    .await
    .unwrap_or_default();
    let rows: Vec<String> = got
        .iter()
        .rev()
        .filter(|e| e.path == Some(id) || e.from_path == Some(id))
        .take(30)
        .map(|e| {
            format!(
                "<tr data-kind=\"{k}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html::time(e.at_unix_ms),
                badge(e.kind.as_str()),
                esc(e.reason.as_deref().unwrap_or("")),
                esc(&e.message),
                k = e.kind.as_str(),
            )
        })
        .collect();
    format!(
        "<h2>State timeline</h2>{}",
        table(
            "Its state changes and failovers, newest first",
            "timeline",
            &["when (UTC)", "what", "why", "detail"],
            &rows
        )
    )
}
