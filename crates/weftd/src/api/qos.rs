//! `GET /api/v1/qos` (scope read): the QoS scheduler of every shaped uplink,
//! lane by lane (queue depth, sent, dropped), as the send thread last
//! published it (every 250 ms).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use weft_api::{ApiError, QosLane, QosStatus, QosUplink};

use super::Ctx;

/// `GET /api/v1/qos`.
#[utoipa::path(get, path = "/api/v1/qos", tag = "qos", operation_id = "qos_status",
    responses((status = 200, description = "every shaped uplink's lanes", body = QosStatus), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(ctx): State<Arc<Ctx>>) -> Json<QosStatus> {
    Json(view(&ctx.qos))
}

/// The API's view of `board`.
pub(crate) fn view(board: &crate::agent::qos::QosBoard) -> QosStatus {
    let setup = board.setup();
    let cfg = setup.config.clone().unwrap_or_default();
    let uplinks = board
        .stats()
        .into_iter()
        .map(|u| QosUplink {
            uplink: u.uplink,
            capacity_bps: u.capacity_bps,
            shaped_bps: u.shaped_bps,
            lanes: u
                .lanes
                .into_iter()
                .map(|l| QosLane {
                    name: l.name,
                    class: l.class,
                    queued_packets: l.queued_packets as u64,
                    queued_bytes: l.queued_bytes as u64,
                    sent_packets: l.sent_packets,
                    sent_bytes: l.sent_bytes,
                    dropped_packets: l.dropped_packets,
                    dropped_bytes: l.dropped_bytes,
                })
                .collect(),
        })
        .collect();
    QosStatus {
        enabled: cfg.enabled,
        headroom: cfg.headroom,
        queue_time_ms: cfg.queue_time.as_millis() as u64,
        uplinks,
    }
}
