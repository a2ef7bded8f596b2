//! Request ids: every mutating request (and any request that brings an
//! `X-Request-Id`) runs under an id that is answered in the `X-Request-Id`
//! header, stamped on the audit records it writes and carried by the log
//! lines it causes (the API's own line, and the effect's, e.g. the control
//! loop's "policy ... running").
//!
//! A client's id is kept when it is 1..=64 characters of `A-Z a-z 0-9 . _
//! : -` (so it cannot forge log or header syntax); otherwise, or without
//! one, the agent draws 16 hex digits.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use crate::log::context;

/// The header that carries the id, both ways.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client id kept.
const MAX_LEN: usize = 64;

/// Longest path written on the API's log line (the rest is cut).
const MAX_LOGGED_PATH: usize = 160;

/// The middleware: assigns the id, runs the request under it, answers it
/// and logs one line (`API: METHOD PATH -> STATUS (request ID)`); a read
/// without an id is logged only at level debug (`API: GET PATH -> STATUS`).
pub(crate) async fn assign(req: Request, next: Next) -> Response {
    let client = req.headers().get(&HEADER).map(|v| sane(v.as_bytes()));
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let id: Arc<str> = match client {
        Some(Some(id)) => id.into(),
        Some(None) => generate().into(),
        None if mutating => generate().into(),
        None if crate::log::enabled(crate::log::Level::Debug) => {
            let method = req.method().clone();
            let path: String = req.uri().path().chars().take(MAX_LOGGED_PATH).collect();
            let res = next.run(req).await;
            crate::log_debug!(Api, "API: {method} {path} -> {}", res.status().as_u16());
            return res;
        }
        None => return next.run(req).await,
    };
    let method = req.method().clone();
    let path: String = req.uri().path().chars().take(MAX_LOGGED_PATH).collect();
    let mut res = context::scope(id.clone(), async {
        let res = next.run(req).await;
        crate::log_info!(Api, "API: {method} {path} -> {} (request {id})", res.status().as_u16());
        res
    })
    .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, v);
    }
    res
}

/// The client's id if it is one the agent keeps as it is.
fn sane(raw: &[u8]) -> Option<String> {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || b".:_-".contains(b);
    (!raw.is_empty() && raw.len() <= MAX_LEN && raw.iter().all(ok))
        .then(|| String::from_utf8_lossy(raw).into_owned())
}

/// Sixteen hex digits from the OS's random source (the time if it fails:
/// predictable, never absent).
fn generate() -> String {
    let mut raw = [0u8; 8];
    let n = match getrandom::fill(&mut raw) {
        Ok(()) => u64::from_be_bytes(raw),
        Err(_) => super::unix_ms().unsigned_abs(),
    };
    format!("{n:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_kept_only_when_short_and_plain() {
        assert_eq!(sane(b"deploy-42.step:3_a").as_deref(), Some("deploy-42.step:3_a"));
        assert_eq!(sane(&[b'a'; 64]).map(|s| s.len()), Some(64));
        for bad in [&b""[..], &[b'a'; 65], b"a b", b"a\"b", b"a\nb", "é".as_bytes(), b"{}"] {
            assert_eq!(sane(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_sixteen_hex_digits_and_differ() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }
}
