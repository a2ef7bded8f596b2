//! A minimal HTTP/1.1 client for the local agent API (`Connection: close`,
//! JSON in and out). The agent listens on loopback inside its site; remote
//! agents over HTTPS arrive with the operator-surfaces work.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Where the agent is and how to authenticate writes.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    /// `HOST:PORT` of its API.
    pub(crate) addr: String,
    /// Bearer token for writes, if known.
    pub(crate) token: Option<String>,
}

/// The agent could not be reached (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the agent at {addr}")]
pub(crate) struct Unreachable {
    addr: String,
    #[source]
    source: std::io::Error,
}

impl Agent {
    /// Sends a request and returns (status, JSON body).
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, Value)> {
        let mut stream = TcpStream::connect(&self.addr)
            .map_err(|source| Unreachable { addr: self.addr.clone(), source })?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let body = body.unwrap_or("");
        let auth = self
            .token
            .as_ref()
            .map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).context("reading the agent's answer")?;
        let text = String::from_utf8_lossy(&raw);
        let Some((head, payload)) = text.split_once("\r\n\r\n") else {
            bail!("the agent sent a malformed answer");
        };
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("the agent's answer has no status")?;
        let json = serde_json::from_str(payload).unwrap_or(Value::String(payload.to_owned()));
        Ok((status, json))
    }
}
