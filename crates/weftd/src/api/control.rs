//! The control plane: `GET /control` (every site: its controller role, the
//! leader and epoch, the mesh policy in force), and on controllers the
//! mesh-wide policy: `POST /policy` and `/policy/rollback` go to the
//! control plane, `POST /policy/promote` ends a canary stage, `GET
//! /policy/mesh` shows every site's version.
//!
//! A mesh-wide request is checked here (lint and the policy's tests, as a
//! local apply is), queued in the control store under its request id
//! (`Idempotency-Key`, or a random one) and answered once the leader has
//! taken it, whichever controller received it: asking again with the same
//! id returns the same answer and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::oneshot;
use utoipa::IntoParams;
use weft_api::{ApiError, ControlStatus, MeshPolicyChange, MeshPolicyStatus};
use weft_types::SiteId;

use super::Ctx;
use super::auth::Caller;
use super::error::{ApiResult, B, Failure};
use crate::controlplane::leader::answer_of;
use crate::controlplane::records::{Ask, PolicyRequest};
use crate::controlplane::{PlaneCtl, PlaneRefusal};
use weft_etcd::Kv;

/// Longer than the controller thread's own wait for the leader.
const PLANE_WAIT: Duration = Duration::from_secs(15);

pub(crate) fn refused(r: PlaneRefusal) -> Failure {
    let code = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Failure::from_parts(code, &r.code, r.message)
}

/// 409 `not_a_controller` unless this site is a controller: checked before
/// anything else, so a site that is not one answers the same whatever the
/// request says.
pub(crate) fn controller_only(ctx: &Ctx) -> ApiResult<()> {
    if ctx.plane_ctl.is_some() { Ok(()) } else { Err(not_a_controller()) }
}

pub(crate) fn not_a_controller() -> Failure {
    Failure(
        StatusCode::CONFLICT,
        ApiError::new(
            "not_a_controller",
            "this site is not a controller ([controller] in its configuration); ask a controller",
        ),
    )
}

/// 409 for a local policy change on a site whose policy the control plane manages.
pub(crate) fn mesh_managed() -> Failure {
    Failure(
        StatusCode::CONFLICT,
        ApiError::new(
            "mesh_managed",
            "this site runs the mesh-wide policy of the control plane: apply policies on a controller",
        ),
    )
}

pub(crate) async fn ask_plane<T>(
    ctx: &Ctx,
    make: impl FnOnce(oneshot::Sender<Result<T, PlaneRefusal>>) -> PlaneCtl,
) -> ApiResult<T> {
    let plane = ctx.plane_ctl.as_ref().ok_or_else(not_a_controller)?;
    let late = || Failure::unavailable("the controller thread did not answer");
    let (tx, rx) = oneshot::channel();
    plane.send(make(tx)).map_err(|_| late())?;
    match tokio::time::timeout(PLANE_WAIT, rx).await {
        Ok(Ok(r)) => r.map_err(refused),
        _ => Err(late()),
    }
}

/// The request id: the `Idempotency-Key` header (1 to 64 of `A-Za-z0-9_-`),
/// or a random one.
pub(crate) fn request_id(headers: &HeaderMap) -> ApiResult<String> {
    if let Some(v) = headers.get("idempotency-key") {
        let id = v.to_str().unwrap_or_default();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        return if ok {
            Ok(id.to_owned())
        } else {
            Err(Failure::bad_request("Idempotency-Key must be 1 to 64 of A-Z a-z 0-9 _ -"))
        };
    }
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).map_err(|e| Failure::internal(&anyhow::anyhow!("{e}")))?;
    Ok(raw.iter().fold(String::new(), |mut s, b| {
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
        s
    }))
}

/// Queues a request at the control plane and waits for the leader's result record.
pub(crate) async fn submit_raw(ctx: &Ctx, id: String, ask: Ask, who: &str) -> ApiResult<Kv> {
    let request = PolicyRequest { id, ask, actor: who.to_owned(), at_unix_ms: super::unix_ms() };
    ask_plane(ctx, |reply| PlaneCtl::Submit { request, reply }).await
}

async fn submit(ctx: &Ctx, id: String, ask: Ask, who: &str) -> ApiResult<MeshPolicyChange> {
    let kind = ask.kind();
    let kv = submit_raw(ctx, id.clone(), ask, who).await?;
    answer_of(&id, kind, &kv).map_err(refused)
}

/// `?canary=a,b` of a mesh-wide apply.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApplyQuery {
    /// Sites that get the new version first (comma-separated); the rest
    /// keep the current one until `POST /policy/promote`.
    pub(crate) canary: Option<String>,
}

/// A mesh-wide apply on a controller.
pub(crate) async fn mesh_apply(
    ctx: Arc<Ctx>,
    caller: Caller,
    headers: &HeaderMap,
    query: ApplyQuery,
    text: String,
) -> Response {
    let run = async {
        let id = request_id(headers)?;
        let canary = match query.canary.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|s| {
                    SiteId::new(s.trim()).map(|s| s.to_string()).map_err(|e| {
                        Failure::bad_request(format!("canary site {:?}: {e}", s.trim()))
                    })
                })
                .collect::<ApiResult<Vec<_>>>()?,
        };
        let api = ctx.policy.clone();
        let checked = {
            let text = text.clone();
            crate::log::context::spawn_blocking(move || api.check(&text))
                .await
                .map_err(|e| Failure::internal(&anyhow::anyhow!("{e}")))?
        };
        if checked.status != 200 {
            return Ok(Err(checked));
        }
        let name = checked.body["name"].as_str().unwrap_or_default().to_owned();
        let warnings: Vec<String> = checked.body["warnings"]
            .as_array()
            .map(|w| w.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let mut change = submit(&ctx, id, Ask::Apply { name, text, canary }, &caller.who).await?;
        change.warnings = warnings;
        Ok::<_, Failure>(Ok(change))
    };
    match run.await {
        Ok(Ok(change)) => Json(change).into_response(),
        Ok(Err(refusal)) => super::admin::reply(refusal),
        Err(f) => f.into_response(),
    }
}

/// Body of a mesh-wide rollback: `{}` or `{"version": N}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeshRollback {
    version: Option<u64>,
}

/// A mesh-wide rollback on a controller.
pub(crate) async fn mesh_rollback(
    ctx: Arc<Ctx>,
    caller: Caller,
    headers: &HeaderMap,
    body: &str,
) -> Response {
    let run = async {
        let id = request_id(headers)?;
        let to = if body.trim().is_empty() || body.trim() == "null" {
            None
        } else {
            serde_json::from_str::<MeshRollback>(body)
                .map_err(|_| Failure::bad_request("body must be empty, {} or {\"version\": N}"))?
                .version
        };
        submit(&ctx, id, Ask::Rollback { to }, &caller.who).await
    };
    match run.await {
        Ok(change) => Json(change).into_response(),
        Err(f) => f.into_response(),
    }
}

/// This site's view of the control plane.
#[utoipa::path(get, path = "/api/v1/control", tag = "control", operation_id = "control_status",
    responses((status = 200, description = "controller role, leader, epoch, the mesh policy in force", body = ControlStatus), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(ctx): State<Arc<Ctx>>) -> Json<ControlStatus> {
    Json(ctx.plane.view())
}

/// The mesh-wide rollout: the current version, the canary stage, every site's version.
#[utoipa::path(get, path = "/api/v1/policy/mesh", tag = "policy", operation_id = "mesh_policy_status",
    responses((status = 200, description = "the rollout", body = MeshPolicyStatus), (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn mesh_status(State(ctx): State<Arc<Ctx>>) -> ApiResult<Json<MeshPolicyStatus>> {
    ask_plane(&ctx, |reply| PlaneCtl::Status { reply }).await.map(Json)
}

/// Ends a canary stage: every site gets the canary's version.
#[utoipa::path(post, path = "/api/v1/policy/promote", tag = "policy",
    params(("Idempotency-Key" = Option<String>, Header, description = "request id: asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, description = "promoted", body = MeshPolicyChange), (status = 409, description = "not a controller, or no canary stage", body = ApiError), (status = 503, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn promote(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    B(_body): B,
) -> ApiResult<Json<MeshPolicyChange>> {
    controller_only(&ctx)?;
    let id = request_id(&headers)?;
    submit(&ctx, id, Ask::Promote, &caller.who).await.map(Json)
}
