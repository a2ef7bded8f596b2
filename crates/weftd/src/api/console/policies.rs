//! `GET /ui/policies`: the versions, the one in force (and on a controller the
//! version each site runs), a line diff between two versions, and for admin
//! tokens apply (checked first: the check's answer is shown and only then is
//! "Apply" enabled) and rollback. The buttons call `POST /api/v1/policy/check`,
//! `POST /api/v1/policy` and `POST /api/v1/policy/rollback`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use weft_api::Scope;

use super::html::{self, badge, esc, table};
use super::pages::{View, fragment, respond};
use super::session::Viewer;
use crate::api::{Ctx, blocking};
use crate::controlplane::PlaneCtl;

/// Most lines a diff compares on each side (the table is lines × lines).
const DIFF_MAX_LINES: usize = 3000;

/// `?a=&b=`: the two versions to compare.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DiffQuery {
    #[serde(default)]
    a: Option<u64>,
    #[serde(default)]
    b: Option<u64>,
}

/// `GET /ui/policies[?a=&b=]`.
pub(crate) async fn page(
    State(ctx): State<Arc<Ctx>>,
    viewer: Viewer,
    Query(q): Query<DiffQuery>,
) -> Response {
    let started = Instant::now();
    let body = fragment(&ctx, &viewer, &View::Policies).await;
    let mut after = diff_section(&ctx, &q).await;
    if viewer.may(Scope::Admin) {
        after.push_str(&apply_section(&ctx).await);
    }
    let p = html::Page {
        title: "Policies",
        nav: "/ui/policies",
        who: &viewer.who,
        scope: viewer.scope,
        intro: String::new(),
        live: Some(super::live::url(&View::Policies)),
        body,
        after,
        head: "",
    };
    respond(started, p.render())
}

/// Running version, stored versions (with per-version rollback for admins)
/// and, on a controller, each site's version.
pub(crate) async fn fragment_html(ctx: &Arc<Ctx>, viewer: &Viewer) -> String {
    let s = ctx.status.get();
    let store = ctx.store.clone();
    let versions = blocking(move || store.policy_versions()).await.unwrap_or_default();
    let admin = viewer.may(Scope::Admin);
    let mut out = format!(
        "<div class=\"cards\"><div class=\"card\"><span class=\"n\" id=\"running-version\">v{}</span>\
         <span class=\"l\">in force: {}</span></div></div>",
        s.policy.version,
        esc(&s.policy.name)
    );
    let rows: Vec<String> = versions
        .iter()
        .rev()
        .map(|v| {
            let current = s.policy.version == v.version;
            let action = if admin && !current {
                format!(
                    "<button type=\"button\" class=\"rollback-to\" data-post=\"/api/v1/policy/rollback\" \
                     data-body='{{\"version\":{n}}}' data-out=\"#apply-out\" \
                     aria-label=\"Run version {n} again\">Run v{n} again</button>",
                    n = v.version
                )
            } else {
                String::new()
            };
            format!(
                "<tr data-version=\"{}\"><th scope=\"row\">v{}</th><td>{}</td><td>{}</td><td>{}</td>\
                 <td><code>{}</code></td><td>{}</td><td>{action}</td></tr>",
                v.version,
                v.version,
                if current { badge("up").replace(">up<", ">in force<") } else { String::new() },
                esc(&v.name),
                html::time(v.stored_unix_ms),
                esc(v.fingerprint.get(..12).unwrap_or(&v.fingerprint)),
                esc(&v.by),
            )
        })
        .collect();
    out.push_str(&table(
        "Stored versions, newest first",
        "versions",
        &["version", "", "name", "stored (UTC)", "fingerprint", "by", ""],
        &rows,
    ));
    if ctx.plane_ctl.is_some() {
        match super::super::control::ask_plane(ctx, |reply| PlaneCtl::Status { reply }).await {
            Ok(m) => {
                let rows: Vec<String> = m
                    .sites
                    .iter()
                    .map(|x| {
                        format!(
                            "<tr><th scope=\"row\">{}</th><td>v{}</td><td>{}</td><td>{}</td></tr>",
                            esc(&x.site),
                            x.version,
                            badge(&x.state),
                            esc(x.error.as_deref().unwrap_or(""))
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    "<h2>Mesh-wide: v{} ({})</h2>{}",
                    m.version,
                    esc(&m.name),
                    table(
                        "The version each site runs",
                        "site-versions",
                        &["site", "version", "state", "error"],
                        &rows
                    )
                );
            }
            Err(e) => {
                let _ = write!(out, "<p class=\"error\">mesh policy: {}</p>", esc(&e.1.message));
            }
        }
    } else {
        let _ = write!(
            out,
            "<p class=\"help\">This site runs v{} (not a controller: no other site's version is known here).</p>",
            s.policy.version
        );
    }
    out
}

async fn diff_section(ctx: &Arc<Ctx>, q: &DiffQuery) -> String {
    let mut out = format!(
        "<h2>Compare two versions</h2><form method=\"get\" action=\"/ui/policies\" class=\"row\">\
         <label for=\"a\">from</label><input id=\"a\" name=\"a\" inputmode=\"numeric\" size=\"5\" value=\"{}\">\
         <label for=\"b\">to</label><input id=\"b\" name=\"b\" inputmode=\"numeric\" size=\"5\" value=\"{}\">\
         <button type=\"submit\">Diff</button></form>",
        q.a.map_or_else(String::new, |v| v.to_string()),
        q.b.map_or_else(String::new, |v| v.to_string()),
    );
    let (Some(a), Some(b)) = (q.a, q.b) else {
        return out;
    };
    let store = ctx.store.clone();
    match blocking(move || Ok((store.policy_text(a)?, store.policy_text(b)?))).await {
        Ok((ta, tb)) => {
            let _ =
                write!(out, "<pre class=\"out diff\" id=\"diff\">{}</pre>", line_diff(&ta, &tb));
        }
        Err(_) => {
            let _ = write!(out, "<p class=\"error\" role=\"alert\">no version {a} or {b}</p>");
        }
    }
    out
}

async fn apply_section(ctx: &Arc<Ctx>) -> String {
    let api = ctx.policy.clone();
    let running = tokio::task::spawn_blocking(move || api.running().body).await.unwrap_or_default();
    let source = running["source"].as_str().unwrap_or("");
    format!(
        "<h2>Apply a policy</h2><p class=\"help\">Edit, check (lint, tests, what changes), then apply. \
         Editing again needs a new check.</p>\
         <label for=\"candidate\">Candidate policy (TOML)</label>\
         <textarea id=\"candidate\" spellcheck=\"false\" data-guards=\"#apply\">{}</textarea>\
         <div class=\"row\"><button type=\"button\" id=\"check\" data-post=\"/api/v1/policy/check\" \
         data-type=\"application/toml\" data-body-from=\"#candidate\" data-out=\"#apply-out\" \
         data-then=\"enable:#apply\">Check</button>\
         <button type=\"button\" id=\"apply\" class=\"primary\" disabled data-post=\"/api/v1/policy\" \
         data-type=\"application/toml\" data-body-from=\"#candidate\" data-out=\"#apply-out\">Apply</button>\
         <button type=\"button\" id=\"rollback\" data-post=\"/api/v1/policy/rollback\" data-body=\"{{}}\" \
         data-out=\"#apply-out\">Roll back to the previous version</button></div>\
         <pre class=\"out\" id=\"apply-out\" aria-live=\"polite\"></pre>",
        esc(source)
    )
}

/// A line diff of `a` → `b` (longest common subsequence), as escaped HTML
/// with `+`/`-` lines marked.
pub(crate) fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    if a.len() > DIFF_MAX_LINES || b.len() > DIFF_MAX_LINES {
        return format!("(too long to compare here: more than {DIFF_MAX_LINES} lines)");
    }
    // lcs[i][j]: the common subsequence length of a[i..] and b[j..].
    let mut lcs = vec![vec![0_u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] =
                if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", esc(a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "<span class=\"add\">+ {}</span>", esc(b[j]));
            j += 1;
        } else {
            let _ = writeln!(out, "<span class=\"del\">- {}</span>", esc(a[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::line_diff;

    #[test]
    fn a_line_diff_marks_added_and_removed_lines_and_keeps_common_ones() {
        let d = line_diff("a\nb\nc\n", "a\nc\nd <x>\n");
        assert_eq!(
            d,
            "  a\n<span class=\"del\">- b</span>\n  c\n<span class=\"add\">+ d &lt;x&gt;</span>\n"
        );
    }
}
