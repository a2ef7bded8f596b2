//! `GET /ui/topology`: the mesh as this agent measures it, drawn as a
//! server-rendered SVG (no graph library): this site in the middle, every
//! peer on a circle, one edge per peer coloured by its best path's health,
//! a relayed peer drawn through its relay (dashed), cordoned and drained
//! sites marked. Below it the path matrix: local uplink × peer site with the
//! best RTT and loss of that pair's paths, coloured by state. Every site and
//! cell links to its paths.
//!
//! In a mesh, a second matrix shows every site × every site: the best live
//! RTT and loss each site advertises to each neighbour in its signed
//! link-state summary (what every agent's relay planner and the DNS
//! sites' nearness decisions use), for meshes of up to 64 sites.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::html::{badge, esc, table};
use super::pages::{View, page, urlenc};
use super::session::Viewer;
use crate::agent::status::Status;
use crate::api::Ctx;

/// Side of the drawing, in SVG units.
const SIZE: f64 = 640.0;

/// `GET /ui/topology`.
pub(crate) async fn page_handler(State(ctx): State<Arc<Ctx>>, viewer: Viewer) -> Response {
    page(
        &ctx,
        &viewer,
        View::Topology,
        "Topology and path matrix",
        "/ui/topology",
        String::new(),
        "",
    )
    .await
}

/// Best state of a set of path states: up > degraded > init > down.
fn best(states: &[String]) -> &'static str {
    for s in ["up", "degraded", "init", "down"] {
        if states.iter().any(|x| x == s) {
            return s;
        }
    }
    "none"
}

fn colour(state: &str) -> &'static str {
    match state {
        "up" => "#1e8e3e",
        "degraded" => "#e37400",
        "down" => "#d93025",
        _ => "#9aa0a6",
    }
}

/// Per peer index: the states of its paths and its best RTT.
fn per_peer(s: &Status) -> Vec<(Vec<String>, Option<f64>)> {
    let mut out = vec![(Vec::new(), None::<f64>); s.peers.len()];
    for p in &s.paths {
        let e = &mut out[p.peer];
        e.0.push(p.metrics.state.to_string());
        if p.metrics.state.is_alive()
            && let Some(r) = p.metrics.rtt
        {
            let r = r.as_secs_f64() * 1e3;
            e.1 = Some(e.1.map_or(r, |b: f64| b.min(r)));
        }
    }
    out
}

/// The SVG graph and the path matrix.
pub(crate) fn fragment(ctx: &Arc<Ctx>) -> String {
    let s = ctx.status.get();
    let limits = ctx.plane.view().relay_limits;
    let peers: Vec<usize> = (0..s.peers.len()).filter(|&i| !s.peers[i].gone).collect();
    let agg = per_peer(&s);
    let mid = SIZE / 2.0;
    let radius = SIZE / 2.0 - 70.0;
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    pos.insert(s.site.as_str(), (mid, mid));
    for (k, &i) in peers.iter().enumerate() {
        let a = std::f64::consts::TAU * k as f64 / peers.len().max(1) as f64;
        pos.insert(s.peers[i].name.as_str(), (mid + radius * a.cos(), mid + radius * a.sin()));
    }
    let mut edges = String::new();
    let mut nodes = String::new();
    for &i in &peers {
        let peer = &s.peers[i];
        let (x, y) = pos[peer.name.as_str()];
        let state = best(&agg[i].0);
        let rtt = agg[i].1.map_or_else(|| "no RTT".to_owned(), |r| format!("{r:.1} ms"));
        match peer.via.as_deref().and_then(|v| pos.get(v).map(|xy| (v, *xy))) {
            Some((via, (vx, vy))) => {
                let _ = write!(
                    edges,
                    "<line x1=\"{vx:.0}\" y1=\"{vy:.0}\" x2=\"{x:.0}\" y2=\"{y:.0}\" stroke=\"{}\" \
                     stroke-width=\"3\" stroke-dasharray=\"8 5\" data-edge=\"{n}\" data-via=\"{v}\">\
                     <title>{n}: relayed through {v}</title></line>",
                    colour("up"),
                    n = esc(&peer.name),
                    v = esc(via),
                );
            }
            None => {
                let _ = write!(
                    edges,
                    "<a href=\"/ui/paths?site={q}\"><line x1=\"{mid:.0}\" y1=\"{mid:.0}\" x2=\"{x:.0}\" y2=\"{y:.0}\" \
                     stroke=\"{}\" stroke-width=\"4\" data-edge=\"{n}\" data-state=\"{state}\">\
                     <title>{n}: best path {state}, {rtt}</title></line></a>",
                    colour(state),
                    n = esc(&peer.name),
                    q = urlenc(&peer.name),
                );
            }
        }
    }
    for (name, (x, y)) in &pos {
        let local = *name == s.site;
        let mark = if limits.drained.iter().any(|d| d == name) {
            " (drained)"
        } else if limits.cordoned.iter().any(|d| d == name) {
            " (cordoned)"
        } else {
            ""
        };
        let _ = write!(
            nodes,
            "<a href=\"/ui/paths?site={q}\" aria-label=\"site {n}{mark}\"><circle cx=\"{x:.0}\" cy=\"{y:.0}\" r=\"{r}\" \
             class=\"node{cls}\" data-site=\"{n}\"><title>{n}{mark}</title></circle>\
             <text x=\"{x:.0}\" y=\"{ty:.0}\" text-anchor=\"middle\">{n}{mark}</text></a>",
            n = esc(name),
            q = urlenc(name),
            r = if local { 16 } else { 11 },
            cls = if local {
                " local"
            } else if mark.is_empty() {
                ""
            } else {
                " limited"
            },
            ty = y + if local { 34.0 } else { 28.0 },
        );
    }
    let mut out = format!(
        "<div class=\"graph\"><svg viewBox=\"0 0 {SIZE} {SIZE}\" role=\"img\" id=\"topology\" \
         aria-label=\"{} and {} peer sites; edge colour is the best path's state\">{edges}{nodes}</svg>\
         <p class=\"help\">Edges: <span style=\"color:{}\">up</span>, <span style=\"color:{}\">degraded</span>, \
         <span style=\"color:{}\">down</span>, grey: no path measured; dashed: relayed through the site it starts from.</p></div>",
        esc(&s.site),
        peers.len(),
        colour("up"),
        colour("degraded"),
        colour("down"),
    );
    out.push_str(&matrix(&s, &peers));
    out.push_str(&mesh_matrix(&ctx.links.views(), &s.site));
    out
}

/// Most sites the mesh-wide matrix draws.
const MESH_MATRIX_MAX: usize = 64;

/// Site × site from every site's link-state advertisement: best RTT and
/// loss of the live paths from the row's site to the column's.
fn mesh_matrix(views: &[weft_node::relay::LinkView], me: &str) -> String {
    let mut sites: Vec<String> = views
        .iter()
        .flat_map(|v| {
            std::iter::once(v.origin.to_string())
                .chain(v.links.iter().map(|l| l.neighbor.to_string()))
        })
        .collect();
    sites.sort();
    sites.dedup();
    if sites.len() < 2 {
        return String::new();
    }
    if sites.len() > MESH_MATRIX_MAX {
        return format!(
            "<p class=\"help\">Mesh-wide matrix: {} sites, more than the {MESH_MATRIX_MAX} drawn here.</p>",
            sites.len()
        );
    }
    let mut head: Vec<String> = vec!["from \\ to".to_owned()];
    head.extend(sites.iter().map(|s| esc(s)));
    let head_refs: Vec<&str> = head.iter().map(String::as_str).collect();
    let rows: Vec<String> = sites
        .iter()
        .map(|from| {
            let mut row = format!("<tr><th scope=\"row\">{}</th>", esc(from));
            let view = views.iter().find(|v| v.origin.as_str() == from);
            for to in &sites {
                let link = view.and_then(|v| v.links.iter().find(|l| l.neighbor.as_str() == to));
                let cell = match link {
                    _ if from == to => "<td>—</td>".to_owned(),
                    None => "<td>—</td>".to_owned(),
                    Some(l) => {
                        let state = if !l.up { "down" } else if l.relayed_only || l.via.is_some() { "degraded" } else { "up" };
                        let rtt = l.rtt.map_or_else(|| "—".to_owned(), |r| format!("{:.1} ms", r.as_secs_f64() * 1e3));
                        let text = format!("{} {rtt} · {:.1} %", badge(state), l.loss * 100.0);
                        if from == me {
                            format!("<td data-mesh-cell=\"{f}|{t}\" data-state=\"{state}\"><a href=\"/ui/paths?site={q}\">{text}</a></td>", f = esc(from), t = esc(to), q = urlenc(to))
                        } else {
                            format!("<td data-mesh-cell=\"{f}|{t}\" data-state=\"{state}\">{text}</td>", f = esc(from), t = esc(to))
                        }
                    }
                };
                row.push_str(&cell);
            }
            row.push_str("</tr>");
            row
        })
        .collect();
    table(
        "Mesh-wide matrix: best RTT and loss from each site (row) to each neighbour (column), as each site advertises it",
        "mesh-matrix",
        &head_refs,
        &rows,
    )
}

/// Local uplink × peer site: best RTT and loss of that pair's paths.
fn matrix(s: &Status, peers: &[usize]) -> String {
    let mut uplinks: Vec<&str> = s.paths.iter().map(|p| p.uplink.as_str()).collect();
    uplinks.sort_unstable();
    uplinks.dedup();
    let mut head: Vec<String> = vec!["peer site".to_owned()];
    head.extend(uplinks.iter().map(|u| format!("via {}", esc(u))));
    let head_refs: Vec<&str> = head.iter().map(String::as_str).collect();
    let rows: Vec<String> = peers
        .iter()
        .map(|&i| {
            let name = &s.peers[i].name;
            let mut row = format!("<tr><th scope=\"row\">{}</th>", esc(name));
            for u in &uplinks {
                let cell: Vec<_> =
                    s.paths.iter().filter(|p| p.peer == i && p.uplink == *u).collect();
                if cell.is_empty() {
                    row.push_str("<td>—</td>");
                    continue;
                }
                let states: Vec<String> = cell.iter().map(|p| p.metrics.state.to_string()).collect();
                let state = best(&states);
                let rtt = cell
                    .iter()
                    .filter(|p| p.metrics.state.is_alive())
                    .filter_map(|p| p.metrics.rtt)
                    .min()
                    .map_or_else(|| "—".to_owned(), |r| format!("{:.1} ms", r.as_secs_f64() * 1e3));
                let loss = cell.iter().map(|p| p.metrics.loss).fold(f64::INFINITY, f64::min) * 100.0;
                let _ = write!(
                    row,
                    "<td data-cell=\"{n}|{u}\" data-state=\"{state}\"><a href=\"/ui/paths?site={q}\">{} {rtt} · {loss:.1} %</a></td>",
                    badge(state),
                    n = esc(name),
                    u = esc(u),
                    q = urlenc(name),
                );
            }
            row.push_str("</tr>");
            row
        })
        .collect();
    table(
        "Path matrix: best RTT and loss per peer site and local uplink",
        "matrix",
        &head_refs,
        &rows,
    )
}
