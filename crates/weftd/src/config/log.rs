//! The `[log]` section: the log's format and starting level.
//!
//! ```toml
//! [log]
//! format = "json"   # "human" (weftd[SITE]: message, the default) or "json" (one object per line)
//! level = "info"    # "error", "warn", "info" (the default) or "debug"; PUT /api/v1/log changes it
//! ```
//!
//! `weftd --log-format` and `--log-level` win over the file.

use serde::Deserialize;
use toml::Spanned;

use super::validate::Checker;
use crate::log::{Format, Level};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    format: Option<Spanned<String>>,
    level: Option<Spanned<String>>,
}

/// `[log]` as checked: what the file sets (none: the default or the flag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogConfig {
    /// The line format.
    pub format: Option<Format>,
    /// The starting level.
    pub level: Option<Level>,
}

/// Checks `[log]` (absent: nothing set).
pub(super) fn log(c: &mut Checker<'_>, raw: Option<&RawLog>) -> LogConfig {
    let Some(raw) = raw else { return LogConfig::default() };
    let mut out = LogConfig::default();
    if let Some(f) = &raw.format {
        match f.get_ref().parse() {
            Ok(v) => out.format = Some(v),
            Err(e) => c.err(f, e),
        }
    }
    if let Some(l) = &raw.level {
        match l.get_ref().parse() {
            Ok(v) => out.level = Some(v),
            Err(e) => c.err(l, e),
        }
    }
    out
}
