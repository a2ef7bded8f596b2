//! The site's workload identities: `GET /identities` (scope read) lists its
//! zero-trust proxies with their SVIDs and decision counters, and the
//! workloads its Workload API serves;
//! `POST /identities/revoke` (admin) refuses a SPIFFE ID from the next
//! connection on and stops renewing it: on a controller mesh-wide (the
//! leader writes it to the control store and publishes it to every site),
//! elsewhere at this site's proxies.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use weft_api::{
    ApiError, Identity, IdentityCaInit, IdentityChange, IdentityControl, IdentityGrant,
    IdentityList, IdentityRevoke, IdentityRevoked, IdentityService,
};
use weft_identity::SpiffeId;

use super::auth::Caller;
use super::error::{ApiResult, B, Failure};
use super::{Ctx, blocking, unix_ms};
use crate::controlplane::identity::IdentityAsk;
use crate::controlplane::records::Ask;
use crate::store::NewAudit;

/// The site's zero-trust proxies, their SVIDs and counters.
#[utoipa::path(get, path = "/api/v1/identities", tag = "identity", operation_id = "list_identities",
    responses((status = 200, body = IdentityList)),
    security(("bearer" = [])))]
pub(crate) async fn list(State(ctx): State<Arc<Ctx>>) -> Json<IdentityList> {
    let (mesh_revoked, control) = ctx.plane.identities.read().map_or_else(
        |_| (Vec::new(), None),
        |m| {
            let control = m.trust_domain.as_ref().map(|td| IdentityControl {
                trust_domain: td.clone(),
                intermediate_serial: format!("{:016x}", m.intermediate_serial),
                roots: m.roots.len(),
            });
            (m.revoked.clone(), control)
        },
    );
    let Some(zt) = &ctx.zt else {
        return Json(IdentityList {
            trust_domain: None,
            identities: Vec::new(),
            revoked: Vec::new(),
            mesh_revoked,
            control,
        });
    };
    let serial = |s: Option<(u64, weft_identity::Validity)>| match s {
        Some((serial, v)) => (format!("{serial:016x}"), v.not_before, v.not_after),
        None => (String::new(), 0, 0),
    };
    let identities = zt
        .entries
        .iter()
        .map(|e| {
            let (serial, not_before_unix_s, not_after_unix_s) = serial(e.svid());
            Identity {
                id: e.id.to_string(),
                kind: e.kind.to_owned(),
                name: e.name.clone(),
                listen: e.listen.to_string(),
                serial,
                not_before_unix_s,
                not_after_unix_s,
                services: e
                    .proxy
                    .counts()
                    .into_iter()
                    .map(|(service, allowed, denied)| IdentityService { service, allowed, denied })
                    .collect(),
                handshake_failures: e.proxy.handshake_failures(),
                pending: e.pending(),
            }
        })
        .chain(zt.workloads.iter().map(|w| {
            let (serial, not_before_unix_s, not_after_unix_s) = serial(w.svid());
            Identity {
                id: w.rule.id.to_string(),
                kind: "workload".to_owned(),
                name: w.rule.id.path().rsplit('/').next().unwrap_or_default().to_owned(),
                listen: zt
                    .workload_socket
                    .as_ref()
                    .map_or_else(String::new, |p| p.display().to_string()),
                serial,
                not_before_unix_s,
                not_after_unix_s,
                services: Vec::new(),
                handshake_failures: 0,
                pending: w.pending(),
            }
        }))
        .collect();
    Json(IdentityList {
        trust_domain: Some(zt.trust_domain().to_string()),
        identities,
        revoked: zt.revoked().iter().map(ToString::to_string).collect(),
        mesh_revoked,
        control,
    })
}

/// Revokes a SPIFFE ID: mesh-wide on a controller, else on this site.
#[utoipa::path(post, path = "/api/v1/identities/revoke", tag = "identity", operation_id = "revoke_identity", request_body = IdentityRevoke,
    params(("Idempotency-Key" = Option<String>, Header, description = "On a controller: the request's id; a retry with the same key is answered once", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = IdentityRevoked),
        (status = 400, description = "not a SPIFFE ID (`invalid_request`)", body = ApiError),
        (status = 409, description = "not a controller and this site runs no zero-trust proxies (`not_zero_trust`)", body = ApiError),
        (status = 503, description = "the control plane has no leader, or did not answer in time", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    B(body): B,
) -> ApiResult<Json<IdentityRevoked>> {
    let invalid =
        |why: String| Failure(StatusCode::BAD_REQUEST, ApiError::new("invalid_request", why));
    let req: IdentityRevoke = serde_json::from_value(super::error::json_object(&body)?)
        .map_err(|e| invalid(format!("body: must be {{\"id\": \"spiffe://...\"}}: {e}")))?;
    let id = SpiffeId::parse(&req.id).map_err(|e| invalid(format!("id: {e}")))?;
    if ctx.plane_ctl.is_some() {
        // A controller: the leader revokes it in the store (audited there)
        // and publishes the list to every site, this one included.
        let request = super::control::request_id(&headers)?;
        let ask = Ask::Identity(IdentityAsk::Revoke { id: id.to_string() });
        let kv = super::control::submit_raw(&ctx, request, ask, &caller.who).await?;
        let r = crate::controlplane::identity::answer_of(&kv).map_err(super::control::refused)?;
        return Ok(Json(IdentityRevoked { id: r.id, newly: r.newly, scope: "mesh".to_owned() }));
    }
    let Some(zt) = ctx.zt.clone() else {
        return Err(Failure(
            StatusCode::CONFLICT,
            ApiError::new("not_zero_trust", "this site runs no zero-trust proxies ([zerotrust])"),
        ));
    };
    let (store, who, now) = (ctx.store.clone(), caller.who, unix_ms());
    let revoked = id.clone();
    let newly = blocking(move || {
        let newly = zt.revoke(&revoked)?;
        let rec = NewAudit {
            who,
            action: "identity.revoke".to_owned(),
            target: format!("identity {revoked}"),
            before: None,
            after: Some("revoked".to_owned()),
            detail: if newly { String::new() } else { "already revoked".to_owned() },
        };
        store.audit(&rec, now)?;
        Ok(newly)
    })
    .await?;
    Ok(Json(IdentityRevoked { id: id.to_string(), newly, scope: "site".to_owned() }))
}

/// Submits an identity request to the control plane (409
/// `not_a_controller` elsewhere) and answers with what it did.
async fn control_change(
    ctx: &Ctx,
    caller: Caller,
    headers: &axum::http::HeaderMap,
    ask: IdentityAsk,
) -> ApiResult<Json<IdentityChange>> {
    let request = super::control::request_id(headers)?;
    let kv = super::control::submit_raw(ctx, request, Ask::Identity(ask), &caller.who).await?;
    let r = crate::controlplane::identity::answer_of(&kv).map_err(super::control::refused)?;
    Ok(Json(IdentityChange {
        id: r.id,
        newly: r.newly,
        intermediate_serial: (r.intermediate_serial != 0)
            .then(|| format!("{:016x}", r.intermediate_serial)),
    }))
}

fn body_of<T: serde::de::DeserializeOwned>(body: &axum::body::Bytes, shape: &str) -> ApiResult<T> {
    serde_json::from_value(super::error::json_object(body)?).map_err(|e| {
        Failure(
            StatusCode::BAD_REQUEST,
            ApiError::new("invalid_request", format!("body: must be {shape}: {e}")),
        )
    })
}

/// Makes the control plane's identity CA (controllers).
#[utoipa::path(post, path = "/api/v1/identities/ca", tag = "identity", operation_id = "init_identity_ca", request_body = IdentityCaInit,
    params(("Idempotency-Key" = Option<String>, Header, description = "The request's id; a retry with the same key is answered once", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = IdentityChange),
        (status = 400, description = "not a trust domain (`invalid_request`)", body = ApiError),
        (status = 409, description = "not a controller, another trust domain already (`conflict`), or the leader holds no mesh CA key (`not_ca_holder`)", body = ApiError),
        (status = 503, description = "the control plane has no leader, or did not answer in time", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn init_ca(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    B(body): B,
) -> ApiResult<Json<IdentityChange>> {
    super::control::controller_only(&ctx)?;
    let req: IdentityCaInit = body_of(&body, "{\"trust_domain\": \"example.org\"}")?;
    control_change(&ctx, caller, &headers, IdentityAsk::Init { trust_domain: req.trust_domain })
        .await
}

/// Replaces the control plane's intermediate (controllers).
#[utoipa::path(post, path = "/api/v1/identities/ca/rotate", tag = "identity", operation_id = "rotate_identity_ca",
    params(("Idempotency-Key" = Option<String>, Header, description = "The request's id; a retry with the same key is answered once", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = IdentityChange),
        (status = 409, description = "not a controller, no CA yet (`no_ca`), or the leader holds no mesh CA key (`not_ca_holder`)", body = ApiError),
        (status = 503, description = "the control plane has no leader, or did not answer in time", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn rotate_ca(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<IdentityChange>> {
    super::control::controller_only(&ctx)?;
    control_change(&ctx, caller, &headers, IdentityAsk::Rotate).await
}

/// Lets a site hold SPIFFE IDs (controllers).
#[utoipa::path(post, path = "/api/v1/identities/grants", tag = "identity", operation_id = "grant_identity", request_body = IdentityGrant,
    params(("Idempotency-Key" = Option<String>, Header, description = "The request's id; a retry with the same key is answered once", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = IdentityChange),
        (status = 400, description = "not a site or not a SPIFFE ID pattern (`invalid_request`)", body = ApiError),
        (status = 409, description = "not a controller", body = ApiError),
        (status = 503, description = "the control plane has no leader, or did not answer in time", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn grant(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    B(body): B,
) -> ApiResult<Json<IdentityChange>> {
    super::control::controller_only(&ctx)?;
    let g: IdentityGrant = body_of(&body, "{\"site\": \"SITE\", \"id\": \"spiffe://...\"}")?;
    control_change(&ctx, caller, &headers, IdentityAsk::Grant { site: g.site, id: g.id }).await
}

/// Takes a grant back (controllers).
#[utoipa::path(post, path = "/api/v1/identities/grants/remove", tag = "identity", operation_id = "ungrant_identity", request_body = IdentityGrant,
    params(("Idempotency-Key" = Option<String>, Header, description = "The request's id; a retry with the same key is answered once", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = IdentityChange),
        (status = 400, description = "not a site or not a SPIFFE ID pattern (`invalid_request`)", body = ApiError),
        (status = 409, description = "not a controller", body = ApiError),
        (status = 503, description = "the control plane has no leader, or did not answer in time", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn ungrant(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    B(body): B,
) -> ApiResult<Json<IdentityChange>> {
    super::control::controller_only(&ctx)?;
    let g: IdentityGrant = body_of(&body, "{\"site\": \"SITE\", \"id\": \"spiffe://...\"}")?;
    control_change(&ctx, caller, &headers, IdentityAsk::Ungrant { site: g.site, id: g.id }).await
}
