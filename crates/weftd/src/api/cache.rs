//! Rendered answers of the lists drawn from the published status, kept per
//! status generation: the control loop publishes every 200 ms, so under load
//! one render (serialise + tag) serves every request until the next
//! publication instead of one render per request.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{ApiResult, Failure};

/// Most distinct URIs kept (beyond it the cache starts over).
const MAX_ENTRIES: usize = 256;

#[derive(Clone)]
struct Rendered {
    generation: u64,
    body: Bytes,
    etag: HeaderValue,
}

/// The cache (one per API).
#[derive(Default)]
pub(crate) struct RenderCache {
    entries: Mutex<HashMap<String, Rendered>>,
}

impl RenderCache {
    /// The answer to `uri` for status `generation`: from the cache, or from
    /// `build` (then kept). Honours `If-None-Match`.
    pub(crate) fn answer<T: Serialize>(
        &self,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        generation: u64,
        build: impl FnOnce() -> ApiResult<T>,
    ) -> ApiResult<Response> {
        let key = uri.path_and_query().map_or_else(|| uri.path().to_owned(), ToString::to_string);
        let hit = self.lock().get(&key).filter(|r| r.generation == generation).cloned();
        let r = if let Some(r) = hit {
            r
        } else {
            let body = serde_json::to_vec(&build()?)
                .map_err(|e| Failure::internal(&anyhow::anyhow!("serialising: {e}")))?;
            let etag = HeaderValue::from_str(&super::etag::tag(&body))
                .map_err(|e| Failure::internal(&anyhow::anyhow!("{e}")))?;
            let r = Rendered { generation, body: Bytes::from(body), etag };
            let mut entries = self.lock();
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, r.clone());
            r
        };
        if headers.get(header::IF_NONE_MATCH).is_some_and(|w| super::etag::matches(w, &r.etag)) {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, r.etag)]).into_response());
        }
        Ok((
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (header::ETAG, r.etag),
            ],
            r.body,
        )
            .into_response())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Rendered>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
