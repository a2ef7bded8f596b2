//! The command-line options that say where the agent is and how to
//! authenticate, and the [`Client`] they make.

use std::cell::{Cell, OnceCell};
use std::path::PathBuf;

use clap::Args;

use super::{Client, DEFAULT_SOCKET, DEFAULT_TCP, DEFAULT_TIMEOUT, Target};

/// How to reach the agent; flattened into every command that talks to it.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Reaching the agent")]
pub(crate) struct AgentArgs {
    /// The agent's local API socket [default: /var/lib/weft/api.sock, or
    /// 127.0.0.1:7420 over TCP when that socket is missing or dead].
    #[arg(long, env = "WEFT_SOCKET", value_name = "PATH")]
    pub(crate) socket: Option<PathBuf>,
    /// Talk to the agent's API at HOST:PORT over TCP instead of the socket
    /// (wins over --socket); `https://HOST:PORT` for an agent with
    /// `[api] tls_cert` (needs --ca).
    #[arg(long, env = "WEFT_AGENT", value_name = "HOST:PORT")]
    pub(crate) agent: Option<String>,
    /// PEM certificate (the agent's, or its CA's) to trust for `https://` agents.
    #[arg(long, env = "WEFT_CA", value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// API token to send as `Authorization: Bearer` (not needed on the socket).
    #[arg(long, env = "WEFT_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// File holding the API token (--token wins) [default over TCP:
    /// /var/lib/weft/api.token].
    #[arg(long, env = "WEFT_TOKEN_FILE", value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
}

impl AgentArgs {
    /// A client for these options.
    pub(crate) fn client(&self) -> Client {
        let targets = match (&self.agent, &self.socket) {
            (Some(addr), _) => match addr.strip_prefix("https://") {
                Some(rest) => vec![Target::Tls {
                    addr: rest.trim_end_matches('/').to_owned(),
                    ca: self.ca.clone().unwrap_or_default(),
                }],
                None => vec![Target::Tcp(tcp_addr(addr))],
            },
            (None, Some(path)) => vec![Target::Unix(path.clone())],
            (None, None) => {
                vec![Target::Unix(DEFAULT_SOCKET.into()), Target::Tcp(DEFAULT_TCP.to_owned())]
            }
        };
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => Token::Given(Some(t.trim().to_owned())),
            (None, Some(file)) => Token::Given(read_token(file, true)),
            (None, None) => Token::Default(OnceCell::new()),
        };
        Client { targets, token, chosen: Cell::new(None), timeout: DEFAULT_TIMEOUT }
    }
}

/// `http://host:port/` is accepted for `host:port`.
fn tcp_addr(s: &str) -> String {
    let s = s.strip_prefix("http://").unwrap_or(s);
    s.trim_end_matches('/').to_owned()
}

/// The token in `file`, trimmed; `None` (with a warning when `loud`) if unreadable.
pub(super) fn read_token(file: &std::path::Path, loud: bool) -> Option<String> {
    match std::fs::read_to_string(file) {
        Ok(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
        Ok(_) => None,
        Err(e) => {
            if loud {
                eprintln!("weft: warning: cannot read the token file {}: {e}", file.display());
            }
            None
        }
    }
}

/// Where the bearer token comes from.
#[derive(Debug)]
pub(super) enum Token {
    /// `--token`, or `--token-file` (`None`: the file could not be read):
    /// sent on every transport.
    Given(Option<String>),
    /// Nothing given: over TCP the default token file, read on first use;
    /// nothing on the socket.
    Default(OnceCell<Option<String>>),
}
