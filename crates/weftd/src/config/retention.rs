//! The `[retention]` section: how much of the audit log the agent keeps.
//!
//! ```toml
//! [retention]
//! audit_days = 400                      # records older than this go (1..=36500; default 400)
//! audit_max_records = 1000000           # at most this many stay (>= 1000; default 1 000 000)
//! audit_export = "audit-export.jsonl"   # pruned records are appended here first (JSON lines;
//!                                       # relative to the state directory; default: none)
//! ```
//!
//! Without the section the defaults apply: the log is bounded, nothing is
//! exported. The event history is bounded by count (see the store).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::validate::Checker;
use crate::store::AuditRetention;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_field_names)] // the keys operators write: audit_* (events may follow)
pub(crate) struct RawRetention {
    audit_days: Option<Spanned<u32>>,
    audit_max_records: Option<Spanned<u64>>,
    audit_export: Option<Spanned<String>>,
}

/// Default age limit, days.
const AUDIT_DAYS: u32 = 400;
/// Default count limit.
const AUDIT_MAX_RECORDS: u64 = 1_000_000;

/// Checks `[retention]` (absent: the defaults); a relative export path is
/// under `state_dir`.
pub(super) fn retention(
    c: &mut Checker<'_>,
    raw: Option<&RawRetention>,
    state_dir: &Path,
) -> AuditRetention {
    let default = RawRetention::default();
    let raw = raw.unwrap_or(&default);
    let mut days = AUDIT_DAYS;
    if let Some(d) = &raw.audit_days {
        if !(1..=36_500).contains(d.get_ref()) {
            c.err(d, "audit_days must be 1..=36500");
        }
        days = *d.get_ref();
    }
    let mut max = AUDIT_MAX_RECORDS;
    if let Some(m) = &raw.audit_max_records {
        if *m.get_ref() < 1000 {
            c.err(m, "audit_max_records must be at least 1000");
        }
        max = *m.get_ref();
    }
    let export: Option<PathBuf> = raw.audit_export.as_ref().map(|e| state_dir.join(e.get_ref()));
    AuditRetention {
        max_age_ms: Some(i64::from(days) * 86_400_000),
        max_records: Some(max),
        export,
    }
}
