//! The state pages: overview, paths, one path's charts, flows, events.
//!
//! Each page is a frame ([`html::Page`]) around a fragment that [`fragment`]
//! renders from the published status and the store; the page's live stream
//! (`/ui/live/{view}`) sends the same fragment again whenever it changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use weft_api::{Event, Scope};

use super::html::{self, badge, esc, ms, table};
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
        View::Overview => overview_fragment(ctx).await,
        View::Topology => super::topology::fragment(ctx),
        View::Paths(site) => paths_fragment(ctx, site.as_deref()),
        View::Path(id) => path_fragment(ctx, *id).await,
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

/// `GET /ui`: the overview.
pub(crate) async fn overview(State(ctx): State<Arc<Ctx>>, viewer: Viewer) -> Response {
    page(&ctx, &viewer, View::Overview, "Overview", "/ui", String::new(), "").await
}

async fn recent_events(ctx: &Arc<Ctx>, scan: u64, keep: usize, f: &EventFilter) -> Vec<Event> {
    let store = ctx.store.clone();
    let got = blocking(move || {
        let last = store.last_event_id()?;
        store.events_after(last.saturating_sub(scan), usize::try_from(scan).unwrap_or(1000))
    })
    .await
    .unwrap_or_default();
    got.into_iter().rev().filter(|e| f.keeps(e)).take(keep).collect()
}

fn events_table(events: &[Event]) -> String {
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

async fn overview_fragment(ctx: &Arc<Ctx>) -> String {
    let s = ctx.status.get();
    let sites = views::sites(&s);
    let count = |st: &str| s.paths.iter().filter(|p| p.metrics.state.to_string() == st).count();
    let (up, degraded, down) = (count("up"), count("degraded"), count("down"));
    let sites_up = sites.iter().filter(|x| matches!(x.state.as_str(), "up" | "degraded")).count();
    let control = ctx.plane.view();
    let mut out = String::from("<div class=\"cards\">");
    let mut card = |id: &str, n: String, l: &str| {
        let _ = write!(
            out,
            "<div class=\"card\" id=\"{id}\"><span class=\"n\">{}</span><span class=\"l\">{l}</span></div>",
            esc(&n)
        );
    };
    card("c-sites", format!("{sites_up}/{}", sites.len().saturating_sub(1)), "peer sites up");
    card("c-up", up.to_string(), "paths up");
    card("c-degraded", degraded.to_string(), "paths degraded");
    card("c-down", down.to_string(), "paths down");
    card("c-flows", s.flows.len().to_string(), "flows");
    card("c-policy", format!("{} v{}", s.policy.name, s.policy.version), "policy in force");
    if control.controller {
        let leader = control.leader.clone().unwrap_or_else(|| "none".to_owned());
        card("c-leader", format!("{leader} · epoch {}", control.epoch.unwrap_or(0)), "leader");
    }
    out.push_str("</div>");
    let extra = site_extras(ctx).await;
    let rows: Vec<String> = sites
        .iter()
        .map(|x| {
            let (cert, policy) = extra.get(&x.id).copied().unwrap_or_default();
            let policy = if x.state.as_str() == "local" { Some(s.policy.version) } else { policy };
            format!(
                "<tr data-site=\"{id}\"><th scope=\"row\"><a href=\"/ui/paths?site={q}\">{id}</a></th>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                badge(x.state.as_str()),
                esc(x.role.as_deref().unwrap_or("")),
                esc(x.region.as_deref().unwrap_or("")),
                esc(&x.endpoints.join(" ")),
                x.paths_up,
                x.paths_total,
                ms(x.best_rtt_ms),
                policy.map_or_else(|| "—".to_owned(), |v| format!("v{v}")),
                cert.map_or_else(|| "—".to_owned(), |t| html::time(i64::try_from(t).unwrap_or(0).saturating_mul(1000))),
                id = esc(&x.id),
                q = urlenc(&x.id),
            )
        })
        .collect();
    out.push_str(&table(
        "Sites",
        "sites",
        &[
            "site",
            "state",
            "role",
            "region",
            "endpoints",
            "paths up",
            "best RTT",
            "policy",
            "certificate expires (UTC)",
        ],
        &rows,
    ));
    out.push_str(&uplinks_table(&s));
    let f = EventFilter::default();
    let _ = write!(
        out,
        "<h2>Recent events</h2>{}",
        events_table(&recent_events(ctx, 50, 10, &f).await)
    );
    out
}

/// Per site: certificate expiry (from the mesh, when the agent is in one)
/// and the policy version it acknowledged (from the control plane, on a
/// controller). Empty otherwise.
async fn site_extras(ctx: &Arc<Ctx>) -> BTreeMap<String, (Option<u64>, Option<u64>)> {
    let mut out: BTreeMap<String, (Option<u64>, Option<u64>)> = BTreeMap::new();
    if ctx.mesh.is_some() {
        let wait = std::time::Duration::from_secs(1);
        if let Ok(m) = crate::api::mesh::ask_mesh(ctx.mesh.as_ref(), wait, |reply| {
            crate::mesh::ctl::MeshCtl::Status { reply }
        })
        .await
        {
            out.entry(m.site.clone()).or_default().0 = Some(m.cert_expires_unix_s);
            for x in &m.members {
                out.entry(x.site.clone()).or_default().0 = x.cert_expires_unix_s;
            }
        }
    }
    if ctx.plane_ctl.is_some()
        && let Ok(m) = crate::api::control::ask_plane(ctx, |reply| {
            crate::controlplane::PlaneCtl::Status { reply }
        })
        .await
    {
        for x in &m.sites {
            out.entry(x.site.clone()).or_default().1 = Some(x.version);
        }
    }
    out
}

/// This site's uplinks: paths up over each, best RTT.
fn uplinks_table(s: &crate::agent::status::Status) -> String {
    let mut by: BTreeMap<&str, (u32, u32, Option<f64>)> = BTreeMap::new();
    for p in &s.paths {
        let e = by.entry(p.uplink.as_str()).or_default();
        e.1 += 1;
        if p.metrics.state.is_alive() {
            e.0 += 1;
            if let Some(r) = p.metrics.rtt {
                let r = r.as_secs_f64() * 1e3;
                e.2 = Some(e.2.map_or(r, |b: f64| b.min(r)));
            }
        }
    }
    let rows: Vec<String> = by
        .iter()
        .map(|(u, (up, total, rtt))| {
            let state = if *up == *total { "up" } else if *up == 0 { "down" } else { "degraded" };
            format!(
                "<tr data-uplink=\"{n}\"><th scope=\"row\">{n}</th><td>{}</td><td>{up}/{total}</td><td>{}</td></tr>",
                badge(state),
                ms(*rtt),
                n = esc(u),
            )
        })
        .collect();
    table("This site's uplinks", "uplinks", &["uplink", "paths", "paths up", "best RTT"], &rows)
}

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

fn paths_fragment(ctx: &Arc<Ctx>, site: Option<&str>) -> String {
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

async fn path_fragment(ctx: &Arc<Ctx>, id: u32) -> String {
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
