//! Access and configuration: API tokens, the audit log, policies, and the
//! unauthenticated health and OpenAPI documents.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use weft_api::{ApiError, AuditRecord, Page, TokenCreate, TokenCreated, TokenInfo};

use super::auth::Caller;
use super::error::{ApiResult, B, Failure, P, Q};
use super::{Ctx, blocking, unix_ms};
use crate::agent::policy_api::{PolicyApi, Reply};
use crate::store::{NewAudit, TokenRefused};

/// `?limit=&cursor=` of id-ordered lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct IdPage {
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Cursor from the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

impl IdPage {
    fn parse(&self) -> ApiResult<(Option<u64>, usize)> {
        let after = match &self.cursor {
            Some(c) => Some(super::error::parse_id("cursor", c)?),
            None => None,
        };
        Ok((after, checked_limit(self.limit)?))
    }
}

/// A page size of 1..=1000 (default 100).
pub(crate) fn checked_limit(limit: Option<u32>) -> ApiResult<usize> {
    match limit.unwrap_or(100) {
        l @ 1..=1000 => Ok(l as usize),
        l => Err(Failure::bad_request(format!("limit must be 1..=1000, not {l}"))),
    }
}

fn id_page<T>(mut items: Vec<T>, total: u64, limit: usize, id: impl Fn(&T) -> u64) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more { items.last().map(|x| id(x).to_string()) } else { None };
    Page { items, next_cursor, total }
}

/// The audit log, oldest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(IdPage),
    responses((status = 200, body = Page<AuditRecord>), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn audit(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<IdPage>,
) -> ApiResult<Json<Page<AuditRecord>>> {
    let (after, limit) = q.parse()?;
    let store = ctx.store.clone();
    let (items, total) = blocking(move || store.audit_page(after, limit + 1)).await?;
    Ok(Json(id_page(items, total, limit, |r| r.id)))
}

/// API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin", params(IdPage),
    responses((status = 200, body = Page<TokenInfo>), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn tokens(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<IdPage>,
) -> ApiResult<Json<Page<TokenInfo>>> {
    let (after, limit) = q.parse()?;
    let store = ctx.store.clone();
    let (items, total) = blocking(move || store.tokens_page(after, limit + 1)).await?;
    Ok(Json(id_page(items, total, limit, |t| t.id)))
}

/// Creates a token; the answer is the only time its secret is shown.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = TokenCreate,
    responses((status = 201, body = TokenCreated), (status = 400, body = ApiError), (status = 409, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn create_token(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    B(body): B,
) -> ApiResult<Response> {
    let req: TokenCreate = serde_json::from_value(super::error::json_object(&body)?)
        .map_err(|e| Failure::bad_request(format!("body must be {{\"name\", \"scope\"}}: {e}")))?;
    let store = ctx.store.clone();
    let now = unix_ms();
    let created = blocking(move || {
        let (token, secret) = match store.create_token(&req.name, req.scope, now) {
            Ok(t) => t,
            Err(e) => {
                // The store refuses a duplicate live name (also two racing
                // creates) and a bad name; anything else is the store failing.
                let f = match e.downcast_ref::<TokenRefused>() {
                    Some(r @ TokenRefused::NameTaken(_)) => Failure::conflict(r.to_string()),
                    Some(r @ TokenRefused::BadName(_)) => Failure::bad_request(r.to_string()),
                    None => Failure::internal(&e),
                };
                return Ok(Err(f));
            }
        };
        store.audit(
            &NewAudit {
                who: caller.who,
                action: "token.create".to_owned(),
                target: format!("token {}", token.id),
                before: None,
                after: Some(format!("{} ({})", token.name, token.scope)),
                detail: String::new(),
            },
            now,
        )?;
        Ok(Ok(TokenCreated { token, secret }))
    })
    .await??;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Revokes a token: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin", params(("id" = u64, Path, description = "token id")),
    responses((status = 200, body = TokenInfo), (status = 404, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn revoke_token(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    P(id): P<u64>,
) -> ApiResult<Json<TokenInfo>> {
    if id > super::error::MAX_ID {
        return Err(Failure::not_found(format!("no token {id}")));
    }
    let store = ctx.store.clone();
    let now = unix_ms();
    let info = blocking(move || {
        let Some(info) = store.token(id)? else { return Ok(None) };
        if !store.revoke_token(id, now)? {
            return Ok(None);
        }
        store.audit(
            &NewAudit {
                who: caller.who,
                action: "token.revoke".to_owned(),
                target: format!("token {id}"),
                before: Some(format!("{} ({})", info.name, info.scope)),
                after: Some("revoked".to_owned()),
                detail: String::new(),
            },
            now,
        )?;
        Ok(Some(info))
    })
    .await?;
    info.map(Json).ok_or_else(|| Failure::not_found(format!("no token {id}")))
}

pub(crate) fn reply(r: Reply) -> Response {
    let code = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(r.body)).into_response()
}

async fn policy_call(
    ctx: &Arc<Ctx>,
    f: impl FnOnce(&PolicyApi) -> Reply + Send + 'static,
) -> Response {
    let api = ctx.policy.clone();
    match crate::log::context::spawn_blocking(move || f(&api)).await {
        Ok(r) => reply(r),
        Err(e) => Failure::internal(&anyhow::anyhow!("{e}")).into_response(),
    }
}

fn text_body(body: &axum::body::Bytes) -> Result<String, Failure> {
    String::from_utf8(body.to_vec())
        .map_err(|_| Failure::bad_request("the policy must be UTF-8 TOML"))
}

/// The running policy: version, name, text, warnings, denied counters.
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy",
    responses((status = 200, description = "the running policy", body = serde_json::Value), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn policy_running(State(ctx): State<Arc<Ctx>>) -> Response {
    policy_call(&ctx, PolicyApi::running).await
}

/// Stored policy versions and the current one.
#[utoipa::path(get, path = "/api/v1/policy/versions", tag = "policy",
    responses((status = 200, description = "versions", body = serde_json::Value), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn policy_versions(State(ctx): State<Arc<Ctx>>) -> Response {
    policy_call(&ctx, PolicyApi::versions).await
}

/// The text of one stored version.
#[utoipa::path(get, path = "/api/v1/policy/versions/{version}", tag = "policy",
    params(("version" = u64, Path, description = "version number")),
    responses((status = 200, description = "version and source", body = serde_json::Value), (status = 404, body = ApiError), (status = 400, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn policy_version(State(ctx): State<Arc<Ctx>>, P(v): P<String>) -> Response {
    policy_call(&ctx, move |p| p.version(&v)).await
}

/// Lint, tests and diff of a candidate (TOML body); changes nothing.
#[utoipa::path(post, path = "/api/v1/policy/check", tag = "policy",
    request_body(content = String, content_type = "application/toml", description = "the policy document"),
    responses((status = 200, description = "checked", body = serde_json::Value), (status = 422, description = "refused, with findings", body = serde_json::Value), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn policy_check(State(ctx): State<Arc<Ctx>>, B(body): B) -> Response {
    match text_body(&body) {
        Ok(text) => policy_call(&ctx, move |p| p.check(&text)).await,
        Err(r) => r.into_response(),
    }
}

/// Applies a candidate policy (refused with 422 when it has an error or a
/// failing test). On a controller the apply is mesh-wide (see `control`);
/// on a site that runs the mesh-wide policy it is refused (409 `mesh_managed`).
#[utoipa::path(post, path = "/api/v1/policy", tag = "policy",
    params(super::control::ApplyQuery, ("Idempotency-Key" = Option<String>, Header, description = "controllers: request id; asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content = String, content_type = "application/toml", description = "the policy document"),
    responses((status = 200, description = "applied (on a controller: published mesh-wide, a MeshPolicyChange)", body = serde_json::Value), (status = 422, description = "refused, with findings", body = serde_json::Value), (status = 409, description = "the site runs the mesh-wide policy, or canary on a non-controller", body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn policy_apply(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    Q(query): Q<super::control::ApplyQuery>,
    B(body): B,
) -> Response {
    let text = match text_body(&body) {
        Ok(text) => text,
        Err(r) => return r.into_response(),
    };
    if ctx.plane_ctl.is_some() {
        return super::control::mesh_apply(ctx, caller, &headers, query, text).await;
    }
    if query.canary.is_some() {
        return super::control::not_a_controller().into_response();
    }
    if ctx.plane.mesh_managed() {
        return super::control::mesh_managed().into_response();
    }
    policy_call(&ctx, move |p| p.apply(&text, &caller.who)).await
}

/// Body of `POST /api/v1/policy/rollback`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct RollbackRequest {
    /// The stored version to run again; without it, the one before the running one.
    #[schema(minimum = 1)]
    version: Option<u64>,
}

/// Rolls back to `{"version": N}`, or (empty body or `{}`) to the version before the running one.
#[utoipa::path(post, path = "/api/v1/policy/rollback", tag = "policy",
    request_body(content = Option<RollbackRequest>, description = "empty, {} or {\"version\": N}"),
    responses((status = 200, description = "rolled back", body = serde_json::Value), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn policy_rollback(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    B(body): B,
) -> Response {
    let text = match text_body(&body) {
        Ok(text) => text,
        Err(r) => return r.into_response(),
    };
    if ctx.plane_ctl.is_some() {
        return super::control::mesh_rollback(ctx, caller, &headers, &text).await;
    }
    if ctx.plane.mesh_managed() {
        return super::control::mesh_managed().into_response();
    }
    policy_call(&ctx, move |p| p.rollback(&text, &caller.who)).await
}

/// Prometheus metrics: `OpenMetrics` text when the scraper asks for it
/// (`Accept: application/openmetrics-text`), else the text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4, or OpenMetrics text when asked for", content_type = "text/plain", body = String), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn metrics(
    State(ctx): State<Arc<Ctx>>,
    headers: axum::http::HeaderMap,
) -> Response {
    use crate::agent::metrics::{CONTENT_TYPE, TEXT_CONTENT_TYPE};
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], ctx.metrics.encode()).into_response()
    } else {
        ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], ctx.metrics.encode_text()).into_response()
    }
}

/// Liveness: answers without a token.
#[utoipa::path(get, path = "/api/v1/health", tag = "meta",
    responses((status = 200, description = "the agent runs", body = serde_json::Value)))]
pub(crate) async fn health(State(ctx): State<Arc<Ctx>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "site": ctx.status.get().site }))
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", body = serde_json::Value)))]
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::openapi::document()).into_response()
}
