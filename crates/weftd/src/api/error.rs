//! JSON errors and the extractors that turn malformed requests into them.
//!
//! Every failure the API answers is an [`ApiError`] body with a stable code;
//! axum's own rejections (bad query strings, bad JSON, unknown routes) are
//! mapped to the same shape so clients parse one format.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use weft_api::ApiError;

/// An error answer: a status and a JSON body.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) StatusCode, pub(crate) ApiError);

impl Failure {
    /// 400 `bad_request`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, ApiError::new("bad_request", message))
    }

    /// 404 `not_found`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self(StatusCode::NOT_FOUND, ApiError::new("not_found", message))
    }

    /// 409 `conflict`.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self(StatusCode::CONFLICT, ApiError::new("conflict", message))
    }

    /// 503 `unavailable`: the control loop did not answer.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self(StatusCode::SERVICE_UNAVAILABLE, ApiError::new("unavailable", message))
    }

    /// 500 `internal`: the client reads `internal error (id ..)`, the
    /// chain goes to the log under that id (see [`super::incident`]).
    /// A full state directory is 507 `storage_full` instead, which says so.
    pub(crate) fn internal(err: &anyhow::Error) -> Self {
        if super::incident::storage_full(err) {
            let incident = super::incident::full(err);
            return Self(
                StatusCode::INSUFFICIENT_STORAGE,
                ApiError::new("storage_full", incident.message),
            );
        }
        let incident = super::incident::internal(err);
        Self(StatusCode::INTERNAL_SERVER_ERROR, ApiError::new("internal", incident.message))
    }

    /// `status` with `code` and `message`; a 5xx message (written by the
    /// store, the control plane) goes to the log and the client gets an id.
    pub(crate) fn from_parts(status: StatusCode, code: &str, message: String) -> Self {
        if status.is_server_error() {
            let incident = super::incident::hidden(status.as_u16(), code, &message);
            Self(status, ApiError::new(code, incident.message))
        } else {
            Self(status, ApiError::new(code, message))
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(&e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// The result of a handler.
pub(crate) type ApiResult<T> = Result<T, Failure>;

/// Largest id the store holds (SQLite integers are signed 64-bit).
pub(crate) const MAX_ID: u64 = i64::MAX as u64;

/// An id or cursor from a client: a number the store can hold.
pub(crate) fn parse_id(what: &str, s: &str) -> ApiResult<u64> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n <= MAX_ID)
        .ok_or_else(|| Failure::bad_request(format!("{what} {s:?} is not an id this API gave")))
}

/// Refuses an id from a typed path or query parameter beyond [`MAX_ID`].
pub(crate) fn check_id(what: &str, n: u64) -> ApiResult<u64> {
    if n <= MAX_ID {
        Ok(n)
    } else {
        Err(Failure::bad_request(format!("{what} {n} is out of range")))
    }
}

/// `Query<T>` whose rejection is a JSON 400.
#[derive(Debug)]
pub(crate) struct Q<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| Failure::bad_request(e.body_text()))
    }
}

/// `Path<T>` whose rejection is a JSON 400.
#[derive(Debug)]
pub(crate) struct P<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| Failure::bad_request(e.body_text()))
    }
}

/// `Json<T>` whose rejection is a JSON 400 (or 413 when too large); an
/// empty body reads as `T::default()`.
#[derive(Debug)]
pub(crate) struct J<T>(pub(crate) T);

impl<T: DeserializeOwned + Default + Send, S: Send + Sync> FromRequest<S> for J<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let B(bytes) = B::from_request(req, state).await?;
        // JSON's own whitespace only (RFC 8259: space, tab, LF, CR); a
        // form feed, which `is_ascii_whitespace` allows, is not JSON.
        if bytes.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            return Ok(Self(T::default()));
        }
        // `null` is an empty body too (the schema says the body is optional).
        let value = json_object(&bytes)?;
        if value.is_null() {
            return Ok(Self(T::default()));
        }
        serde_json::from_value(value)
            .map(Self)
            .map_err(|e| Failure::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// A JSON body that is an object (or `null`): serde would otherwise read a
/// struct from an array too.
pub(crate) fn json_object(bytes: &[u8]) -> ApiResult<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Failure::bad_request(format!("invalid JSON body: {e}")))?;
    if value.is_object() || value.is_null() {
        Ok(value)
    } else {
        Err(Failure::bad_request("the body must be a JSON object"))
    }
}

/// The raw body, whose rejection (too large, unreadable) is JSON.
#[derive(Debug)]
pub(crate) struct B(pub(crate) axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for B {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state).await.map(Self).map_err(|e| {
            let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "bad_request"
            };
            Failure(e.status(), ApiError::new(code, e.body_text()))
        })
    }
}

/// Answers unknown routes.
pub(crate) async fn not_found() -> Failure {
    Failure::not_found("no such endpoint (see /api/v1/openapi.json)")
}

/// Answers known routes called with another method.
pub(crate) async fn method_not_allowed() -> Failure {
    Failure(
        StatusCode::METHOD_NOT_ALLOWED,
        ApiError::new("method_not_allowed", "this endpoint does not take that method"),
    )
}
