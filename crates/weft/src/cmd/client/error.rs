//! What can go wrong talking to the agent, and the exit code of each.

use std::io;

use weft_api::ApiError;

use super::Head;

/// Why a request failed, grouped by whose fault it is. Each variant maps to
/// an exit code ([`ClientError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// No connection: the agent is not running, or the socket or address is
    /// wrong, or the socket is not ours to open. Exit code 3.
    #[error("cannot reach the agent at {target} ({hint})")]
    Unreachable {
        /// The socket path or address (both, when the default fell back).
        target: String,
        /// What to try.
        hint: &'static str,
        /// The connect error.
        #[source]
        source: io::Error,
    },
    /// The agent refused our credentials: 401 (no or unknown token) or 403
    /// (the token's scope does not allow it). Exit code 4.
    #[error("{}: {}; {}", .error.code, .error.message, auth_hint(*.status))]
    Auth {
        /// 401 or 403.
        status: u16,
        /// The agent's error body.
        error: ApiError,
    },
    /// The agent answered with another 4xx or 5xx. Exit code 1.
    #[error("{}: {}", .error.code, .error.message)]
    Api {
        /// The status code.
        status: u16,
        /// The agent's error body (or one made from the status line).
        error: ApiError,
    },
    /// Connected, but the agent did not answer in time. Exit code 1.
    #[error("the agent at {target} did not answer in time")]
    Timeout {
        /// The socket path or address.
        target: String,
    },
    /// The connection broke, or the answer is not HTTP or JSON this CLI
    /// understands (a different program on the port, or a newer agent).
    /// Exit code 1.
    #[error("talking to the agent at {target}")]
    Protocol {
        /// The socket path or address.
        target: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn auth_hint(status: u16) -> &'static str {
    if status == 403 {
        "the token's scope does not allow this"
    } else {
        "pass --token or --token-file, or run as root over the local socket"
    }
}

impl ClientError {
    /// The process exit code for this error: 3 unreachable, 4 not
    /// authorised, 1 otherwise.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Unreachable { .. } => 3,
            Self::Auth { .. } => 4,
            _ => 1,
        }
    }

    /// An I/O error after connecting.
    pub(crate) fn from_io(target: &str, e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Self::Timeout { target: target.to_owned() }
            }
            _ => Self::Protocol { target: target.to_owned(), source: Box::new(e) },
        }
    }

    /// The error a non-2xx answer stands for.
    pub(super) fn from_status(head: &Head, body: &[u8]) -> Self {
        let error = serde_json::from_slice::<ApiError>(body).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message: &str =
                if text.is_empty() || text.len() > 200 { &head.reason } else { text };
            ApiError::new(&format!("http_{}", head.status), message)
        });
        match head.status {
            401 | 403 => Self::Auth { status: head.status, error },
            status => Self::Api { status, error },
        }
    }

    /// The agent's error code, for API errors.
    #[cfg(test)]
    pub(crate) fn api_code(&self) -> Option<&str> {
        match self {
            Self::Api { error, .. } | Self::Auth { error, .. } => Some(&error.code),
            _ => None,
        }
    }
}

pub(super) fn connect_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            "the socket is root-only: run as root, or use --agent HOST:PORT with a token"
        }
        _ => "is weftd running? Check --socket PATH, or use --agent HOST:PORT",
    }
}
