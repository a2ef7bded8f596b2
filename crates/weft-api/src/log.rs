//! The agent's log settings (`GET/PUT /api/v1/log`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How much the agent logs; each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and warnings.
    Warn,
    /// Changes of state (the default).
    Info,
    /// Everything, for debugging.
    Debug,
}

impl LogLevel {
    /// The lower-case name (`"debug"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
        }
    }
}

/// How the agent writes its log lines (chosen at start: `weftd --log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `weftd[SITE]: message`.
    Human,
    /// One JSON object per line: `ts`, `level`, `site`, `component`, `msg`, `request_id`.
    Json,
}

/// The log settings in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogSettings {
    /// The most detailed level written.
    pub level: LogLevel,
    /// The line format.
    pub format: LogFormat,
}

/// Body of `PUT /api/v1/log`: the new level (in force at once, until the
/// next change or restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogLevelSet {
    /// The level to log from now on.
    pub level: LogLevel,
}
