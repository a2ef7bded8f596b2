//! `GET /api/v1/ddos` (scope read): the flood defence's counters before
//! crypto, per-uplink rates against their baselines, recent detections and
//! the nftables set of blocked sources.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use weft_api::{ApiError, DdosStatus};

use super::Ctx;

/// `GET /api/v1/ddos`.
#[utoipa::path(get, path = "/api/v1/ddos", tag = "ddos", operation_id = "ddos_status",
    responses((status = 200, description = "counters, rates, detections, the nftables set", body = DdosStatus), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(ctx): State<Arc<Ctx>>) -> Json<DdosStatus> {
    Json(ctx.flood.status())
}
