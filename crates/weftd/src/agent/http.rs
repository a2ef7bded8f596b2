//! A small HTTP/1.1 server for the agent's local API.
//!
//! It serves `GET /api/v1/paths` (JSON) and `GET /metrics` (Prometheus text)
//! from the latest published [`Status`], and the policy endpoints
//! (`policy_api`). Errors are JSON with a stable `code` and a human
//! `message`; bodies are limited to [`MAX_BODY`]. One short-lived connection
//! at a time is plenty for a local port; the full API (issue "operator
//! surfaces") replaces it with axum.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::policy_api::{PolicyApi, Reply};
use super::status::Status;

/// The latest status, shared between the control loop and the server.
pub(crate) type SharedStatus = Arc<Mutex<Status>>;

/// Largest request body accepted (a policy document).
pub(crate) const MAX_BODY: usize = 4 << 20;

/// Serves requests on `listener` until the process ends.
pub(crate) fn serve(listener: &TcpListener, status: &SharedStatus, api: &PolicyApi) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = handle(stream, status, api);
    }
}

struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

fn read_request(stream: &TcpStream) -> Result<Request, Reply> {
    let bad = |m: &str| Reply::error(400, "bad_request", m);
    let mut reader = BufReader::new(stream.try_clone().map_err(|_| bad("socket"))?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).map_err(|_| bad("unreadable request line"))?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(m), Some(t)) => (m.to_owned(), t.to_owned()),
        _ => return Err(bad("malformed request line")),
    };
    let mut length = 0usize;
    let mut authorization = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|_| bad("unreadable headers"))? == 0
            || line.trim().is_empty()
        {
            break;
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().map_err(|_| bad("bad Content-Length"))?,
            "authorization" => authorization = Some(value.to_owned()),
            _ => {}
        }
    }
    if length > MAX_BODY {
        return Err(Reply::error(
            413,
            "too_large",
            format!("bodies are limited to {MAX_BODY} bytes"),
        ));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).map_err(|_| bad("body shorter than Content-Length"))?;
    let body = String::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
    let path = target.split('?').next().unwrap_or("").to_owned();
    Ok(Request { method, path, authorization, body })
}

fn route(
    req: &Request,
    who: &str,
    status: &SharedStatus,
    api: &PolicyApi,
) -> (u16, &'static str, String) {
    let json = |r: Reply| {
        let body = serde_json::to_string_pretty(&r.body).unwrap_or_default();
        (r.status, "application/json", body)
    };
    // `policy/check` is a POST (it carries a document) but changes nothing.
    let write = matches!(req.method.as_str(), "POST" | "PUT" | "DELETE")
        && req.path != "/api/v1/policy/check";
    if write && !api.authorized(req.authorization.as_deref()) {
        api.audit_unauthorized(who, &format!("{} {}", req.method, req.path));
        return json(Reply::error(
            401,
            "unauthorized",
            "writes need Authorization: Bearer <STATE_DIR/api.token>",
        ));
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/paths") => {
            (200, "application/json", status.lock().map(|s| s.paths_json()).unwrap_or_default())
        }
        ("GET", "/metrics") => (
            200,
            "text/plain; version=0.0.4",
            status.lock().map(|s| s.prometheus()).unwrap_or_default(),
        ),
        ("GET", "/api/v1/policy") => json(api.running()),
        ("GET", "/api/v1/policy/versions") => json(api.versions()),
        ("GET", p) if p.starts_with("/api/v1/policy/versions/") => {
            json(api.version(&p["/api/v1/policy/versions/".len()..]))
        }
        ("GET", "/api/v1/audit") => json(api.audit_log()),
        ("POST", "/api/v1/policy/check") => json(api.check(&req.body)),
        ("POST", "/api/v1/policy") => json(api.apply(&req.body, who)),
        ("POST", "/api/v1/policy/rollback") => json(api.rollback(&req.body, who)),
        ("GET" | "POST", _) => json(Reply::error(404, "not_found", "no such endpoint")),
        _ => json(Reply::error(405, "method_not_allowed", "only GET and POST are served here")),
    }
}

fn handle(mut stream: TcpStream, status: &SharedStatus, api: &PolicyApi) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let who = stream.peer_addr().map_or_else(|_| "api".to_owned(), |a| format!("api {a}"));
    let (code, ctype, body) = match read_request(&stream) {
        Ok(req) => route(&req, &who, status, api),
        Err(r) => (r.status, "application/json", r.body.to_string()),
    };
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        _ => "Internal Server Error",
    };
    let code = format!("{code} {reason}");
    write!(
        stream,
        "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
