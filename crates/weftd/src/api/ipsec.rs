//! `GET /api/v1/ipsec` (scope read): the site's IPsec gateways as paths
//! (SA state, probe RTT and loss, the chosen route, the CHILD SA counters),
//! as the agent's IPsec threads last published them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use weft_api::{ApiError, IpsecStatus};

use super::Ctx;

/// `GET /api/v1/ipsec`.
#[utoipa::path(get, path = "/api/v1/ipsec", tag = "ipsec", operation_id = "ipsec_status",
    responses((status = 200, description = "every IPsec gateway of the site (none without [[ipsec]])", body = IpsecStatus), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(ctx): State<Arc<Ctx>>) -> Json<IpsecStatus> {
    Json(ctx.ipsec.as_ref().map(|i| i.view()).unwrap_or_default())
}
