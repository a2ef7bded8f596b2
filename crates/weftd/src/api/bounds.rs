//! Bounds on what a request may carry, checked before authentication and
//! before any handler reads it; each refusal is a JSON [`weft_api::ApiError`].
//!
//! | what | bound | answer |
//! |---|---|---|
//! | path and query string | [`MAX_URI`] bytes | 414 `uri_too_long` |
//! | query string | [`MAX_QUERY`] bytes | 414 `uri_too_long` |
//! | one path segment (a path parameter) | [`MAX_SEGMENT`] bytes | 400 `bad_request` |
//! | header fields | [`MAX_HEADERS`] fields, [`MAX_HEADER_BYTES`] bytes | 431 `headers_too_large` |
//! | body | [`MAX_BODY`] bytes (declared or read) | 413 `too_large` |
//!
//! hyper's own limits sit above these (about 400 KiB of request head, 100
//! header fields) and answer with empty 414/431 bodies.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use weft_api::ApiError;

use super::error::Failure;

/// Largest request body (a policy document).
pub(crate) const MAX_BODY: usize = 4 << 20;
/// Largest path plus query string.
pub(crate) const MAX_URI: usize = 8 << 10;
/// Largest query string.
pub(crate) const MAX_QUERY: usize = 4 << 10;
/// Largest path segment, as sent (percent-encoded).
pub(crate) const MAX_SEGMENT: usize = 256;
/// Most header fields.
pub(crate) const MAX_HEADERS: usize = 64;
/// Largest sum of header names and values.
pub(crate) const MAX_HEADER_BYTES: usize = 16 << 10;

/// `router` with the bounds of this module (outermost: they run first).
pub(crate) fn bounded<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(DefaultBodyLimit::max(MAX_BODY)).layer(middleware::from_fn(check))
}

/// Refuses a request past a bound; passes the others on.
async fn check(req: Request, next: Next) -> Response {
    match refusal(&req) {
        Some(f) => f.into_response(),
        None => next.run(req).await,
    }
}

/// Why `req` is refused, if it is.
fn refusal(req: &Request) -> Option<Failure> {
    let uri = req.uri();
    let query = uri.query().unwrap_or("");
    let whole = uri.path().len() + query.len();
    if whole > MAX_URI || query.len() > MAX_QUERY {
        return Some(Failure(
            StatusCode::URI_TOO_LONG,
            ApiError::new(
                "uri_too_long",
                format!(
                    "the path and query are {whole} bytes and the query {} (at most {MAX_URI} and {MAX_QUERY})",
                    query.len()
                ),
            ),
        ));
    }
    if let Some(seg) = uri.path().split('/').find(|s| s.len() > MAX_SEGMENT) {
        return Some(Failure::bad_request(format!(
            "a path segment is {} bytes (at most {MAX_SEGMENT})",
            seg.len()
        )));
    }
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(Failure(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::new(
                "headers_too_large",
                format!(
                    "{} header fields of {bytes} bytes (at most {MAX_HEADERS} fields, {MAX_HEADER_BYTES} bytes)",
                    headers.len()
                ),
            ),
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Some(Failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::new("too_large", format!("the body is larger than {MAX_BODY} bytes")),
        ));
    }
    None
}

#[cfg(test)]
#[path = "bounds_tests.rs"]
mod tests;
