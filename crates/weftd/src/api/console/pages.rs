//! The console's views and page frame, and the flows and events pages.
//!
//! Each page is a frame ([`html::Page`]) around a fragment that [`fragment`]
//! renders from the published status and the store; the page's live stream
//! (`/ui/live/{view}`) sends the same fragment again whenever it changes.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use weft_api::{Event, Scope};

use super::html::{self, badge, esc, table};
use super::session::Viewer;
use crate::api::{Ctx, blocking, views};

/// A console view: what a page and its live stream render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum View {
    /// Sites, counts, recent events.
    Overview,
    /// The graph and the path matrix.
    Topology,
    /// Every path, optionally of one site.
    Paths(Option<String>),
    /// One path.
    Path(u32),
    /// Live flows.
    Flows,
    /// Events, optionally of one kind or site.
    Events(EventFilter),
    /// Policy versions and the one in force.
    Policies,
    /// The control plane and the registry.
    Registry,
}

/// `?kind=&site=` of the events page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct EventFilter {
    /// Only events of this kind (`path_down`, …).
    #[serde(default)]
    pub(crate) kind: Option<String>,
    /// Only events about this site.
    #[serde(default)]
    pub(crate) site: Option<String>,
}

impl EventFilter {
    fn query(&self) -> String {
        let mut q = Vec::new();
        if let Some(k) = self.kind.as_deref().filter(|k| !k.is_empty()) {
            q.push(format!("kind={}", urlenc(k)));
        }
        if let Some(s) = self.site.as_deref().filter(|s| !s.is_empty()) {
            q.push(format!("site={}", urlenc(s)));
        }
        if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) }
    }

    fn keeps(&self, e: &Event) -> bool {
        self.kind.as_deref().filter(|k| !k.is_empty()).is_none_or(|k| e.kind.as_str() == k)
            && self
                .site
                .as_deref()
                .filter(|s| !s.is_empty())
                .is_none_or(|s| e.site.as_deref() == Some(s))
    }
}

/// Percent-encodes a query value.
pub(crate) fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The live fragment of `view` as `viewer` may see it.
pub(crate) async fn fragment(ctx: &Arc<Ctx>, viewer: &Viewer, view: &View) -> String {
    match view {
        View::Overview => super::overview::overview_fragment(ctx).await,
        View::Topology => super::topology::fragment(ctx),
        View::Paths(site) => super::paths::paths_fragment(ctx, site.as_deref()),
        View::Path(id) => super::paths::path_fragment(ctx, *id).await,
        View::Flows => flows_fragment(ctx),
        View::Events(f) => events_fragment(ctx, viewer, f).await,
        View::Policies => super::policies::fragment_html(ctx, viewer).await,
        View::Registry => super::registry::fragment(ctx, viewer).await,
    }
}

/// A rendered page with its server time (`Server-Timing: render;dur=…`, ms).
pub(crate) fn respond(started: Instant, html: String) -> Response {
    let dur = started.elapsed().as_secs_f64() * 1e3;
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("render;dur={dur:.3}")) {
        r.headers_mut().insert("server-timing", v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    super::html::harden(&mut r);
    r
}

/// Renders `view` in the frame.
pub(crate) async fn page(
    ctx: &Arc<Ctx>,
    viewer: &Viewer,
    view: View,
    title: &str,
    nav: &str,
    after: String,
    head: &str,
) -> Response {
    let started = Instant::now();
    let body = fragment(ctx, viewer, &view).await;
    let live = super::live::url(&view);
    let p = html::Page {
        title,
        nav,
        who: &viewer.who,
        scope: viewer.scope,
        intro: String::new(),
        live: Some(live),
        body,
        after,
        head,
    };
    respond(started, p.render())
}

pub(crate) async fn recent_events(
    ctx: &Arc<Ctx>,
    scan: u64,
    keep: usize,
    f: &EventFilter,
) -> Vec<Event> {
    let store = ctx.store.clone();
    let got = blocking(move || {
        let last = store.last_event_id()?;
        store.events_after(last.saturating_sub(scan), usize::try_from(scan).unwrap_or(1000))
    })
    .await
    .unwrap_or_default();
    got.into_iter().rev().filter(|e| f.keeps(e)).take(keep).collect()
}

pub(crate) fn events_table(events: &[Event]) -> String {
    let rows: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "<tr data-kind=\"{k}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.id,
                html::time(e.at_unix_ms),
                badge(e.kind.as_str()),
                esc(e.site.as_deref().unwrap_or("")),
                esc(&e.message),
                k = e.kind.as_str(),
            )
        })
        .collect();
    table("Events, newest first", "events", &["#", "when (UTC)", "kind", "site", "what"], &rows)
}

/// `GET /ui/flows`: live flows and `explain`.
pub(crate) async fn flows(State(ctx): State<Arc<Ctx>>, viewer: Viewer) -> Response {
    let after = "<h2>Explain a flow</h2><form id=\"explain\" class=\"row\" data-explain=\"#explain-out\">\
        <label for=\"x-proto\">protocol</label><select id=\"x-proto\" name=\"proto\"><option>udp</option>\
        <option>tcp</option><option>icmp</option></select>\
        <label for=\"x-src\">source</label><input id=\"x-src\" name=\"src\" required placeholder=\"10.77.0.1\">\
        <label for=\"x-dst\">destination</label><input id=\"x-dst\" name=\"dst\" required placeholder=\"10.77.1.1\">\
        <label for=\"x-dport\">port</label><input id=\"x-dport\" name=\"dport\" inputmode=\"numeric\" size=\"6\">\
        <button type=\"submit\">Explain</button></form><pre class=\"out\" id=\"explain-out\" aria-live=\"polite\"></pre>"
        .to_owned();
    page(&ctx, &viewer, View::Flows, "Flows", "/ui/flows", after, "").await
}

fn flows_fragment(ctx: &Arc<Ctx>) -> String {
    let s = ctx.status.get();
    let rows: Vec<String> = s
        .flows
        .iter()
        .take(500)
        .map(|f| views::flow(&s, f))
        .map(|f| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}:{}</td><td>{}:{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.direction),
                esc(&f.protocol),
                esc(&f.src),
                f.src_port,
                esc(&f.dst),
                f.dst_port,
                esc(f.site.as_deref().unwrap_or("")),
                badge(&f.verdict),
                esc(&f.class),
                f.path.map_or_else(String::new, |p| format!("<a href=\"/ui/paths/{p}\">{p}</a>")),
                esc(&f.rule),
                esc(&f.reason),
            )
        })
        .collect();
    table(
        &format!("Flows seen in the last minute ({}; the first 500 shown)", s.flows.len()),
        "flows",
        &[
            "dir",
            "proto",
            "source",
            "destination",
            "site",
            "verdict",
            "class",
            "path",
            "rule",
            "why",
        ],
        &rows,
    )
}

/// `GET /ui/events[?kind=&site=]`.
pub(crate) async fn events(
    State(ctx): State<Arc<Ctx>>,
    viewer: Viewer,
    Query(f): Query<EventFilter>,
) -> Response {
    let kinds = [
        "",
        "agent_started",
        "site_joined",
        "site_left",
        "site_status_changed",
        "path_up",
        "path_down",
        "path_degraded",
        "path_recovered",
        "failover",
        "policy_applied",
        "topology_changed",
    ];
    let mut opts = String::new();
    for k in kinds {
        let sel = if f.kind.as_deref() == Some(k) { " selected" } else { "" };
        let label = if k.is_empty() { "every kind" } else { k };
        let _ = write!(opts, "<option value=\"{k}\"{sel}>{label}</option>");
    }
    let form = format!(
        "<form method=\"get\" action=\"/ui/events\" class=\"row\"><label for=\"kind\">kind</label>\
         <select id=\"kind\" name=\"kind\">{opts}</select><label for=\"site\">site</label>\
         <input id=\"site\" name=\"site\" value=\"{}\" size=\"12\"><button type=\"submit\">Filter</button></form>\
         <p class=\"help\">Admin tokens also see the audit log (who changed what) below the events.</p>",
        esc(f.site.as_deref().unwrap_or(""))
    );
    let started = Instant::now();
    let view = View::Events(f);
    let body = fragment(&ctx, &viewer, &view).await;
    let p = html::Page {
        title: "Events",
        nav: "/ui/events",
        who: &viewer.who,
        scope: viewer.scope,
        intro: form,
        live: Some(super::live::url(&view)),
        body,
        after: String::new(),
        head: "",
    };
    respond(started, p.render())
}

async fn events_fragment(ctx: &Arc<Ctx>, viewer: &Viewer, f: &EventFilter) -> String {
    let mut out = events_table(&recent_events(ctx, 5000, 200, f).await);
    if viewer.may(Scope::Admin) {
        out.push_str(&audit_table(ctx).await);
    }
    out
}

/// The newest audit records (admin only, like `GET /api/v1/audit`).
async fn audit_table(ctx: &Arc<Ctx>) -> String {
    let store = ctx.store.clone();
    let records = blocking(move || {
        let (_, total) = store.audit_page(None, 1)?;
        Ok(store.audit_page(Some(total.saturating_sub(50)), 50)?.0)
    })
    .await
    .unwrap_or_default();
    let rows: Vec<String> = records
        .iter()
        .rev()
        .map(|a| {
            format!(
                "<tr data-action=\"{act}\"><td>{}</td><td>{}</td><td>{}</td><td>{act}</td><td>{}</td><td>{}</td></tr>",
                a.id,
                html::time(a.at_unix_ms),
                esc(&a.who),
                esc(&a.target),
                esc(&a.detail),
                act = esc(&a.action),
            )
        })
        .collect();
    format!(
        "<h2>Audit log</h2>{}",
        table(
            "Who changed what, newest first (admin)",
            "audit",
            &["#", "when (UTC)", "who", "action", "target", "detail"],
            &rows
        )
    )
}

/// The query string of an events view (for its live stream).
pub(crate) fn events_query(f: &EventFilter) -> String {
    f.query()
}
