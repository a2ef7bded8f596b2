//! `GET /ui/registry`: the control plane as this site sees it (controller or
//! not, leader, epoch, store, lease age), the shard owners, and on a
//! controller every registered site with cordon, uncordon and drain buttons
//! for operate tokens (they call `POST /api/v1/sites/{id}/cordon|uncordon|drain`).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use weft_api::Scope;

use super::html::{badge, esc, table};
use super::pages::{View, page, urlenc};
use super::session::Viewer;
use crate::api::Ctx;
use crate::controlplane::PlaneCtl;

/// `GET /ui/registry`.
pub(crate) async fn page_handler(State(ctx): State<Arc<Ctx>>, viewer: Viewer) -> Response {
    let after = "<pre class=\"out\" id=\"registry-out\" aria-live=\"polite\"></pre>".to_owned();
    page(&ctx, &viewer, View::Registry, "Registry and control plane", "/ui/registry", after, "")
        .await
}

/// GTM traffic shifts (drain, blue/green, canary): state, progress, the
/// reason of a rollback, the latest step; pause, resume and abort for
/// admin tokens (`POST /api/v1/gtm/shifts/{id}/{command}`).
async fn shifts(ctx: &Arc<Ctx>, viewer: &Viewer) -> String {
    let list = match super::super::gtm::shifts(State(ctx.clone())).await {
        Ok(axum::Json(list)) => list,
        Err(e) => return format!("<p class=\"error\">traffic shifts: {}</p>", esc(&e.1.message)),
    };
    let admin = viewer.may(Scope::Admin);
    let rows: Vec<String> = list
        .iter()
        .rev()
        .map(|x| {
            let mut actions = String::new();
            // A finished drain holds its endpoints at zero until it is aborted.
            let commands: &[(&str, &str)] = match x.state.as_str() {
                "running" => &[("pause", "Pause"), ("abort", "Abort")],
                "paused" => &[("resume", "Resume"), ("abort", "Abort")],
                "done" => &[("abort", "Abort")],
                _ => &[],
            };
            if admin {
                for (cmd, label) in commands {
                    let _ = write!(
                        actions,
                        "<button type=\"button\" data-post=\"/api/v1/gtm/shifts/{id}/{cmd}\" data-body=\"{{}}\" \
                         data-out=\"#registry-out\" aria-label=\"{label} shift {n}\">{label}</button> ",
                        id = urlenc(&x.id),
                        n = esc(&x.id),
                    );
                }
            }
            format!(
                "<tr data-shift=\"{n}\"><th scope=\"row\">{n}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
                esc(&x.kind),
                esc(x.service.as_deref().unwrap_or("every service")),
                esc(&x.plan),
                badge(&x.state),
                x.percent.map_or_else(|| "—".to_owned(), |p| format!("{p:.0} %")),
                esc(x.reason.as_deref().unwrap_or("")),
                esc(x.history.last().map_or("", |l| l.line.as_str())),
                esc(&x.actor),
                n = esc(&x.id),
            )
        })
        .collect();
    table(
        "Traffic shifts (GTM), newest first",
        "shifts",
        &[
            "shift",
            "kind",
            "service",
            "plan",
            "state",
            "progress",
            "why (rollback)",
            "latest step",
            "by",
            "",
        ],
        &rows,
    )
}

/// The control plane's view, shard owners and the registry's sites.
pub(crate) async fn fragment(ctx: &Arc<Ctx>, viewer: &Viewer) -> String {
    let c = ctx.plane.view();
    let opt = |v: Option<String>| v.map_or_else(|| "—".to_owned(), |v| esc(&v));
    let mut out = format!(
        "<div class=\"cards\"><div class=\"card\"><span class=\"n\">{}</span><span class=\"l\">this site's role</span></div>\
         <div class=\"card\"><span class=\"n\" id=\"leader\">{}</span><span class=\"l\">leader</span></div>\
         <div class=\"card\"><span class=\"n\">{}</span><span class=\"l\">epoch</span></div>\
         <div class=\"card\"><span class=\"n\">{}</span><span class=\"l\">store</span></div>\
         <div class=\"card\"><span class=\"n\">{}</span><span class=\"l\">lease age</span></div>\
         <div class=\"card\"><span class=\"n\">{}</span><span class=\"l\">fenced-out writes</span></div></div>",
        esc(&c.role),
        opt(c.leader.clone()),
        c.epoch.map_or_else(|| "—".to_owned(), |e| e.to_string()),
        opt(c.store.clone()),
        c.lease_age_ms.map_or_else(|| "—".to_owned(), |a| format!("{a} ms")),
        c.fenced_refused,
    );
    if !c.controller {
        out.push_str(
            "<p class=\"help\" id=\"not-controller\">This agent is not a controller: the registry, \
             shard owners and cordon/drain are on the controllers' consoles.</p>",
        );
        return out;
    }
    if let Ok(sh) = super::super::control::ask_plane(ctx, |reply| PlaneCtl::Shards { reply }).await
    {
        let rows: Vec<String> = sh
            .controllers
            .iter()
            .map(|x| {
                format!(
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
                    esc(&x.id),
                    x.shards,
                    x.weight
                )
            })
            .collect();
        let cap = format!("Shard map v{} (epoch {}): owners", sh.version, sh.epoch);
        out.push_str(&table(&cap, "shards", &["controller", "shards", "weight"], &rows));
    }
    out.push_str(&shifts(ctx, viewer).await);
    let operate = viewer.may(Scope::Operate);
    match super::super::registry::all_sites(ctx).await {
        Ok(sites) => {
            let rows: Vec<String> = sites
                .iter()
                .map(|s| {
                    let mut flags = String::new();
                    if s.cordoned {
                        flags.push_str(&badge("cordoned"));
                    }
                    if s.drained {
                        flags.push_str(&badge("drained"));
                    }
                    let mut actions = String::new();
                    if operate {
                        let id = urlenc(&s.site);
                        let (op, label) =
                            if s.cordoned { ("uncordon", "Uncordon") } else { ("cordon", "Cordon") };
                        let _ = write!(
                            actions,
                            "<button type=\"button\" data-post=\"/api/v1/sites/{id}/{op}\" data-body=\"{{}}\" \
                             data-out=\"#registry-out\" aria-label=\"{label} {n}\">{label}</button> ",
                            n = esc(&s.site)
                        );
                        if !s.drained {
                            let _ = write!(
                                actions,
                                "<button type=\"button\" data-post=\"/api/v1/sites/{id}/drain\" data-body=\"{{}}\" \
                                 data-out=\"#registry-out\" aria-label=\"Drain {n}\">Drain</button>",
                                n = esc(&s.site)
                            );
                        }
                    }
                    format!(
                        "<tr data-site=\"{n}\"><th scope=\"row\">{n}</th><td>{}</td><td>{}</td><td>{}</td>\
                         <td>{}</td><td>{}</td><td>{flags}</td><td>{actions}</td></tr>",
                        badge(&s.state),
                        opt(s.role.clone()),
                        opt(s.region.clone()),
                        s.policy_version.map_or_else(|| "—".to_owned(), |v| format!("v{v}")),
                        s.cert_expires_unix_s
                            .map_or_else(|| "—".to_owned(), |t| super::html::time(i64::try_from(t).unwrap_or(i64::MAX / 1000) * 1000)),
                        n = esc(&s.site),
                    )
                })
                .collect();
            out.push_str(&table(
                "Registered sites",
                "registry",
                &["site", "state", "role", "region", "policy", "certificate expires (UTC)", "", ""],
                &rows,
            ));
        }
        Err(e) => {
            let _ = write!(out, "<p class=\"error\">registry: {}</p>", esc(&e.1.message));
        }
    }
    out
}
