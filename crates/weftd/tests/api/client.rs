//! A small raw HTTP/1.1 client for the API tests: over the agent's unix
//! socket or over TCP inside a site, chunked bodies, SSE ids and WebSocket
//! frames. Raw on purpose: the tests see exactly what goes over the wire.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Harness;

/// One answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// HTTP status.
    pub(crate) code: u16,
    /// Header lines.
    pub(crate) headers: Vec<(String, String)>,
    /// The (de-chunked) body.
    pub(crate) text: String,
}

impl Reply {
    /// The body as JSON (`Null` if it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// A header's value.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

fn request(method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: weft\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("connection")) {
        r.push_str("Connection: close\r\n");
    }
    for (n, v) in headers {
        let _ = write!(r, "{n}: {v}\r\n");
    }
    let body = body.unwrap_or("");
    let _ = write!(r, "Content-Length: {}\r\n\r\n{body}", body.len());
    r.into_bytes()
}

fn exchange(mut s: impl Read + Write, req: &[u8]) -> Reply {
    // A server refusing a body early (413) may close before all of it is
    // written: the answer is still there to read.
    if let Err(e) = s.write_all(req) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "send request: {e}");
    }
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "read answer: {e}");
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let code = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked =
        headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    let text = if chunked { dechunk(body) } else { body.to_owned() };
    Reply { code: code.unwrap_or(0), headers, text }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            out.push_str(&rest[..rest.len().min(n)]);
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

fn connect(socket: &Path) -> UnixStream {
    let s =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// A request over the agent's unix socket (the local admin).
pub(crate) fn local(
    h: &Harness,
    i: usize,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    exchange(connect(&h.socket(i)), &request(method, path, body, headers))
}

/// A request over TCP to `127.0.0.1:7420` inside site `i`, with a bearer token.
pub(crate) fn tcp(
    h: &Harness,
    i: usize,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Reply {
    let stream = h
        .lab
        .in_site(i, || std::net::TcpStream::connect("127.0.0.1:7420"))
        .expect("in site")
        .expect("connect to the agent over TCP");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    exchange(stream, &request(method, path, body, &headers))
}

/// Percent-encodes a path segment.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The ids of the SSE events received on `path` within `listen`.
pub(crate) fn sse_ids(
    h: &Harness,
    i: usize,
    path: &str,
    headers: &[(&str, &str)],
    listen: Duration,
) -> Vec<u64> {
    let mut s = connect(&h.socket(i));
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut all = vec![("Accept", "text/event-stream")];
    all.extend_from_slice(headers);
    s.write_all(&request("GET", path, None, &all)).unwrap();
    let mut raw = Vec::new();
    let end = Instant::now() + listen;
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let reply = parse(&raw);
    assert_eq!(reply.code, 200, "{}", reply.text);
    assert!(reply.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")));
    reply
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

/// The first `n` JSON messages of a WebSocket on `path` (waits at most 10 s).
pub(crate) fn websocket_events(h: &Harness, site: usize, path: &str, n: usize) -> Vec<Value> {
    let mut s = connect(&h.socket(site));
    let req = request(
        "GET",
        path,
        None,
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
    );
    s.write_all(&req).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("read the upgrade answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        let mut h2 = [0u8; 2];
        s.read_exact(&mut h2).expect("frame header");
        let opcode = h2[0] & 0x0f;
        let mut len = u64::from(h2[1] & 0x7f);
        if len == 126 {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            len = u64::from(u16::from_be_bytes(l));
        } else if len == 127 {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).unwrap();
            len = u64::from_be_bytes(l);
        }
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload).unwrap();
        if opcode == 1 {
            out.push(serde_json::from_slice(&payload).expect("JSON event"));
        }
    }
    out
}

fn create_token(socket: &Path, name: &str) -> Option<()> {
    let body = format!("{{\"name\":\"{name}\",\"scope\":\"read\"}}");
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(&request("POST", "/api/v1/tokens", Some(&body), &[])).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    (parse(&raw).code == 201).then_some(())
}

/// Creates a read token per name; how many were acknowledged.
pub(crate) fn create_tokens(socket: &Path, names: &[String]) -> usize {
    names.iter().filter(|n| create_token(socket, n).is_some()).count()
}

/// Creates tokens `{prefix}0`, `{prefix}1`, ... until the agent stops
/// answering; the names it acknowledged.
pub(crate) fn create_tokens_until_error(socket: &Path, prefix: &str) -> Vec<String> {
    let mut done = Vec::new();
    for i in 0.. {
        let name = format!("{prefix}{i}");
        if create_token(socket, &name).is_none() {
            break;
        }
        done.push(name);
    }
    done
}
