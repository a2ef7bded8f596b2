//! The zero-touch mesh: the membership view (`GET /mesh`, read), join
//! tokens (`POST /mesh/tokens`, admin) and revocations
//! (`POST /mesh/revocations`, admin).
//!
//! The handlers never touch the mesh: they check the request, ask the mesh
//! thread over [`MeshCtl`] (at most [`MESH_WAIT`]) and write the audit
//! record of a change. An agent started without a mesh answers 409
//! `not_in_mesh`; one in a mesh without the CA answers token and
//! revocation requests with 409 `not_ca_holder`.

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;
use weft_api::{ApiError, MeshRevocation, MeshRevoke, MeshStatus, MeshToken, MeshTokenCreate};

use super::auth::Caller;
use super::error::{ApiResult, B, Failure, J};
use super::{Ctx, blocking, unix_ms};
use crate::mesh::ctl::{MeshCtl, MeshRefusal, RefusalKind};
use crate::store::NewAudit;

/// How long a handler waits for the mesh thread.
pub(crate) const MESH_WAIT: Duration = Duration::from_secs(5);

/// A token's default life, seconds.
pub(crate) const DEFAULT_TTL_S: u64 = 3600;
/// Shortest and longest token life, seconds (1 min, 30 days).
pub(crate) const TTL_RANGE_S: std::ops::RangeInclusive<u64> = 60..=2_592_000;
/// Fewest and most enrolments per token.
pub(crate) const USES_RANGE: std::ops::RangeInclusive<u32> = 1..=10_000;
/// Longest role or region label.
pub(crate) const MAX_LABEL: usize = 63;
/// Most prefixes a token may allow (a certificate carries at most 64).
pub(crate) const MAX_PREFIXES: usize = 64;

/// 400 `invalid_request` naming the field.
fn invalid(field: &str, why: impl std::fmt::Display) -> Failure {
    Failure(StatusCode::BAD_REQUEST, ApiError::new("invalid_request", format!("{field}: {why}")))
}

/// 409 `not_in_mesh`.
fn not_in_mesh() -> Failure {
    Failure(
        StatusCode::CONFLICT,
        ApiError::new(
            "not_in_mesh",
            "this agent is not in a mesh: start it with --join or with a CA in its state directory",
        ),
    )
}

/// The API answer of a refusal by the mesh thread.
pub(crate) fn refusal(r: MeshRefusal) -> Failure {
    match r.kind {
        RefusalKind::NotCaHolder => {
            Failure(StatusCode::CONFLICT, ApiError::new("not_ca_holder", r.message))
        }
        RefusalKind::Invalid => {
            Failure(StatusCode::BAD_REQUEST, ApiError::new("invalid_request", r.message))
        }
        RefusalKind::NotFound => Failure::not_found(r.message),
    }
}

/// Sends the request `make` builds around a reply channel to the mesh
/// thread and waits at most `wait`: 409 without a mesh, 503 when the
/// thread is gone or late.
pub(crate) async fn ask_mesh<T>(
    mesh: Option<&Sender<MeshCtl>>,
    wait: Duration,
    make: impl FnOnce(oneshot::Sender<T>) -> MeshCtl,
) -> ApiResult<T> {
    let mesh = mesh.ok_or_else(not_in_mesh)?;
    let late = || Failure::unavailable("the mesh thread did not answer");
    let (tx, rx) = oneshot::channel();
    mesh.send(make(tx)).map_err(|_| late())?;
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(v)) => Ok(v),
        _ => Err(late()),
    }
}

/// A role or region: 0..=63 of `a-z 0-9 -`.
fn check_label(field: &str, s: &str) -> ApiResult<()> {
    if s.len() > MAX_LABEL {
        return Err(invalid(field, format!("at most {MAX_LABEL} characters, not {}", s.len())));
    }
    if let Some(c) = s.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-')) {
        return Err(invalid(field, format!("{c:?} is not one of a-z, 0-9 and -")));
    }
    Ok(())
}

/// Checks a token request and fills in the defaults, so the mesh thread
/// gets every field: ttl 3600 s, 1 use, role `site`, region empty,
/// prefixes as given (absent: any).
pub(crate) fn checked_token_request(req: MeshTokenCreate) -> ApiResult<MeshTokenCreate> {
    let ttl = req.ttl_s.unwrap_or(DEFAULT_TTL_S);
    if !TTL_RANGE_S.contains(&ttl) {
        return Err(invalid(
            "ttl_s",
            format!("must be {}..={} seconds, not {ttl}", TTL_RANGE_S.start(), TTL_RANGE_S.end()),
        ));
    }
    let uses = req.uses.unwrap_or(1);
    if !USES_RANGE.contains(&uses) {
        return Err(invalid(
            "uses",
            format!("must be {}..={}, not {uses}", USES_RANGE.start(), USES_RANGE.end()),
        ));
    }
    let role = req.role.unwrap_or_else(|| "site".to_owned());
    if role.is_empty() {
        return Err(invalid("role", "must not be empty (`site`, `hub`, ...)"));
    }
    check_label("role", &role)?;
    let region = req.region.unwrap_or_default();
    check_label("region", &region)?;
    if let Some(prefixes) = &req.prefixes {
        if prefixes.is_empty() {
            return Err(invalid(
                "prefixes",
                "name at least one prefix, or leave it out to allow any",
            ));
        }
        if prefixes.len() > MAX_PREFIXES {
            return Err(invalid(
                "prefixes",
                format!("at most {MAX_PREFIXES}, not {}", prefixes.len()),
            ));
        }
        for p in prefixes {
            weft_types::IpPrefix::parse_strict(p).map_err(|e| {
                Failure(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ApiError::new("invalid_prefix", format!("prefixes: {p:?}: {e}")),
                )
            })?;
        }
    }
    if let Some(learn) = &req.learn {
        check_learn(learn)?;
    }
    Ok(MeshTokenCreate {
        ttl_s: Some(ttl),
        uses: Some(uses),
        role: Some(role),
        region: Some(region),
        prefixes: req.prefixes,
        learn: req.learn,
    })
}

/// Checks the token's learn ranges: 1 to [`LearnRanges::MAX`] CIDRs
/// without host bits.
///
/// [`LearnRanges::MAX`]: weft_mesh::identity::LearnRanges::MAX
fn check_learn(list: &[String]) -> ApiResult<()> {
    let max = weft_mesh::identity::LearnRanges::MAX;
    if list.is_empty() || list.len() > max {
        return Err(invalid("learn", format!("name 1..={max} ranges, not {}", list.len())));
    }
    for p in list {
        weft_types::IpPrefix::parse_strict(p).map_err(|e| {
            Failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                ApiError::new("invalid_prefix", format!("learn: {p:?}: {e}")),
            )
        })?;
    }
    Ok(())
}

/// Checks the site id of a revocation.
fn checked_site(req: &MeshRevoke) -> ApiResult<String> {
    weft_types::SiteId::new(&req.site).map_err(|e| invalid("site", e))?;
    Ok(req.site.clone())
}

/// Writes one audit record (synced before the answer).
async fn audit(ctx: &Arc<Ctx>, rec: NewAudit) -> ApiResult<()> {
    let store = ctx.store.clone();
    let now = unix_ms();
    blocking(move || store.audit(&rec, now)).await.map(|_| ())
}

/// The mesh as this agent sees it: its certificate, the CA it trusts, the
/// members and their state.
#[utoipa::path(get, path = "/api/v1/mesh", tag = "mesh", operation_id = "mesh_status",
    responses((status = 200, body = MeshStatus), (status = 409, description = "this agent is not in a mesh (`not_in_mesh`)", body = ApiError),
        (status = 503, description = "the mesh thread did not answer", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(ctx): State<Arc<Ctx>>) -> ApiResult<Json<MeshStatus>> {
    ask_mesh(ctx.mesh.as_ref(), MESH_WAIT, |reply| MeshCtl::Status { reply }).await.map(Json)
}

/// Mints a join token (only on the agent holding the mesh CA); the answer
/// is the only time its text is shown.
#[utoipa::path(post, path = "/api/v1/mesh/tokens", tag = "mesh", operation_id = "create_mesh_token", request_body = MeshTokenCreate,
    responses((status = 201, body = MeshToken), (status = 400, description = "a field is out of range (`invalid_request`)", body = ApiError),
        (status = 422, description = "a prefix is not CIDR without host bits (`invalid_prefix`)", body = ApiError),
        (status = 409, description = "not in a mesh (`not_in_mesh`), or this agent does not hold the CA (`not_ca_holder`)", body = ApiError),
        (status = 503, description = "the mesh thread did not answer", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn create_token(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    J(req): J<MeshTokenCreate>,
) -> ApiResult<Response> {
    let req = checked_token_request(req)?;
    let token = ask_mesh(ctx.mesh.as_ref(), MESH_WAIT, |reply| MeshCtl::CreateToken {
        req: req.clone(),
        reply,
    })
    .await?
    .map_err(refusal)?;
    let mut after = format!(
        "uses {}, ttl {} s, role {}, region {}",
        token.uses,
        req.ttl_s.unwrap_or(DEFAULT_TTL_S),
        token.role,
        if token.region.is_empty() { "-" } else { &token.region },
    );
    if let Some(learn) = &req.learn {
        after.push_str(", learn ");
        after.push_str(&learn.join(" "));
    }
    audit(
        &ctx,
        NewAudit {
            who: caller.who,
            action: "mesh.token.create".to_owned(),
            target: format!("token {}", token.id),
            before: None,
            after: Some(after),
            detail: String::new(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(token)).into_response())
}

/// Revokes a site (only on the agent holding the mesh CA): the signed list
/// floods the mesh, every agent drops the site, and it cannot rejoin.
#[utoipa::path(post, path = "/api/v1/mesh/revocations", tag = "mesh", operation_id = "revoke_site", request_body = MeshRevoke,
    responses((status = 200, body = MeshRevocation), (status = 400, description = "the site id is malformed (`invalid_request`)", body = ApiError),
        (status = 404, description = "no such site", body = ApiError),
        (status = 409, description = "not in a mesh (`not_in_mesh`), or this agent does not hold the CA (`not_ca_holder`)", body = ApiError),
        (status = 503, description = "the mesh thread did not answer", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    B(body): B,
) -> ApiResult<Json<MeshRevocation>> {
    let req: MeshRevoke = serde_json::from_value(super::error::json_object(&body)?)
        .map_err(|e| invalid("body", format!("must be {{\"site\": \"ID\"}}: {e}")))?;
    let site = checked_site(&req)?;
    Ok(Json(revoke_site(&ctx, caller.who, &headers, site, false).await?))
}

/// Revokes `site` mesh-wide (a site, or a connection profile's client: the
/// list names site ids, and every site drops a client it names) and audits
/// it: through the leader on a controller, else on the CA holder (409
/// `not_ca_holder` elsewhere, `not_in_mesh` outside a mesh). A `client`
/// need not be a member the CA holder knows (the caller checked it is no
/// site).
pub(crate) async fn revoke_site(
    ctx: &Arc<Ctx>,
    who: String,
    headers: &axum::http::HeaderMap,
    site: String,
    client: bool,
) -> ApiResult<MeshRevocation> {
    let revoked = if ctx.plane_ctl.is_some() {
        // A controller: the leader revokes in the store's ledger and signs
        // the list; this controller floods it.
        let id = super::control::request_id(headers)?;
        let ask = crate::controlplane::records::Ask::Revoke { site: site.clone() };
        let kv = super::control::submit_raw(ctx, id, ask, &who).await?;
        let list = crate::controlplane::enrol::revocations_of(&kv)
            .map_err(|why| refusal(MeshRefusal { kind: RefusalKind::Invalid, message: why }))?;
        ask_mesh(ctx.mesh.as_ref(), MESH_WAIT, |reply| MeshCtl::ApplyRevocations {
            list,
            reply,
            site: site.clone(),
        })
        .await?
        .map_err(refusal)?
    } else {
        ask_mesh(ctx.mesh.as_ref(), MESH_WAIT, |reply| MeshCtl::Revoke {
            site: site.clone(),
            client,
            reply,
        })
        .await?
        .map_err(refusal)?
    };
    audit(
        ctx,
        NewAudit {
            who,
            action: "mesh.revoke".to_owned(),
            target: format!("site {site}"),
            before: None,
            after: Some(format!("revoked (revocation list version {})", revoked.list_version)),
            detail: String::new(),
        },
    )
    .await?;
    Ok(revoked)
}

#[cfg(test)]
mod tests;
