//! `GET /api/v1/bgp` (scope read): the BGP speaker (`[bgp]`): its
//! neighbors, what it announces to them and what it learnt from them
//! (accepted or refused, and why), as its thread last published it (every
//! second). Without `[bgp]`, `enabled` is false and the rest empty but
//! `shared`: in a mesh, every site shows which edge each learnt prefix
//! several sites advertise goes to (the mesh thread's, every 200 ms).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use weft_api::{ApiError, BgpStatus};

use super::Ctx;

/// `GET /api/v1/bgp`.
#[utoipa::path(get, path = "/api/v1/bgp", tag = "bgp", operation_id = "bgp_status",
    responses((status = 200, description = "the BGP speaker: neighbors, announced and learnt prefixes", body = BgpStatus), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(ctx): State<Arc<Ctx>>) -> Json<BgpStatus> {
    let mut status = ctx.bgp.as_ref().map(|b| b.get()).unwrap_or_default();
    status.shared = ctx.links.shared_learnt();
    Json(status)
}
