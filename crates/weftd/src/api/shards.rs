//! Shard maps on controllers: `GET /shards` (the map, the controllers'
//! heartbeats, pending plans, recent versions), `POST /shards/simulate`
//! (what adding and removing controllers would move; nothing applied),
//! `POST /shards/plans/{id}/approve` (the leader applies a pending plan,
//! fenced and audited). 409 `not_a_controller` on other sites.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use weft_api::{ApiError, ShardPlan, ShardSimulate, ShardStatus};

use super::Ctx;
use super::auth::Caller;
use super::control::{ask_plane, refused, request_id, submit_raw};
use super::error::{ApiResult, B, Failure, P};
use crate::controlplane::PlaneCtl;
use crate::controlplane::records::Ask;

/// The shard map, its controllers, pending plans and recent versions.
#[utoipa::path(get, path = "/api/v1/shards", tag = "control", operation_id = "shards_status",
    responses((status = 200, description = "the shard map", body = ShardStatus), (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(ctx): State<Arc<Ctx>>) -> ApiResult<Json<ShardStatus>> {
    ask_plane(&ctx, |reply| PlaneCtl::Shards { reply }).await.map(Json)
}

/// The moves adding and removing controllers would make; nothing is applied.
#[utoipa::path(post, path = "/api/v1/shards/simulate", tag = "control", operation_id = "shards_simulate",
    request_body(content = ShardSimulate, description = "controllers to add and remove"),
    responses((status = 200, description = "the plan it would be", body = ShardPlan), (status = 409, description = "not a controller, or the simulation is refused (unknown or duplicate controller, none left)", body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn simulate(
    State(ctx): State<Arc<Ctx>>,
    B(body): B,
) -> ApiResult<Json<ShardPlan>> {
    super::control::controller_only(&ctx)?;
    let req: ShardSimulate =
        serde_json::from_value(super::error::json_object(&body)?).map_err(|e| {
            Failure::bad_request(format!("body must be {{\"add\": [...], \"remove\": [...]}}: {e}"))
        })?;
    ask_plane(&ctx, |reply| PlaneCtl::SimulateShards { add: req.add, remove: req.remove, reply })
        .await
        .map(Json)
}

/// Applies a pending plan (the leader checks it was made from the current map).
#[utoipa::path(post, path = "/api/v1/shards/plans/{id}/approve", tag = "control", operation_id = "shards_approve",
    params(("id" = String, Path, description = "the plan id"), ("Idempotency-Key" = Option<String>, Header, description = "request id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, description = "applied: the new map version and the shards moved", body = serde_json::Value), (status = 404, description = "no such pending plan", body = ApiError), (status = 409, description = "not a controller, or the plan is stale", body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn approve(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    P(id): P<String>,
    B(_body): B,
) -> ApiResult<Json<serde_json::Value>> {
    super::control::controller_only(&ctx)?;
    let rid = request_id(&headers)?;
    let kv = submit_raw(&ctx, rid, Ask::ApprovePlan { plan: id }, &caller.who).await?;
    let v: serde_json::Value = serde_json::from_str(&kv.value)
        .map_err(|e| Failure::internal(&anyhow::anyhow!("the result record: {e}")))?;
    if let Some(r) = v["refused"].as_array() {
        let code = r.first().and_then(|c| c.as_str()).unwrap_or("refused").to_owned();
        let why = r.get(1).and_then(|c| c.as_str()).unwrap_or_default().to_owned();
        let status = if code == "not_found" { 404 } else { 409 };
        return Err(refused(crate::controlplane::PlaneRefusal::new(status, &code, why)));
    }
    Ok(Json(v))
}
