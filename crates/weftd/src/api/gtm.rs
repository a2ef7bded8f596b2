//! Global traffic management: `GET /gtm` (what this site has: services
//! with health and effective weights as it sees them, shifts, anycast
//! decisions), `GET /gtm/explain` (one DNS decision, on `[dns]` sites),
//! and on controllers `PUT`/`DELETE /gtm/services/{name}` (admin),
//! `GET`/`POST /gtm/shifts` and `POST /gtm/shifts/{id}/{command}`
//! (operate), committed by the leader like every control-plane change
//! (`Idempotency-Key` honoured), and `GET /control/audit` (admin): the
//! control store's audit records.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::IntoParams;
use weft_api::{
    ApiError, GtmAnnouncement, GtmChange, GtmCheck, GtmEndpoint, GtmEndpointState, GtmExplanation,
    GtmService, GtmServiceSpec, GtmShift, GtmShiftStart, GtmStatus, HealthCheckKind,
};
use weft_gtm::model::{Check, HealthCheck};
use weft_gtm::shift::{CanarySpec, ShiftCommand, ShiftKind, SloSpec, Target};
use weft_gtm::{Endpoint, GlobalService};
use weft_types::IpPrefix;

use super::Ctx;
use super::auth::Caller;
use super::control::{ask_plane, refused, request_id, submit_raw};
use super::error::{ApiResult, B, Failure, P, Q};
use crate::controlplane::PlaneCtl;
use crate::controlplane::gtm::{GtmAsk, answer_of, shift_view};
use crate::controlplane::records::Ask;

fn bad(m: impl Into<String>) -> Failure {
    Failure::bad_request(m)
}

/// A service specification as the model has it.
fn service_of(name: &str, spec: GtmServiceSpec) -> ApiResult<GlobalService> {
    let endpoints = spec
        .endpoints
        .into_iter()
        .map(|e| {
            let address = IpAddr::from_str(&e.address).map_err(|_| {
                bad(format!("endpoint {:?}: {:?} is not an IP address", e.id, e.address))
            })?;
            Ok(Endpoint {
                id: e.id,
                site: e.site,
                region: e.region,
                address,
                port: e.port,
                weight: e.weight,
                capacity_qps: e.capacity_qps,
                version: e.version,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let check = spec
        .check
        .map(|c| {
            let check = match (c.kind, c.path) {
                (HealthCheckKind::Tcp, None) => Check::Tcp,
                (HealthCheckKind::Tcp, Some(_)) => return Err(bad("a tcp check takes no path")),
                (HealthCheckKind::Http, path) => {
                    Check::Http { path: path.unwrap_or_else(|| "/".to_owned()) }
                }
            };
            Ok(HealthCheck {
                check,
                interval_ms: c.interval_ms,
                timeout_ms: c.timeout_ms,
                fall: c.fall,
                rise: c.rise,
            })
        })
        .transpose()?;
    let anycast = spec
        .anycast
        .map(|a| IpPrefix::parse_strict(&a).map_err(|e| bad(format!("anycast prefix: {e}"))))
        .transpose()?;
    let svc = GlobalService {
        name: name.to_owned(),
        endpoints,
        ttl: spec.ttl,
        serving: spec.serving,
        check,
        anycast,
    };
    svc.validate().map_err(|e| bad(e.to_string()))?;
    Ok(svc)
}

fn spec_of_check(c: &HealthCheck) -> GtmCheck {
    let (kind, path) = match &c.check {
        Check::Tcp => (HealthCheckKind::Tcp, None),
        Check::Http { path } => (HealthCheckKind::Http, Some(path.clone())),
    };
    GtmCheck {
        kind,
        path,
        interval_ms: c.interval_ms,
        timeout_ms: c.timeout_ms,
        fall: c.fall,
        rise: c.rise,
    }
}

/// A shift request as the model has it.
fn shift_of(s: GtmShiftStart) -> ApiResult<(Option<String>, ShiftKind)> {
    let need = |v: Option<String>, what: &str| {
        v.ok_or_else(|| bad(format!("a {} shift needs {what}", s.kind)))
    };
    let kind = match s.kind.as_str() {
        "drain" => {
            let target = match (s.site.clone(), s.region.clone()) {
                (Some(site), None) => Target::Site(site),
                (None, Some(region)) => Target::Region(region),
                _ => return Err(bad("a drain needs exactly one of site and region")),
            };
            ShiftKind::Drain {
                target,
                step_pct: s.step_pct.unwrap_or(25),
                step_ms: s.step_ms.unwrap_or(10_000),
            }
        }
        "blue_green" => ShiftKind::BlueGreen {
            from: need(s.from.clone(), "from")?,
            to: need(s.to.clone(), "to")?,
            hold_ms: s.hold_ms.unwrap_or(60_000),
        },
        "canary" => ShiftKind::Canary(CanarySpec {
            stable: need(s.stable.clone(), "stable")?,
            canary: need(s.canary.clone(), "canary")?,
            steps: s.steps.clone().unwrap_or_else(|| vec![5, 25, 50, 100]),
            step_ms: s.step_ms.unwrap_or(10_000),
            slo: SloSpec {
                max_error_pct: s.max_error_pct.unwrap_or(1.0),
                max_latency_ms: s.max_latency_ms.unwrap_or(500),
                min_samples: s.min_samples.unwrap_or(5),
            },
        }),
        other => {
            return Err(bad(format!("unknown shift kind {other:?}: drain, blue_green or canary")));
        }
    };
    Ok((s.service, kind))
}

async fn change(
    ctx: &Ctx,
    caller: &Caller,
    headers: &HeaderMap,
    ask: GtmAsk,
) -> ApiResult<Json<GtmChange>> {
    let id = request_id(headers)?;
    let kv = submit_raw(ctx, id.clone(), Ask::Gtm(ask), &caller.who).await?;
    answer_of(&id, &kv).map(Json).map_err(refused)
}

/// What this site has: services with health and effective weights as it
/// sees them, shifts, anycast decisions.
#[utoipa::path(get, path = "/api/v1/gtm", tag = "gtm", operation_id = "gtm_status",
    responses((status = 200, body = GtmStatus), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(ctx): State<Arc<Ctx>>) -> ApiResult<Json<GtmStatus>> {
    let gtm = &ctx.plane.gtm;
    let doc = gtm.doc();
    let mut services = Vec::new();
    for svc in doc.services.values() {
        let eff = weft_gtm::effect(&doc, svc);
        let judged = gtm.judged(svc);
        let healthy: Vec<bool> = (0..svc.endpoints.len())
            .map(|i| judged.as_ref().is_none_or(|j| j[i].is_ok()))
            .collect();
        let endpoints = svc
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| GtmEndpointState {
                endpoint: GtmEndpoint {
                    id: e.id.clone(),
                    site: e.site.clone(),
                    region: e.region.clone(),
                    address: e.address.to_string(),
                    port: e.port,
                    weight: e.weight,
                    capacity_qps: e.capacity_qps,
                    version: e.version.clone(),
                },
                effective_weight: eff.weights[i],
                drained_by: eff.drained_by[i].clone(),
                healthy: judged.as_ref().map(|j| j[i].is_ok()),
                health: judged.as_ref().and_then(|j| j[i].clone().err()),
            })
            .collect();
        let announcements = weft_gtm::announcements(svc, &eff, &healthy)
            .into_iter()
            .map(|a| GtmAnnouncement {
                site: a.site,
                prefix: a.prefix.to_string(),
                announce: a.announce,
                why: a.why,
            })
            .collect();
        services.push(GtmService {
            name: svc.name.clone(),
            ttl: svc.ttl,
            serving: svc.serving.clone(),
            check: svc.check.as_ref().map(spec_of_check),
            anycast: svc.anycast.map(|p| p.to_string()),
            split: eff.split.as_ref().map(|s| {
                format!("{} → {} at {}‰ (shift {})", s.stable, s.next, s.next_permille, s.shift)
            }),
            endpoints,
            announcements,
        });
    }
    let shifts = if ctx.plane_ctl.is_some() {
        match ask_plane(&ctx, |reply| PlaneCtl::Gtm { reply }).await {
            Ok((stored, _)) => stored.shifts.iter().map(shift_view).collect(),
            Err(_) => doc.shifts.iter().map(shift_view).collect(),
        }
    } else {
        doc.shifts.iter().map(shift_view).collect()
    };
    Ok(Json(GtmStatus {
        dns: gtm.zone.get().is_some(),
        zone: gtm.zone.get().cloned(),
        seq: gtm.seq(),
        services,
        shifts,
    }))
}

/// `GET /gtm/explain` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExplainQuery {
    /// The global service.
    #[param(min_length = 1, max_length = 63)]
    name: String,
    /// The client: an address or a prefix (as an ECS client subnet).
    /// Default: this site's own view (the default region, no ECS).
    from: Option<String>,
}

/// Why a DNS answer for `name` from `from` is what it is, with every
/// endpoint's score (one decision; weighted choices vary per query).
#[utoipa::path(get, path = "/api/v1/gtm/explain", tag = "gtm", operation_id = "gtm_explain", params(ExplainQuery),
    responses((status = 200, body = GtmExplanation), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "not a DNS site", body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn explain(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<ExplainQuery>,
) -> ApiResult<Json<GtmExplanation>> {
    let Some(view) = ctx.plane.gtm.view() else {
        return Err(Failure(
            axum::http::StatusCode::CONFLICT,
            ApiError::new(
                "not_a_dns_site",
                "this site answers no DNS ([dns] in its configuration); ask a DNS site",
            ),
        ));
    };
    let (client, ecs) = match q.from.as_deref() {
        None => ("0.0.0.0".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])), None),
        Some(f) => {
            let (addr, len) =
                crate::gtm::view::parse_from(f).map_err(|e| bad(format!("from: {e}")))?;
            (addr, Some((addr, len)))
        }
    };
    crate::gtm::server::explain(&view, &q.name, ecs, client)
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no global service {:?}", q.name)))
}

/// Adds or replaces a global service.
#[utoipa::path(put, path = "/api/v1/gtm/services/{name}", tag = "gtm", operation_id = "gtm_set_service",
    params(("name" = String, Path, description = "the service name (a DNS label)", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"),
        ("Idempotency-Key" = Option<String>, Header, description = "request id: asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body = GtmServiceSpec,
    responses((status = 200, body = GtmChange), (status = 400, body = ApiError), (status = 409, description = "not a controller", body = ApiError),
        (status = 503, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn set_service(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    P(name): P<String>,
    B(body): B,
) -> ApiResult<Json<GtmChange>> {
    super::control::controller_only(&ctx)?;
    let spec: GtmServiceSpec =
        serde_json::from_slice(&body).map_err(|e| bad(format!("a global service: {e}")))?;
    let service = service_of(&name, spec)?;
    change(&ctx, &caller, &headers, GtmAsk::SetService { service }).await
}

/// Removes a global service (refused while a shift of it is active).
#[utoipa::path(delete, path = "/api/v1/gtm/services/{name}", tag = "gtm", operation_id = "gtm_remove_service",
    params(("name" = String, Path, description = "the service name (a DNS label)", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"),
        ("Idempotency-Key" = Option<String>, Header, description = "request id: asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = GtmChange), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "not a controller, or a shift is active", body = ApiError), (status = 503, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn remove_service(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    P(name): P<String>,
) -> ApiResult<Json<GtmChange>> {
    super::control::controller_only(&ctx)?;
    if !weft_gtm::model::is_label(&name) {
        return Err(bad(format!("{name:?} is not a service name (a DNS label)")));
    }
    change(&ctx, &caller, &headers, GtmAsk::RemoveService { name }).await
}

/// Every shift with its history, from the control store.
#[utoipa::path(get, path = "/api/v1/gtm/shifts", tag = "gtm", operation_id = "gtm_shifts",
    responses((status = 200, body = Vec<GtmShift>), (status = 409, description = "not a controller", body = ApiError),
        (status = 503, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn shifts(State(ctx): State<Arc<Ctx>>) -> ApiResult<Json<Vec<GtmShift>>> {
    let (doc, _) = ask_plane(&ctx, |reply| PlaneCtl::Gtm { reply }).await?;
    Ok(Json(doc.shifts.iter().map(shift_view).collect()))
}

/// Starts a traffic shift.
#[utoipa::path(post, path = "/api/v1/gtm/shifts", tag = "gtm", operation_id = "gtm_start_shift",
    params(("Idempotency-Key" = Option<String>, Header, description = "request id: asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body = GtmShiftStart,
    responses((status = 200, body = GtmChange), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "not a controller, or it conflicts (a split running, a missing version)", body = ApiError),
        (status = 503, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn start_shift(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    B(body): B,
) -> ApiResult<Json<GtmChange>> {
    super::control::controller_only(&ctx)?;
    let start: GtmShiftStart = serde_json::from_value(super::error::json_object(&body)?)
        .map_err(|e| bad(format!("a shift: {e}")))?;
    let (service, shift) = shift_of(start)?;
    change(&ctx, &caller, &headers, GtmAsk::StartShift { service, shift }).await
}

/// An operator's command to a shift: `pause`, `resume`, `abort` or
/// `switch_back` (blue/green).
#[utoipa::path(post, path = "/api/v1/gtm/shifts/{id}/{command}", tag = "gtm", operation_id = "gtm_shift_command",
    params(("id" = String, Path, description = "the shift (`s1`, `s2`, ...)", pattern = "^[a-z0-9]{1,32}$", max_length = 32),
        ("command" = String, Path, description = "pause, resume, abort or switch_back", pattern = "^(pause|resume|abort|switch_back)$"),
        ("Idempotency-Key" = Option<String>, Header, description = "request id: asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = GtmChange), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "not a controller, or the shift's state refuses it", body = ApiError),
        (status = 503, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn shift_command(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    P((id, command)): P<(String, String)>,
    B(_body): B,
) -> ApiResult<Json<GtmChange>> {
    super::control::controller_only(&ctx)?;
    let command = match command.as_str() {
        "pause" => ShiftCommand::Pause,
        "resume" => ShiftCommand::Resume,
        "abort" => ShiftCommand::Abort,
        "switch_back" | "switch-back" => ShiftCommand::SwitchBack,
        other => {
            return Err(bad(format!(
                "unknown command {other:?}: pause, resume, abort or switch_back"
            )));
        }
    };
    if id.is_empty() || id.len() > 20 {
        return Err(bad("a shift id is s1, s2, ..."));
    }
    change(&ctx, &caller, &headers, GtmAsk::Command { id, command }).await
}

/// `GET /control/audit` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// How many, newest first (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The control store's audit records (policy, registry, shard, GTM
/// changes, enrolments), newest first.
#[utoipa::path(get, path = "/api/v1/control/audit", tag = "control", operation_id = "control_audit", params(AuditQuery),
    responses((status = 200, body = Vec<weft_api::ControlAuditRecord>), (status = 400, body = ApiError),
        (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn control_audit(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<AuditQuery>,
) -> ApiResult<Json<Vec<weft_api::ControlAuditRecord>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad("limit must be 1..=1000"));
    }
    let rows = ask_plane(&ctx, |reply| PlaneCtl::Audit { limit: limit as usize, reply }).await?;
    Ok(Json(
        rows.into_iter()
            .filter_map(|(key, value)| {
                let v: serde_json::Value = serde_json::from_str(&value).ok()?;
                let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_owned();
                Some(weft_api::ControlAuditRecord {
                    key,
                    request: s("request"),
                    actor: s("actor"),
                    action: s("action"),
                    epoch: v.get("epoch").and_then(serde_json::Value::as_u64).unwrap_or(0),
                    at_unix_ms: v
                        .get("at_unix_ms")
                        .and_then(serde_json::Value::as_i64)
                        .unwrap_or(0),
                })
            })
            .collect(),
    ))
}
