//! The smallest HTTP/1.1 client etcd's JSON gateway needs: one `POST` per
//! connection (`Connection: close`), a body of JSON, an answer read to the
//! end (chunked or not), all before a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The deadline passed.
    #[error("no answer from {0} before the deadline")]
    Timeout(SocketAddr),
    /// Connecting, writing or reading failed.
    #[error("{addr}: {source}")]
    Io {
        /// The endpoint.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// Not HTTP, or not JSON.
    #[error("{addr}: malformed answer: {why}")]
    Malformed {
        /// The endpoint.
        addr: SocketAddr,
        /// What was wrong.
        why: String,
    },
    /// An HTTP error status, with etcd's message.
    #[error("{addr}: HTTP {status}: {body}")]
    Status {
        /// The endpoint.
        addr: SocketAddr,
        /// The status code.
        status: u16,
        /// The body (etcd's error as JSON).
        body: String,
    },
}

fn left(deadline: Instant, addr: SocketAddr) -> Result<Duration, HttpError> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() { Err(HttpError::Timeout(addr)) } else { Ok(d) }
}

fn io(addr: SocketAddr) -> impl Fn(std::io::Error) -> HttpError {
    move |source| match source.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => HttpError::Timeout(addr),
        _ => HttpError::Io { addr, source },
    }
}

/// `POST`s `body` to `http://addr{path}` and returns the JSON answer.
pub fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
    deadline: Instant,
) -> Result<serde_json::Value, HttpError> {
    let mut stream = TcpStream::connect_timeout(&addr, left(deadline, addr)?).map_err(io(addr))?;
    stream.set_nodelay(true).map_err(io(addr))?;
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.set_write_timeout(Some(left(deadline, addr)?)).map_err(io(addr))?;
    stream.write_all(request.as_bytes()).map_err(io(addr))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        stream.set_read_timeout(Some(left(deadline, addr)?)).map_err(io(addr))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(addr)(e)),
        }
        if raw.len() > 1 << 22 {
            return Err(HttpError::Malformed { addr, why: "answer over 4 MiB".into() });
        }
    }
    parse(addr, &raw)
}

fn parse(addr: SocketAddr, raw: &[u8]) -> Result<serde_json::Value, HttpError> {
    let bad = |why: &str| HttpError::Malformed { addr, why: why.to_owned() };
    let split =
        raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("header not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let rest = &raw[split + 4..];
    let body =
        if chunked { dechunk(rest).ok_or_else(|| bad("bad chunked body"))? } else { rest.to_vec() };
    if status != 200 {
        return Err(HttpError::Status {
            addr,
            status,
            body: String::from_utf8_lossy(&body).into(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| bad(&format!("not JSON: {e}")))
}

/// The body of a chunked transfer (the gateway streams its answers).
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:2379".parse().unwrap()
    }

    #[test]
    fn plain_and_chunked_answers_parse_and_errors_carry_the_status() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"a\":1}\n";
        assert_eq!(parse(addr(), plain).unwrap()["a"], 1);
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n3\r\n 2}\r\n0\r\n\r\n";
        assert_eq!(parse(addr(), chunked).unwrap()["a"], 2);
        let err = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nnope!";
        assert!(matches!(parse(addr(), err), Err(HttpError::Status { status: 400, .. })));
        assert!(parse(addr(), b"garbage").is_err());
        assert!(
            parse(addr(), b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }

    #[test]
    fn a_silent_endpoint_times_out_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = listener.local_addr().unwrap();
        let started = Instant::now();
        let r = post_json(
            a,
            "/v3/kv/range",
            &serde_json::json!({}),
            started + Duration::from_millis(200),
        );
        assert!(matches!(r, Err(HttpError::Timeout(_))), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(listener);
    }
}
