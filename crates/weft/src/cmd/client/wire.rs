//! HTTP/1.1 on the wire: writing a request, reading a response head, and
//! reading its body (`Content-Length`, `Transfer-Encoding: chunked`, or until
//! the connection closes).
//!
//! Malformed input is an [`io::Error`] of kind [`io::ErrorKind::InvalidData`];
//! the client turns it into a protocol error.

use std::fmt::Write as _;
use std::io::{self, BufRead, Read, Write};

/// Longest status or header line accepted.
const MAX_LINE: usize = 16 * 1024;
/// Most header lines accepted in one response head.
const MAX_HEADERS: usize = 128;

/// A status line and the headers of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// Status code (`200`, `404`, ...).
    pub(crate) status: u16,
    /// Reason phrase (`OK`), possibly empty.
    pub(crate) reason: String,
    /// Header names and values in arrival order, names as sent.
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the body is sent in chunks.
    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.split(',').any(|c| c.trim().eq_ignore_ascii_case("chunked")))
    }
}

/// A request as it is written: `Connection: close` always, a body when given.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    /// `GET`, `POST`, `DELETE`, ...
    pub(crate) method: &'a str,
    /// Path and query (`/api/v1/paths?site=b`), already percent-encoded.
    pub(crate) target: &'a str,
    /// `Host` header value.
    pub(crate) host: &'a str,
    /// Further headers (`Authorization`, `Accept`, `Last-Event-ID`, ...).
    pub(crate) headers: Vec<(&'a str, String)>,
    /// Content type and bytes of the body, if any.
    pub(crate) body: Option<(&'a str, &'a [u8])>,
}

/// Writes `req` to `w` (one `write_all` for the head, one for the body).
pub(crate) fn write_request(w: &mut impl Write, req: &Request<'_>) -> io::Result<()> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: weft/{}\r\nConnection: close\r\n",
        req.method,
        req.target,
        req.host,
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in &req.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if let Some((content_type, body)) = req.body {
        let _ =
            write!(head, "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len());
        w.write_all(head.as_bytes())?;
        w.write_all(body)?;
    } else {
        if matches!(req.method, "POST" | "PUT" | "PATCH") {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
    }
    w.flush()
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one CRLF- (or LF-) terminated line without its terminator.
/// `Ok(None)` at a clean end of input before any byte.
fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = r.by_ref().take(MAX_LINE as u64 + 2).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if n > MAX_LINE {
            invalid("a header line of the agent's answer is too long")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "the agent closed the connection mid-line")
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map(Some).map_err(|_| invalid("a header line is not UTF-8"))
}

/// Reads a response head, skipping interim `1xx` answers.
pub(crate) fn read_head(r: &mut impl BufRead) -> io::Result<Head> {
    loop {
        let Some(status_line) = read_line(r)? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the agent closed the connection without answering",
            ));
        };
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(invalid(format!("not an HTTP/1.x answer: {status_line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let reason = parts.next().unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let line = read_line(r)?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "the answer ended inside its head")
            })?;
            if line.is_empty() {
                break;
            }
            if headers.len() == MAX_HEADERS {
                return Err(invalid("the agent's answer has too many headers"));
            }
            let (name, value) =
                line.split_once(':').ok_or_else(|| invalid(format!("bad header {line:?}")))?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        if !(100..200).contains(&status) {
            return Ok(Head { status, reason, headers });
        }
    }
}

/// The body of a response, read incrementally.
#[derive(Debug)]
pub(crate) enum Body<R> {
    /// Exactly this many bytes remain.
    Length(io::Take<R>),
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunked<R>),
    /// Everything until the agent closes the connection.
    UntilClose(R),
}

impl<R: BufRead> Body<R> {
    /// The body that follows `head` on `r`.
    pub(crate) fn new(head: &Head, method: &str, r: R) -> io::Result<Self> {
        if method == "HEAD" || head.status == 204 || head.status == 304 {
            return Ok(Self::Length(r.take(0)));
        }
        if head.chunked() {
            return Ok(Self::Chunked(Chunked::new(r)));
        }
        match head.header("content-length") {
            Some(v) => {
                let n: u64 = v.parse().map_err(|_| invalid(format!("bad Content-Length {v:?}")))?;
                Ok(Self::Length(r.take(n)))
            }
            None => Ok(Self::UntilClose(r)),
        }
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Length(r) => {
                let want = r.limit();
                let n = r.read(buf)?;
                if n == 0 && want > 0 && !buf.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the answer is shorter than its Content-Length",
                    ));
                }
                Ok(n)
            }
            Self::Chunked(c) => c.read(buf),
            Self::UntilClose(r) => r.read(buf),
        }
    }
}

/// A decoder of `Transfer-Encoding: chunked` (extensions and trailers ignored).
#[derive(Debug)]
pub(crate) struct Chunked<R> {
    inner: R,
    /// Bytes left in the current chunk.
    left: u64,
    /// The last (zero-sized) chunk and the trailers were read.
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    /// A decoder reading from `inner`, positioned at the first chunk size line.
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, left: 0, done: false }
    }

    /// The reader underneath.
    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        let line = read_line(&mut self.inner)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "the chunked answer ended early")
        })?;
        let size = line.split(';').next().unwrap_or("").trim();
        self.left = u64::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if self.left == 0 {
            // Trailers, up to the blank line.
            while read_line(&mut self.inner)?.is_some_and(|l| !l.is_empty()) {}
            self.done = true;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.left == 0 && !self.done {
            self.next_chunk()?;
        }
        if self.done {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the agent closed the connection inside a chunk",
            ));
        }
        self.left -= n as u64;
        if self.left == 0 {
            match read_line(&mut self.inner)? {
                Some(l) if l.is_empty() => {}
                _ => return Err(invalid("a chunk is not followed by CRLF")),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> (Head, Vec<u8>) {
        let mut r = io::BufReader::new(raw.as_bytes());
        let head = read_head(&mut r).unwrap();
        let mut body = Vec::new();
        Body::new(&head, "GET", r).unwrap().read_to_end(&mut body).unwrap();
        (head, body)
    }

    #[test]
    fn a_content_length_body_is_read_exactly_and_headers_are_kept() {
        let (head, body) =
            parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Thing:  a b \r\n\r\nhelloTRAILING");
        assert_eq!(head.status, 200);
        assert_eq!(head.reason, "OK");
        assert_eq!(head.header("x-thing"), Some("a b"));
        assert_eq!(body, b"hello");
    }

    #[test]
    fn chunked_bodies_are_joined_and_extensions_and_trailers_ignored() {
        let (_, body) = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\nWeft\r\n7\r\n fabric\r\n0\r\nX-T: 1\r\n\r\n",
        );
        assert_eq!(body, b"Weft fabric");
    }

    #[test]
    fn interim_answers_are_skipped() {
        let (head, body) = parse(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
        );
        assert_eq!((head.status, body.as_slice()), (201, b"{}".as_slice()));
    }

    #[test]
    fn a_body_without_length_runs_until_the_connection_closes() {
        let (_, body) = parse("HTTP/1.0 200 OK\r\n\r\nall of it");
        assert_eq!(body, b"all of it");
    }

    #[test]
    fn truncated_and_malformed_answers_are_errors() {
        let mut r = io::BufReader::new(&b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..]);
        let head = read_head(&mut r).unwrap();
        let mut body = Vec::new();
        let e = Body::new(&head, "GET", r).unwrap().read_to_end(&mut body).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);

        let e = read_head(&mut io::BufReader::new(&b"SSH-2.0-OpenSSH\r\n"[..])).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let e = read_head(&mut io::BufReader::new(&b""[..])).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);

        let mut r =
            io::BufReader::new(&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..]);
        let head = read_head(&mut r).unwrap();
        let e = Body::new(&head, "GET", r).unwrap().read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn requests_close_the_connection_and_carry_their_body_length() {
        let mut out = Vec::new();
        let req = Request {
            method: "POST",
            target: "/api/v1/paths/3/test",
            host: "localhost",
            headers: vec![("Authorization", "Bearer t".to_owned())],
            body: Some(("application/json", b"{\"probes\":5}")),
        };
        write_request(&mut out, &req).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("POST /api/v1/paths/3/test HTTP/1.1\r\nHost: localhost\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.contains("Authorization: Bearer t\r\n"));
        assert!(text.ends_with("Content-Length: 12\r\n\r\n{\"probes\":5}"), "{text}");
    }
}
