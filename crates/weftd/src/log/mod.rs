//! The agent's log: one line per event on stderr, human or JSON.
//!
//! Every call site names a [`Level`] and a [`Component`] and, when it
//! speaks for one site, that site; the line is written only when the level
//! passes the run-time filter ([`set_level`], `PUT /api/v1/log`). Two
//! formats ([`Format`], `weftd --log-format`):
//! - `human` (the default): `weftd[SITE]: message` or `weftd: message`,
//!   exactly as the agent always wrote them (lab tests and operators' greps
//!   match these lines);
//! - `json`: one object per line with `ts` (RFC 3339 UTC, milliseconds),
//!   `level`, `site`, `component`, `msg` and, when the line belongs to an
//!   API request, `request_id` (see [`context`]).
//!
//! Call sites use the macros [`log_error!`](crate::log_error),
//! [`log_warn!`](crate::log_warn), [`log_info!`](crate::log_info) and
//! [`log_debug!`](crate::log_debug):
//! `log_info!(Mesh, site = &site, "member {peer} is {why}")`.
//! A message must never carry a secret (token, private key, PSK, join
//! token): the call sites format only names, addresses and errors.
//!
//! # Layout
//! - `context`: the request id the current thread or task serves.
//! - `format`: the two line formats (pure functions, unit-tested).

pub mod context;
mod format;

use std::fmt;
use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

pub use format::{human_line, json_line, rfc3339_ms};

/// How much the agent says; each level includes the ones above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed and was not retried or worked around.
    Error = 0,
    /// Something failed or looks wrong; the agent carries on.
    Warn = 1,
    /// Changes of state an operator wants to see (the default).
    Info = 2,
    /// Detail for debugging.
    Debug = 3,
}

impl Level {
    /// Every level, most severe first.
    pub const ALL: [Self; 4] = [Self::Error, Self::Warn, Self::Info, Self::Debug];

    /// The lower-case name (`"info"`), as in JSON lines and the API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Error,
            1 => Self::Warn,
            2 => Self::Info,
            _ => Self::Debug,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a log level (error, warn, info, debug)"))
    }
}

/// The part of the agent a line comes from (`component` in JSON lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Start, stop, threads, retention: the agent as a whole.
    Agent,
    /// Mesh membership, enrolment, certificates.
    Mesh,
    /// Paths and their state changes.
    Path,
    /// Policies: apply, rollback, mesh policies.
    Policy,
    /// The control plane: controllers, publications, leases.
    Control,
    /// The REST API.
    Api,
    /// Global traffic management and its DNS server.
    Gtm,
    /// The zero-trust gateway, proxies and workload identities.
    Zt,
    /// The BGP speaker.
    Bgp,
    /// The flood defence.
    Flood,
    /// The data plane: TUN, uplinks, offloads.
    Dataplane,
    /// Peers (sites the agent tunnels to).
    Peer,
    /// The WireGuard userspace API socket (`wg`).
    Uapi,
    /// The durable store.
    Store,
    /// QoS: the uplink schedulers and bandwidth reservations.
    Qos,
}

impl Component {
    /// The lower-case name (`"dataplane"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Qos => "qos",
            Self::Mesh => "mesh",
            Self::Path => "path",
            Self::Policy => "policy",
            Self::Control => "control",
            Self::Api => "api",
            Self::Gtm => "gtm",
            Self::Zt => "zt",
            Self::Bgp => "bgp",
            Self::Flood => "flood",
            Self::Dataplane => "dataplane",
            Self::Peer => "peer",
            Self::Uapi => "uapi",
            Self::Store => "store",
        }
    }
}

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `weftd[SITE]: message` (the default).
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

impl Format {
    /// The name (`"human"`, `"json"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Json => "json",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            _ => Err(format!("{s:?} is not a log format (human, json)")),
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static FORMAT: AtomicU8 = AtomicU8::new(0);
static SITE: OnceLock<String> = OnceLock::new();

/// Sets the most detailed level written (at run time: `PUT /api/v1/log`).
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The most detailed level written now.
#[must_use]
pub fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed))
}

/// Whether a line at `level` is written now.
#[must_use]
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Sets the line format (once, at start: `weftd --log-format`).
pub fn set_format(format: Format) {
    FORMAT.store(u8::from(format == Format::Json), Ordering::Relaxed);
}

/// The line format in use.
#[must_use]
pub fn format() -> Format {
    if FORMAT.load(Ordering::Relaxed) == 1 { Format::Json } else { Format::Human }
}

/// Names the agent's own site: JSON lines whose call site names no site
/// carry it (human lines stay `weftd: ...`). The first call wins.
pub fn set_site(site: &str) {
    let _ = SITE.set(site.to_owned());
}

/// One line, as the macros write it: filtered by level, formatted, written
/// to stderr in one write. Prefer the macros.
pub fn emit(level: Level, component: Component, site: Option<&str>, msg: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let line = match format() {
        Format::Human => human_line(site, msg),
        Format::Json => {
            let site = site.or_else(|| SITE.get().map(String::as_str));
            let request = context::current();
            json_line(
                &rfc3339_ms(std::time::SystemTime::now()),
                level,
                component,
                site,
                &msg.to_string(),
                request.as_deref(),
            )
        }
    };
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes a line at `$level` for `$component` (and `site = $site`, anything `Display`).
#[macro_export]
#[doc(hidden)]
macro_rules! log_at {
    ($level:ident, $comp:ident, site = $site:expr, $($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::$level) {
            let site = ::std::string::ToString::to_string(&$site);
            $crate::log::emit(
                $crate::log::Level::$level,
                $crate::log::Component::$comp,
                Some(&site),
                format_args!($($arg)+),
            )
        }
    };
    ($level:ident, $comp:ident, $($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::$level) {
            $crate::log::emit(
                $crate::log::Level::$level,
                $crate::log::Component::$comp,
                None,
                format_args!($($arg)+),
            )
        }
    };
}

/// An error line: `log_error!(Api, "…")` or `log_error!(Mesh, site = &s, "…")`.
#[macro_export]
macro_rules! log_error { ($($t:tt)+) => { $crate::log_at!(Error, $($t)+) }; }
/// A warning line (see [`log_error!`]).
#[macro_export]
macro_rules! log_warn { ($($t:tt)+) => { $crate::log_at!(Warn, $($t)+) }; }
/// An information line (see [`log_error!`]).
#[macro_export]
macro_rules! log_info { ($($t:tt)+) => { $crate::log_at!(Info, $($t)+) }; }
/// A debug line, written only at level debug (see [`log_error!`]).
#[macro_export]
macro_rules! log_debug { ($($t:tt)+) => { $crate::log_at!(Debug, $($t)+) }; }
