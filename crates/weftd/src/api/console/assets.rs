//! The console's static files, embedded in the binary: its own stylesheet
//! and script, and the vendored front-end libraries (pinned versions from
//! the npm registry; `vendor/SHA256SUMS` lists their checksums,
//! `vendor/LICENSES` their licences, `scripts/vendor-console.sh` updates them).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes) of every file under `/ui/static/`.
const FILES: &[(&str, &str, &[u8])] = &[
    ("console.css", "text/css; charset=utf-8", include_bytes!("static/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_bytes!("static/console.js")),
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("vendor/htmx.min.js")),
    (
        "htmx-ext-sse.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("vendor/htmx-ext-sse.min.js"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("vendor/uPlot.iife.min.js"),
    ),
    ("uPlot.min.css", "text/css; charset=utf-8", include_bytes!("vendor/uPlot.min.css")),
    ("LICENSES", "text/plain; charset=utf-8", include_bytes!("vendor/LICENSES")),
];

/// `GET /ui/static/{name}` (no session needed: nothing in them is secret).
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, bytes)) => {
            ([(header::CONTENT_TYPE, *ty), (header::CACHE_CONTROL, "public, max-age=3600")], *bytes)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::FILES;

    /// The embedded vendored files are the ones `vendor/SHA256SUMS` names
    /// (the checksum itself is verified by `scripts/vendor-console.sh --check`).
    #[test]
    fn every_vendored_file_listed_in_the_checksums_is_embedded() {
        let sums = include_str!("vendor/SHA256SUMS");
        for line in sums.lines() {
            let name = line.split_whitespace().nth(1).expect("name");
            let name = name.trim_start_matches('*');
            assert!(FILES.iter().any(|(n, _, _)| *n == name), "{name} not embedded");
        }
    }
}
