//! A small HTTP/1.1 server for the agent's local status endpoints.
//!
//! It serves `GET /api/v1/paths` (JSON) and `GET /metrics` (Prometheus text)
//! from the latest published [`Status`]; anything else is a JSON 404, a
//! malformed request a 400. One short-lived connection at a time is plenty
//! for a local status port; the full API (issue "operator surfaces") replaces
//! it with axum.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::status::Status;

/// The latest status, shared between the control loop and the server.
pub(crate) type SharedStatus = Arc<Mutex<Status>>;

/// Serves requests on `listener` until the process ends.
pub(crate) fn serve(listener: &TcpListener, status: &SharedStatus) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = handle(stream, status);
    }
}

fn handle(mut stream: TcpStream, status: &SharedStatus) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (code, ctype, body) = match (method, path) {
        ("GET", "/api/v1/paths") => {
            let s = status.lock().map(|s| s.paths_json()).unwrap_or_default();
            ("200 OK", "application/json", s)
        }
        ("GET", "/metrics") => {
            let s = status.lock().map(|s| s.prometheus()).unwrap_or_default();
            ("200 OK", "text/plain; version=0.0.4", s)
        }
        ("GET", _) => (
            "404 Not Found",
            "application/json",
            r#"{"code":"not_found","message":"no such endpoint"}"#.to_owned(),
        ),
        ("", _) => (
            "400 Bad Request",
            "application/json",
            r#"{"code":"bad_request","message":"malformed request line"}"#.to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "application/json",
            r#"{"code":"method_not_allowed","message":"only GET is served here"}"#.to_owned(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
