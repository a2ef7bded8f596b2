//! The log level at run time: `GET /api/v1/log` reads the settings,
//! `PUT /api/v1/log` (`{"level": "debug"}`) changes the level at once.
//! Both need scope admin (debug lines name more of the agent's internals);
//! a change is audited (`log.level`, before and after) and logged.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use weft_api::{ApiError, LogFormat, LogLevel, LogLevelSet, LogSettings};

use super::auth::Caller;
use super::error::{ApiResult, B, Failure};
use super::{Ctx, blocking, unix_ms};
use crate::log;
use crate::store::NewAudit;

fn to_api(level: log::Level) -> LogLevel {
    match level {
        log::Level::Error => LogLevel::Error,
        log::Level::Warn => LogLevel::Warn,
        log::Level::Info => LogLevel::Info,
        log::Level::Debug => LogLevel::Debug,
    }
}

fn from_api(level: LogLevel) -> log::Level {
    match level {
        LogLevel::Error => log::Level::Error,
        LogLevel::Warn => log::Level::Warn,
        LogLevel::Info => log::Level::Info,
        LogLevel::Debug => log::Level::Debug,
    }
}

fn settings() -> LogSettings {
    let format = match log::format() {
        log::Format::Human => LogFormat::Human,
        log::Format::Json => LogFormat::Json,
    };
    LogSettings { level: to_api(log::level()), format }
}

/// The log level and format in force.
#[utoipa::path(get, path = "/api/v1/log", tag = "admin",
    responses((status = 200, body = LogSettings), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn get() -> Json<LogSettings> {
    Json(settings())
}

/// Sets the log level (until the next change or a restart); audited.
#[utoipa::path(put, path = "/api/v1/log", tag = "admin", request_body = LogLevelSet,
    responses((status = 200, description = "the settings now in force", body = LogSettings),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn put(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    B(body): B,
) -> ApiResult<Json<LogSettings>> {
    let set: LogLevelSet = serde_json::from_slice(&body).map_err(|e| {
        Failure::bad_request(format!(
            "body must be {{\"level\": \"error\"|\"warn\"|\"info\"|\"debug\"}}: {e}"
        ))
    })?;
    let before = log::level();
    let after = from_api(set.level);
    let store = ctx.store.clone();
    let now = unix_ms();
    let who = caller.who.clone();
    // Audited first: a level the record does not show is never in force.
    blocking(move || {
        store.audit(
            &NewAudit {
                who,
                action: "log.level".to_owned(),
                target: "log".to_owned(),
                before: Some(before.as_str().to_owned()),
                after: Some(after.as_str().to_owned()),
                detail: String::new(),
            },
            now,
        )
    })
    .await?;
    log::set_level(after);
    // Written at warn, so the change shows at every level but error.
    crate::log_warn!(Api, "log level {before} -> {after} (by {})", caller.who);
    Ok(Json(settings()))
}
