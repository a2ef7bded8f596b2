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
    ApiError, Identity, IdentityList, IdentityRevoke, IdentityRevoked, IdentityService,
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
    let mesh_revoked = ctx.plane.identities.read().map(|m| m.revoked.clone()).unwrap_or_default();
    let Some(zt) = &ctx.zt else {
        return Json(IdentityList {
            trust_domain: None,
            identities: Vec::new(),
            revoked: Vec::new(),
            mesh_revoked,
        });
    };
    let identities = zt
        .entries
        .iter()
        .map(|e| {
            let (id, serial, v) = e.svid();
            Identity {
                id: id.to_string(),
                kind: e.kind.to_owned(),
                name: e.name.clone(),
                listen: e.listen.to_string(),
                serial: format!("{serial:016x}"),
                not_before_unix_s: v.not_before,
                not_after_unix_s: v.not_after,
                services: e
                    .proxy
                    .counts()
                    .into_iter()
                    .map(|(service, allowed, denied)| IdentityService { service, allowed, denied })
                    .collect(),
                handshake_failures: e.proxy.handshake_failures(),
            }
        })
        .chain(zt.workloads.iter().map(|w| {
            let (serial, v) = w.svid();
            Identity {
                id: w.rule.id.to_string(),
                kind: "workload".to_owned(),
                name: w.rule.id.path().rsplit('/').next().unwrap_or_default().to_owned(),
                listen: zt
                    .workload_socket
                    .as_ref()
                    .map_or_else(String::new, |p| p.display().to_string()),
                serial: format!("{serial:016x}"),
                not_before_unix_s: v.not_before,
                not_after_unix_s: v.not_after,
                services: Vec::new(),
                handshake_failures: 0,
            }
        }))
        .collect();
    Json(IdentityList {
        trust_domain: Some(zt.trust_domain().to_string()),
        identities,
        revoked: zt.revoked().iter().map(ToString::to_string).collect(),
        mesh_revoked,
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
        let (id, newly) =
            crate::controlplane::identity::answer_of(&kv).map_err(super::control::refused)?;
        return Ok(Json(IdentityRevoked { id, newly, scope: "mesh".to_owned() }));
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
