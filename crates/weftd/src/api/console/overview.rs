//! `GET /ui`: the overview — counts, every site with its state, endpoints,
//! paths, best RTT, policy version and certificate expiry, this site's
//! uplinks, the latest events.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::html::{self, badge, esc, ms, table};
use super::pages::{EventFilter, View, events_table, page, recent_events, urlenc};
use super::session::Viewer;
use crate::api::{Ctx, views};

/// `GET /ui`: the overview.
pub(crate) async fn overview(State(ctx): State<Arc<Ctx>>, viewer: Viewer) -> Response {
    page(&ctx, &viewer, View::Overview, "Overview", "/ui", String::new(), "").await
}

pub(crate) async fn overview_fragment(ctx: &Arc<Ctx>) -> String {
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
