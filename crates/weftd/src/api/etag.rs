//! Conditional GETs: every JSON answer to a GET carries a strong `ETag`
//! computed from its body (so it changes exactly when the state it shows
//! does), and `If-None-Match` with the same tag gets `304 Not Modified`
//! with no body.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Largest body buffered to compute a tag. Pages bound every answer far
/// below it (1000 items); a larger one is answered 500 rather than sent untagged.
const MAX_TAGGED: usize = 64 << 20;

/// The middleware.
pub(crate) async fn conditional_get(req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let wanted = req.headers().get(header::IF_NONE_MATCH).cloned();
    let res = next.run(req).await;
    // Answers from the render cache carry their tag (and did the 304) already.
    if res.headers().contains_key(header::ETAG) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if res.status() != StatusCode::OK || !is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_TAGGED).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(tag_value) = HeaderValue::from_str(&tag(&bytes)) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if wanted.as_ref().is_some_and(|w| matches(w, &tag_value)) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, tag_value);
        return r;
    }
    parts.headers.insert(header::ETAG, tag_value);
    Response::from_parts(parts, Body::from(bytes))
}

/// The strong tag of a body.
pub(crate) fn tag(body: &[u8]) -> String {
    format!("\"{:016x}\"", fnv1a(body))
}

/// Whether an `If-None-Match` value names `tag`.
pub(crate) fn matches(header: &HeaderValue, tag: &HeaderValue) -> bool {
    let Ok(tag) = tag.to_str() else { return false };
    header.to_str().is_ok_and(|h| {
        h.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == tag || t.strip_prefix("W/") == Some(tag))
    })
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let tag = HeaderValue::from_static("\"00ff\"");
        for h in ["\"00ff\"", "\"a\", \"00ff\"", "W/\"00ff\"", "*"] {
            assert!(matches(&HeaderValue::from_static(h), &tag), "{h}");
        }
        assert!(!matches(&HeaderValue::from_static("\"00fe\""), &tag));
    }
}
