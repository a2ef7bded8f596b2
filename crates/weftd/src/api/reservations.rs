//! `/api/v1/reservations`: bandwidth reservations of this site toward
//! others, and mesh-wide ones (`from`, ids `mN`) through the control plane
//! at a controller (list: scope read; make and delete: scope operate).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use weft_api::{ApiError, NewReservation, Reservation, ReservationMade};

use super::auth::Caller;
use super::error::{ApiResult, B, Failure, P};
use super::{Ctx, blocking, unix_ms};
use crate::agent::reservations::{Refusal, parse_terms};
use crate::controlplane::records::Ask;
use crate::controlplane::te::{self, ReservationAsk};

/// Longest reservation id accepted in a path (`r` and 18 digits).
const MAX_ID_LEN: usize = 19;

/// A well-formed request that cannot be a reservation (422 `invalid_reservation`).
fn invalid(message: impl Into<String>) -> Failure {
    Failure(StatusCode::UNPROCESSABLE_ENTITY, ApiError::new("invalid_reservation", message.into()))
}

/// `GET /api/v1/reservations`.
#[utoipa::path(get, path = "/api/v1/reservations", tag = "qos", operation_id = "reservations_list",
    responses((status = 200, description = "every reservation, oldest first", body = Vec<Reservation>), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn list(State(ctx): State<Arc<Ctx>>) -> ApiResult<Json<Vec<Reservation>>> {
    let r = ctx.reservations.clone();
    Ok(Json(blocking(move || r.list()).await?))
}

/// `POST /api/v1/reservations`: admitted on the lowest-latency path with
/// room (preempting lower priorities if it must), or refused with the figures.
#[utoipa::path(post, path = "/api/v1/reservations", tag = "qos", operation_id = "reservations_create",
    request_body = NewReservation,
    params(("Idempotency-Key" = Option<String>, Header, description = "A mesh-wide request's id; a retry with the same key is answered once", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 201, body = ReservationMade), (status = 400, description = "not JSON of this shape", body = ApiError), (status = 409, description = "does not fit (the reason has the figures), or `from` given to an agent that is not a controller", body = ApiError), (status = 422, description = "`invalid_reservation`: not exactly one of class and app, an unknown class or app, a bad rate or expiry, from = to", body = ApiError), (status = 403, body = ApiError), (status = 503, description = "mesh-wide: the control plane has no leader, or did not answer in time", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    B(body): B,
) -> ApiResult<Response> {
    let req: NewReservation =
        serde_json::from_value(super::error::json_object(&body)?).map_err(|e| {
            Failure::bad_request(format!(
                "body must be {{\"from\"?, \"to\", \"class\" or \"app\", \"rate\", \"priority\"?, \"expires_in\"?}}: {e}"
            ))
        })?;
    let name_ok = |s: &str| !s.is_empty() && s.len() <= 64;
    if !name_ok(&req.to)
        || !req.class.as_deref().is_none_or(name_ok)
        || !req.app.as_deref().is_none_or(name_ok)
        || !req.from.as_deref().is_none_or(name_ok)
    {
        return Err(invalid("from, to, class and app are 1 to 64 characters"));
    }
    if req.class.is_some() == req.app.is_some() {
        return Err(invalid("give exactly one of class and app"));
    }
    if let Some(from) = req.from.clone() {
        let made = mesh_create(&ctx, &caller, &headers, from, &req).await?;
        return Ok((StatusCode::CREATED, Json(made)).into_response());
    }
    let r = ctx.reservations.clone();
    let now = unix_ms();
    match blocking(move || r.make(&caller.who, &req, now)).await? {
        Ok(made) => Ok((StatusCode::CREATED, Json(made)).into_response()),
        Err(Refusal::Bad(m)) => Err(invalid(m)),
        Err(Refusal::NoRoom(m)) => Err(Failure::conflict(m)),
    }
}

/// A mesh-wide reservation, made by the leader in the control plane's ledger.
async fn mesh_create(
    ctx: &Ctx,
    caller: &Caller,
    headers: &HeaderMap,
    from: String,
    req: &NewReservation,
) -> ApiResult<ReservationMade> {
    let (rate_bps, expires_unix_ms, priority) = parse_terms(req, unix_ms()).map_err(invalid)?;
    let ask = ReservationAsk::Add {
        from,
        to: req.to.clone(),
        class: req.class.clone(),
        app: req.app.clone(),
        rate_bps,
        priority,
        expires_unix_ms,
    };
    te::check_add(&ask).map_err(invalid)?;
    let request = super::control::request_id(headers)?;
    let kv = super::control::submit_raw(ctx, request, Ask::Reservation(ask), &caller.who).await?;
    let r = te::answer_of(&kv).map_err(super::control::refused)?;
    let made = r.reservation.ok_or_else(|| {
        Failure::internal(&anyhow::anyhow!("the leader's answer names no reservation"))
    })?;
    Ok(ReservationMade {
        reservation: made.view(),
        preempted: r.preempted.iter().map(te::MeshReservation::view).collect(),
    })
}

/// `DELETE /api/v1/reservations/{id}`.
#[utoipa::path(delete, path = "/api/v1/reservations/{id}", tag = "qos", operation_id = "reservations_delete",
    params(("id" = String, Path, description = "reservation id (r1, r2, ...; m1, m2, ... mesh-wide, at a controller)", pattern = "^[rm][0-9]{1,18}$", max_length = 19),
        ("Idempotency-Key" = Option<String>, Header, description = "A mesh-wide request's id", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = Reservation), (status = 404, body = ApiError), (status = 403, body = ApiError), (status = 409, description = "a mesh-wide id at an agent that is not a controller", body = ApiError), (status = 503, description = "mesh-wide: no leader", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    P(id): P<String>,
) -> ApiResult<Json<Reservation>> {
    let numbered = |prefix: char| {
        id.len() <= MAX_ID_LEN
            && id
                .strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if numbered('m') {
        let request = super::control::request_id(&headers)?;
        let ask = Ask::Reservation(ReservationAsk::Delete { id: id.clone() });
        let kv = super::control::submit_raw(&ctx, request, ask, &caller.who).await?;
        let r = te::answer_of(&kv).map_err(super::control::refused)?;
        return r.reservation.map(|r| Json(r.view())).ok_or_else(|| {
            Failure::internal(&anyhow::anyhow!("the leader's answer names no reservation"))
        });
    }
    if !numbered('r') {
        return Err(Failure::not_found(format!("no reservation {id:?}")));
    }
    let r = ctx.reservations.clone();
    let now = unix_ms();
    let key = id.clone();
    let gone = blocking(move || r.delete(&caller.who, &key, now)).await?;
    gone.map(Json).ok_or_else(|| Failure::not_found(format!("no reservation {id}")))
}
