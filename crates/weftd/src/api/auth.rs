//! Who is calling and what they may do.
//!
//! Over TCP every request but `/api/v1/health` and `/api/v1/openapi.json`
//! carries `Authorization: Bearer <secret>` (or the console's session cookie,
//! see `console`); the secret is looked up by its
//! hash in the store and gives the token's scope. No or an unknown token is
//! 401; a known token without the needed scope is 403 and an audit record.
//! Over the unix socket (mode 0600, root only) the caller is the local admin.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use weft_api::{ApiError, Scope};

use super::Ctx;
use super::error::Failure;
use crate::store::NewAudit;

/// Most unauthenticated write attempts audited per minute: anyone who can
/// reach the port can make them, and each is a synced write. Beyond it they
/// are still refused and counted (`weft_api_requests_total{code="401"}`).
const UNAUTHORIZED_AUDITS_PER_MINUTE: u32 = 60;

static UNAUTHORIZED_AUDITS: AuditBudget = AuditBudget::new(UNAUTHORIZED_AUDITS_PER_MINUTE);

/// Most refusals for scope (403) audited per minute: a token holder could
/// otherwise fill the append-only log; beyond it they are refused and counted.
const DENIED_AUDITS_PER_MINUTE: u32 = 120;

static DENIED_AUDITS: AuditBudget = AuditBudget::new(DENIED_AUDITS_PER_MINUTE);

/// A fixed-window budget of audit records.
pub(crate) struct AuditBudget {
    per_minute: u32,
    window: std::sync::Mutex<Option<(std::time::Instant, u32)>>,
}

impl AuditBudget {
    const fn new(per_minute: u32) -> Self {
        Self { per_minute, window: std::sync::Mutex::new(None) }
    }

    /// Whether one more record fits in the current minute.
    fn admit(&self, now: std::time::Instant) -> bool {
        let mut w = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (start, used) = w.get_or_insert((now, 0));
        if now.saturating_duration_since(*start) >= std::time::Duration::from_mins(1) {
            *start = now;
            *used = 0;
        }
        *used += 1;
        *used <= self.per_minute
    }
}

/// How a request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// The root-only unix socket.
    Local,
    /// TCP, from this address.
    Tcp(std::net::SocketAddr),
}

/// The authenticated caller, for handlers and the audit log.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// `token:<name>` or `local socket`.
    pub(crate) who: String,
    /// What it may do.
    pub(crate) scope: Scope,
}

/// The scope a request needs: reads need `read`; on-demand tests, site
/// removal and the registry's site changes (cordon, uncordon, drain,
/// label) and GTM traffic shifts `operate`; policies, tokens, the audit
/// logs, the log level (read and set), connection profiles, the mesh's join tokens and revocations, registry services, GTM
/// services and shard plans `admin`.
/// `POST /policy/check` and `POST /shards/simulate` change nothing and need
/// `read`; `GET /mesh` (the membership view) needs `read`.
pub(crate) fn needed_scope(method: &axum::http::Method, path: &str) -> Scope {
    use axum::http::Method;
    let p = path.strip_prefix("/api/v1").unwrap_or(path);
    if p.starts_with("/tokens")
        || p.starts_with("/audit")
        || p.starts_with("/mesh/")
        || p.starts_with("/profiles")
        || p == "/control/audit"
        || p == "/log"
    {
        return Scope::Admin;
    }
    if *method == Method::GET
        || *method == Method::HEAD
        || p == "/policy/check"
        || p == "/shards/simulate"
    {
        return Scope::Read;
    }
    if p.starts_with("/paths/")
        || p.starts_with("/sites/")
        || p.starts_with("/gtm/shifts")
        || p.starts_with("/reservations")
    {
        Scope::Operate
    } else {
        Scope::Admin
    }
}

/// Routes anyone may call (no token).
fn is_public(path: &str) -> bool {
    matches!(path, "/api/v1/health" | "/api/v1/openapi.json")
}

/// The middleware: authenticates, checks the scope, records refusals.
pub(crate) async fn authorize(
    State(ctx): State<Arc<Ctx>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    // The console checks its own session (and sends the login page instead of a 401).
    if is_public(&path) || super::console::is_console(&path) {
        return next.run(req).await;
    }
    // Every listener tags its requests; an untagged one is never trusted.
    let Some(transport) = req.extensions().get::<Transport>().copied() else {
        return unauthorized();
    };
    let needed = needed_scope(req.method(), &path);
    let what = format!("{} {path}", req.method());
    let caller = match transport {
        Transport::Local => Caller { who: "local socket".to_owned(), scope: Scope::Admin },
        Transport::Tcp(addr) => {
            let bearer = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|s| s.trim().to_owned());
            // The console's session cookie stands in for the bearer header; a
            // mutation on its strength must come from the console's own origin.
            let cookie = match bearer {
                Some(_) => None,
                None => super::console::session::cookie_secret(req.headers()),
            };
            if cookie.is_some()
                && super::console::session::mutates(req.method())
                && !super::console::session::same_origin(req.headers())
            {
                return Failure(
                    StatusCode::FORBIDDEN,
                    ApiError::new(
                        "forbidden",
                        "a change made with the console's cookie must come from the console \
                         (Origin equal to Host); scripts send Authorization: Bearer",
                    ),
                )
                .into_response();
            }
            let secret = bearer.or(cookie);
            let secret = secret.as_deref();
            let found = match secret {
                Some(s) if !s.is_empty() => {
                    let store = ctx.store.clone();
                    let s = s.to_owned();
                    tokio::task::spawn_blocking(move || store.verify_token(&s)).await
                }
                _ => Ok(Ok(None)),
            };
            match found {
                Ok(Ok(Some(token))) => {
                    Caller { who: format!("token:{} ({addr})", token.name), scope: token.scope }
                }
                Ok(Ok(None)) => {
                    if needed != Scope::Read && UNAUTHORIZED_AUDITS.admit(std::time::Instant::now())
                    {
                        audit(&ctx, &format!("client {addr}"), "unauthorized", &what, needed).await;
                    }
                    return unauthorized();
                }
                Ok(Err(e)) => return Failure::internal(&e).into_response(),
                Err(e) => return Failure::internal(&anyhow::anyhow!("{e}")).into_response(),
            }
        }
    };
    if !caller.scope.allows(needed) {
        if DENIED_AUDITS.admit(std::time::Instant::now()) {
            audit(&ctx, &caller.who, "denied", &what, needed).await;
        }
        return Failure(
            StatusCode::FORBIDDEN,
            ApiError::new(
                "forbidden",
                format!("{what} needs scope {needed}; this token has {}", caller.scope),
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn unauthorized() -> Response {
    let mut r = Failure(
        StatusCode::UNAUTHORIZED,
        ApiError::new(
            "unauthorized",
            "send Authorization: Bearer <token> (weft tokens are created with POST /api/v1/tokens; \
             the agent's first admin token is STATE_DIR/api.token)",
        ),
    )
    .into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn audit(ctx: &Arc<Ctx>, who: &str, action: &str, what: &str, needed: Scope) {
    let rec = NewAudit {
        who: who.to_owned(),
        action: action.to_owned(),
        target: what.to_owned(),
        before: None,
        after: None,
        detail: format!("needs scope {needed}"),
    };
    let store = ctx.store.clone();
    let now = super::unix_ms();
    let _ = crate::log::context::spawn_blocking(move || store.audit(&rec, now)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn unauthenticated_writes_are_audited_up_to_a_budget_per_minute() {
        let b = AuditBudget::new(3);
        let t = std::time::Instant::now();
        assert_eq!((0..5).filter(|_| b.admit(t)).count(), 3);
        assert!(b.admit(t + std::time::Duration::from_secs(61)), "a new minute, a new budget");
    }

    #[test]
    fn reads_need_read_steering_needs_operate_and_configuration_needs_admin() {
        assert_eq!(needed_scope(&Method::GET, "/api/v1/paths"), Scope::Read);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/ddos"), Scope::Read);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/reservations"), Scope::Read);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/reservations"), Scope::Operate);
        assert_eq!(needed_scope(&Method::DELETE, "/api/v1/reservations/r1"), Scope::Operate);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/tokens"), Scope::Admin);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/audit"), Scope::Admin);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/policy/check"), Scope::Read);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/shards/simulate"), Scope::Read);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/shards/plans/1/approve"), Scope::Admin);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/paths/3/test"), Scope::Operate);
        assert_eq!(needed_scope(&Method::DELETE, "/api/v1/sites/b"), Scope::Operate);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/policy"), Scope::Admin);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/tokens"), Scope::Admin);
        assert_eq!(needed_scope(&Method::DELETE, "/api/v1/tokens/2"), Scope::Admin);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/profiles"), Scope::Admin);
        assert_eq!(needed_scope(&Method::DELETE, "/api/v1/profiles/laptop"), Scope::Admin);
    }

    #[test]
    fn registry_reads_need_read_site_changes_operate_and_services_admin() {
        assert_eq!(needed_scope(&Method::GET, "/api/v1/registry/sites"), Scope::Read);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/registry/services"), Scope::Read);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/registry/watch"), Scope::Read);
        for op in ["cordon", "uncordon", "drain", "label"] {
            let path = format!("/api/v1/sites/b/{op}");
            assert_eq!(needed_scope(&Method::POST, &path), Scope::Operate, "{op}");
        }
        assert_eq!(needed_scope(&Method::POST, "/api/v1/registry/services"), Scope::Admin);
        assert_eq!(needed_scope(&Method::DELETE, "/api/v1/registry/services/web"), Scope::Admin);
    }

    #[test]
    fn the_mesh_view_needs_read_and_its_tokens_and_revocations_admin() {
        assert_eq!(needed_scope(&Method::GET, "/api/v1/mesh"), Scope::Read);
        assert_eq!(needed_scope(&Method::HEAD, "/api/v1/mesh"), Scope::Read);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/mesh/tokens"), Scope::Admin);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/mesh/tokens"), Scope::Admin);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/mesh/revocations"), Scope::Admin);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/mesh"), Scope::Admin);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/gtm"), Scope::Read);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/gtm/explain"), Scope::Read);
        assert_eq!(needed_scope(&Method::PUT, "/api/v1/gtm/services/app"), Scope::Admin);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/gtm/shifts"), Scope::Operate);
        assert_eq!(needed_scope(&Method::POST, "/api/v1/gtm/shifts/s1/abort"), Scope::Operate);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/control/audit"), Scope::Admin);
        assert_eq!(needed_scope(&Method::GET, "/api/v1/log"), Scope::Admin);
        assert_eq!(needed_scope(&Method::PUT, "/api/v1/log"), Scope::Admin);
    }
}
