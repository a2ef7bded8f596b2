//! The bounds and the 500 answer over real HTTP: a small router with the
//! API's layers, served by axum on a loopback port, fed raw requests.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

use axum::routing::{get, post};

use super::*;
use crate::api::error::{ApiResult, B};

/// Serves a router with the API's bounds on a loopback port.
fn serve() -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a port");
    let addr = listener.local_addr().expect("its address");
    let app = bounded(
        Router::new()
            .route("/api/v1/things/{id}", get(|| async { "ok" }))
            .route("/api/v1/body", post(|B(b): B| async move { format!("{} bytes", b.len()) }))
            .route("/api/v1/fail", get(fail)),
    );
    rt.spawn(async move { axum::serve(listener, app).await });
    (addr, rt)
}

async fn fail() -> ApiResult<&'static str> {
    let e = anyhow::anyhow!("no such table: tokens (SELECT hash FROM tokens)")
        .context("reading /var/lib/weft/state.db");
    Err(Failure::internal(&e))
}

/// Sends `head` (request line and headers, no final blank line) and `body`;
/// returns the status and the body of the answer.
fn send(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connecting");
    // A server that waits for more (a body never sent) fails the test, not hangs it.
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("a timeout");
    s.write_all(format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .expect("writing the head");
    // The body from another thread: the server may answer before reading it all.
    let mut w = s.try_clone().expect("a second handle");
    let body = body.to_vec();
    let writer = std::thread::spawn(move || drop(w.write_all(&body)));
    let mut answer = Vec::new();
    // A reset after the answer (the server closed with the body unread) keeps what was read.
    let _ = s.read_to_end(&mut answer);
    let _ = s.shutdown(std::net::Shutdown::Both);
    writer.join().expect("the writer");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

fn code(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["code"].as_str().unwrap_or("").to_owned()
}

#[test]
fn requests_within_the_bounds_are_served() {
    let (addr, _rt) = serve();
    let id = "a".repeat(MAX_SEGMENT);
    let q = "q=".to_owned() + &"b".repeat(MAX_QUERY - 2);
    assert_eq!(
        send(addr, &format!("GET /api/v1/things/{id}?{q} HTTP/1.1"), b""),
        (200, "ok".into())
    );
    let body = vec![b'x'; 1000];
    let head = "POST /api/v1/body HTTP/1.1\r\nContent-Length: 1000";
    assert_eq!(send(addr, head, &body), (200, "1000 bytes".into()));
}

#[test]
fn a_long_path_parameter_is_a_400() {
    let (addr, _rt) = serve();
    let id = "a".repeat(MAX_SEGMENT + 1);
    let (status, body) = send(addr, &format!("GET /api/v1/things/{id} HTTP/1.1"), b"");
    assert_eq!((status, code(&body).as_str()), (400, "bad_request"), "{body}");
    assert!(body.contains("path segment is 257 bytes"), "{body}");
}

#[test]
fn a_long_query_string_or_uri_is_a_414() {
    let (addr, _rt) = serve();
    let q = "q=".to_owned() + &"b".repeat(MAX_QUERY);
    let (status, body) = send(addr, &format!("GET /api/v1/things/1?{q} HTTP/1.1"), b"");
    assert_eq!((status, code(&body).as_str()), (414, "uri_too_long"), "{body}");
    let path = format!("/{}", "c/".repeat(MAX_URI / 2));
    let (status, body) = send(addr, &format!("GET {path} HTTP/1.1"), b"");
    assert_eq!((status, code(&body).as_str()), (414, "uri_too_long"), "{body}");
}

#[test]
fn too_many_or_too_large_headers_are_a_431() {
    let (addr, _rt) = serve();
    let many = (0..MAX_HEADERS).fold(String::new(), |mut s, i| {
        let _ = write!(s, "\r\nX-H{i}: v");
        s
    });
    let (status, body) = send(addr, &format!("GET /api/v1/things/1 HTTP/1.1{many}"), b"");
    assert_eq!((status, code(&body).as_str()), (431, "headers_too_large"), "{body}");
    let big = "v".repeat(MAX_HEADER_BYTES);
    let (status, body) = send(addr, &format!("GET /api/v1/things/1 HTTP/1.1\r\nX-Big: {big}"), b"");
    assert_eq!((status, code(&body).as_str()), (431, "headers_too_large"), "{body}");
}

#[test]
fn a_body_declared_or_sent_past_the_limit_is_a_413() {
    let (addr, _rt) = serve();
    // Declared: refused before a byte of the body is read.
    let head = format!("POST /api/v1/body HTTP/1.1\r\nContent-Length: {}", MAX_BODY + 1);
    let (status, body) = send(addr, &head, b"");
    assert_eq!((status, code(&body).as_str()), (413, "too_large"), "{body}");
    // Chunked, with no length: refused once the limit is read.
    let chunk = vec![b'x'; 1 << 20];
    let mut chunked = Vec::new();
    for _ in 0..5 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /api/v1/body HTTP/1.1\r\nTransfer-Encoding: chunked";
    let (status, body) = send(addr, head, &chunked);
    assert_eq!((status, code(&body).as_str()), (413, "too_large"), "{body}");
}

#[test]
fn a_500_says_internal_error_with_an_id_and_nothing_of_the_chain() {
    let (addr, _rt) = serve();
    let (status, body) = send(addr, "GET /api/v1/fail HTTP/1.1", b"");
    assert_eq!((status, code(&body).as_str()), (500, "internal"), "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let message = v["message"].as_str().expect("a message");
    let id = message
        .strip_prefix("internal error (id ")
        .and_then(|m| m.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{message}"));
    assert!(id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{message}");
    for leak in ["/var/lib", "SELECT", "tokens", "state.db"] {
        assert!(!body.contains(leak), "{leak} in {body}");
    }
}
