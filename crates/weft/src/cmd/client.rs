//! The agent's REST API client: blocking HTTP/1.1 on std only.
//!
//! It talks to the agent's local socket by default (`--socket`, root only, no
//! token needed: the agent treats it as its local admin) or to `HOST:PORT`
//! over TCP with `--agent` (then a bearer token from `--token`, `--token-file`
//! or `/var/lib/weft/api.token`). Without either flag it uses the default
//! socket and, if that is missing or refuses connections, falls back to the
//! agent's default TCP address `127.0.0.1:7420` (with the default token
//! file, as for `--agent`).
//!
//! Every request is one connection (`Connection: close`) with a timeout.
//! Bodies may be sized (`Content-Length`), chunked, or run to the close;
//! [`Client::event_stream`] reads a `text/event-stream` body incrementally.
//!
//! # Layout
//! - this file: [`Client`] (connecting, requests, JSON, pages, event streams).
//! - `args`: [`AgentArgs`], the options every agent command flattens in.
//! - `error`: [`ClientError`] and its exit codes.
//! - `query`: [`Query`], [`encode`] and [`collect_pages`].
//! - `wire`: writing requests, reading heads and bodies.
//! - `sse`: the event-stream parser and iterator.
//! - `tls`: HTTPS to remote agents (`--agent https://HOST:PORT --ca FILE`).

mod args;
mod error;
mod query;
mod sse;
mod tls;
mod wire;

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use weft_api::Page;

pub(crate) use args::AgentArgs;
use args::{Token, read_token};
pub(crate) use error::ClientError;
use error::connect_hint;
pub(crate) use query::{Query, collect_pages, encode};
pub(crate) use sse::{SseEvent, SseStream};
pub(crate) use wire::Head;

/// The agent's API socket with the default state directory.
pub(crate) const DEFAULT_SOCKET: &str = "/var/lib/weft/api.sock";
/// The agent's API token with the default state directory.
pub(crate) const DEFAULT_TOKEN_FILE: &str = "/var/lib/weft/api.token";
/// The agent's default TCP listen address (`api_listen`).
pub(crate) const DEFAULT_TCP: &str = "127.0.0.1:7420";
/// How long a request may take unless a command asks for more.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an event stream may stay silent before it is considered lost
/// (the agent sends keep-alive comments well within it).
pub(crate) const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Where a connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The agent's local socket.
    Unix(PathBuf),
    /// `HOST:PORT` over TCP.
    Tcp(String),
    /// `HOST:PORT` over HTTPS, trusting the PEM certificates in `ca`.
    Tls {
        /// `HOST:PORT`.
        addr: String,
        /// The certificate (or CA) the agent's must chain to.
        ca: PathBuf,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "{}", p.display()),
            Self::Tcp(a) => f.write_str(a),
            Self::Tls { addr, .. } => write!(f, "https://{addr}"),
        }
    }
}

/// An open connection.
#[derive(Debug)]
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Unix(s) => s.set_read_timeout(t).and_then(|()| s.set_write_timeout(t)),
            Self::Tcp(s) => s.set_read_timeout(t).and_then(|()| s.set_write_timeout(t)),
            Self::Tls(s) => s.sock.set_read_timeout(t).and_then(|()| s.sock.set_write_timeout(t)),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Unix(s) => s.read(buf),
            Self::Tcp(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Unix(s) => s.write(buf),
            Self::Tcp(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Unix(s) => s.flush(),
            Self::Tcp(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// A complete answer.
#[derive(Debug)]
pub(crate) struct Response {
    /// Status and headers.
    pub(crate) head: Head,
    /// The body, decoded from its transfer encoding.
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The error this answer stands for, if it is not a 2xx.
    pub(crate) fn error(&self) -> Option<ClientError> {
        (!(200..300).contains(&self.head.status))
            .then(|| ClientError::from_status(&self.head, &self.body))
    }

    /// The body as JSON (`null` when empty, a string when not JSON).
    pub(crate) fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }
}

/// A request body: content type and bytes.
pub(crate) type Body<'a> = (&'a str, &'a [u8]);

/// A client of one agent (see the module docs for how it picks the target).
#[derive(Debug)]
pub(crate) struct Client {
    /// Where to connect, in order; the second is only tried when the first
    /// (the default socket) does not exist or refuses.
    targets: Vec<Target>,
    /// The bearer token.
    token: Token,
    /// The target that answered last.
    chosen: Cell<Option<usize>>,
    timeout: Duration,
}

impl Client {
    /// A client of the agent at `target` (tests; commands use [`AgentArgs::client`]).
    #[cfg(test)]
    pub(crate) fn to(target: Target, token: Option<&str>) -> Self {
        Self {
            targets: vec![target],
            token: Token::Given(token.map(ToOwned::to_owned)),
            chosen: Cell::new(None),
            timeout: Duration::from_secs(5),
        }
    }

    /// The same client with another request timeout.
    #[must_use]
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn token_for(&self, target: &Target) -> Option<String> {
        match (&self.token, target) {
            (Token::Given(t), _) => t.clone(),
            (Token::Default(_), Target::Unix(_)) => None,
            (Token::Default(file), Target::Tcp(_) | Target::Tls { .. }) => file
                .get_or_init(|| read_token(std::path::Path::new(DEFAULT_TOKEN_FILE), false))
                .clone(),
        }
    }

    fn tcp(&self, a: &str) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in a.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn connect_one(&self, target: &Target) -> io::Result<Conn> {
        let conn = match target {
            Target::Unix(p) => Conn::Unix(UnixStream::connect(p)?),
            Target::Tcp(a) => Conn::Tcp(self.tcp(a)?),
            Target::Tls { addr, ca } => {
                let tls = tls::connection(addr, ca)?;
                let sock = self.tcp(addr)?;
                sock.set_read_timeout(Some(self.timeout))?;
                let mut stream = rustls::StreamOwned::new(tls, sock);
                // Handshake now, so a bad certificate is a connection error.
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock)?;
                }
                Conn::Tls(Box::new(stream))
            }
        };
        conn.set_timeout(Some(self.timeout))?;
        Ok(conn)
    }

    /// Connects to the first target that answers.
    fn connect(&self) -> Result<(Conn, &Target), ClientError> {
        if let Some(i) = self.chosen.get() {
            let t = &self.targets[i];
            return match self.connect_one(t) {
                Ok(c) => Ok((c, t)),
                Err(source) => Err(ClientError::Unreachable {
                    target: t.to_string(),
                    hint: connect_hint(&source),
                    source,
                }),
            };
        }
        let mut first_err = None;
        for (i, t) in self.targets.iter().enumerate() {
            match self.connect_one(t) {
                Ok(c) => {
                    self.chosen.set(Some(i));
                    return Ok((c, t));
                }
                Err(e) => {
                    // Fall back only from a socket that is not there.
                    let fall_back = matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    );
                    first_err.get_or_insert(e);
                    if !fall_back {
                        break;
                    }
                }
            }
        }
        let source = first_err.unwrap_or_else(|| io::Error::other("no target"));
        let names: Vec<String> = self.targets.iter().map(ToString::to_string).collect();
        Err(ClientError::Unreachable {
            target: names.join(" or "),
            hint: connect_hint(&source),
            source,
        })
    }

    /// Opens a connection, writes a request and reads the answer's head.
    fn start(
        &self,
        method: &str,
        target: &str,
        headers: Vec<(&str, String)>,
        body: Option<Body<'_>>,
    ) -> Result<(Head, BufReader<Conn>, String), ClientError> {
        let (mut conn, t) = self.connect()?;
        let name = t.to_string();
        let host = match t {
            Target::Unix(_) => "localhost",
            Target::Tcp(a) | Target::Tls { addr: a, .. } => a.as_str(),
        };
        let mut headers = headers;
        if let Some(token) = self.token_for(t) {
            headers.push(("Authorization", format!("Bearer {token}")));
        }
        let req = wire::Request { method, target, host, headers, body };
        wire::write_request(&mut conn, &req).map_err(|e| ClientError::from_io(&name, e))?;
        let mut reader = BufReader::new(conn);
        let head = wire::read_head(&mut reader).map_err(|e| ClientError::from_io(&name, e))?;
        Ok((head, reader, name))
    }

    /// Sends a request and reads the whole answer, whatever its status.
    pub(crate) fn send(
        &self,
        method: &str,
        target: &str,
        body: Option<Body<'_>>,
    ) -> Result<Response, ClientError> {
        let accept = vec![("Accept", "application/json".to_owned())];
        let (head, reader, name) = self.start(method, target, accept, body)?;
        let mut bytes = Vec::new();
        wire::Body::new(&head, method, reader)
            .and_then(|mut b| b.read_to_end(&mut bytes))
            .map_err(|e| ClientError::from_io(&name, e))?;
        Ok(Response { head, body: bytes })
    }

    /// Sends a request; a non-2xx answer is an error.
    pub(crate) fn call(
        &self,
        method: &str,
        target: &str,
        body: Option<Body<'_>>,
    ) -> Result<Response, ClientError> {
        let r = self.send(method, target, body)?;
        match r.error() {
            Some(e) => Err(e),
            None => Ok(r),
        }
    }

    /// `GET` and decode the JSON answer.
    pub(crate) fn get<T: DeserializeOwned>(&self, target: &str) -> Result<T, ClientError> {
        let r = self.call("GET", target, None)?;
        self.decode(target, &r.body)
    }

    /// `POST` a JSON body and decode the JSON answer.
    pub(crate) fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        target: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.protocol(e))?;
        let r = self.call("POST", target, Some(("application/json", &bytes)))?;
        self.decode(target, &r.body)
    }

    /// `PUT` a JSON body and decode the JSON answer.
    pub(crate) fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        target: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.protocol(e))?;
        let r = self.call("PUT", target, Some(("application/json", &bytes)))?;
        self.decode(target, &r.body)
    }

    /// `DELETE`; the answer's JSON (`null` when empty).
    pub(crate) fn delete(&self, target: &str) -> Result<Value, ClientError> {
        Ok(self.call("DELETE", target, None)?.json())
    }

    /// Every item of a paged list endpoint (`target` without `cursor`),
    /// as JSON, following `next_cursor` until it is absent.
    pub(crate) fn get_all(&self, path: &str, query: &Query) -> Result<Vec<Value>, ClientError> {
        collect_pages(|cursor| {
            let mut q = query.clone();
            if !q.has("limit") {
                q = q.push("limit", weft_api::common::MAX_LIMIT);
            }
            if let Some(c) = cursor {
                q = q.push("cursor", c);
            }
            self.get::<Page<Value>>(&format!("{path}{q}"))
        })
    }

    /// Opens `GET target` as a server-sent event stream; `last_event_id`
    /// resumes after that event.
    pub(crate) fn event_stream(
        &self,
        target: &str,
        last_event_id: Option<u64>,
    ) -> Result<SseStream, ClientError> {
        let mut headers = vec![
            ("Accept", "text/event-stream".to_owned()),
            ("Cache-Control", "no-cache".to_owned()),
        ];
        if let Some(id) = last_event_id {
            headers.push(("Last-Event-ID", id.to_string()));
        }
        let (head, reader, name) = self.start("GET", target, headers, None)?;
        let mut body =
            wire::Body::new(&head, "GET", reader).map_err(|e| ClientError::from_io(&name, e))?;
        if !(200..300).contains(&head.status) {
            let mut bytes = Vec::new();
            let _ = body.by_ref().take(64 * 1024).read_to_end(&mut bytes);
            return Err(ClientError::from_status(&head, &bytes));
        }
        let content_type = head.header("content-type").unwrap_or("");
        if !content_type.starts_with("text/event-stream") {
            return Err(ClientError::Protocol {
                target: name,
                source: format!("expected an event stream, got {content_type:?}").into(),
            });
        }
        let _ = body_conn(&body).set_timeout(Some(STREAM_IDLE_TIMEOUT.max(self.timeout)));
        Ok(SseStream::new(Box::new(body), name))
    }

    fn decode<T: DeserializeOwned>(&self, what: &str, body: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|e| ClientError::Protocol {
            target: self.name(),
            source: format!("unexpected answer to {what}: {e}").into(),
        })
    }

    fn protocol(&self, e: impl std::error::Error + Send + Sync + 'static) -> ClientError {
        ClientError::Protocol { target: self.name(), source: Box::new(e) }
    }

    /// The target in use (or the first one), for messages.
    pub(crate) fn name(&self) -> String {
        self.targets[self.chosen.get().unwrap_or(0)].to_string()
    }
}

/// The connection under a body, to change its timeout.
fn body_conn(body: &wire::Body<BufReader<Conn>>) -> &Conn {
    match body {
        wire::Body::Length(t) => t.get_ref().get_ref(),
        wire::Body::Chunked(c) => c.get_ref().get_ref(),
        wire::Body::UntilClose(r) => r.get_ref(),
    }
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
