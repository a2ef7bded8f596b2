//! Internal errors as clients see them: `internal error (id 3f9c2a1b)`.
//!
//! The error chain of a failure inside the agent names files, SQL and
//! internal state; it goes to the log (an error line of component `api`,
//! with the request id when there is one) with a short random id, and
//! only the id goes to the client, who quotes it to the operator. Every 5xx
//! the API writes is built here ([`internal`], [`hidden`]).

/// A failure logged under an id; `message` is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incident {
    /// Eight hex digits, in the log line and in the answer.
    pub(crate) id: String,
    /// What the client sees: the summary and the id, nothing else.
    pub(crate) message: String,
    /// What the log gets (after `weftd: `): the id, the code and the whole chain.
    pub(crate) log_line: String,
}

impl Incident {
    /// An incident with `summary` for the client and `detail` for the log.
    pub(crate) fn new(summary: &str, code: &str, detail: &str) -> Self {
        let id = random_id();
        Self {
            message: format!("{summary} (id {id})"),
            log_line: format!("API: {code} (id {id}): {detail}"),
            id,
        }
    }

    /// Writes the log line to the agent's log.
    pub(crate) fn logged(self) -> Self {
        crate::log_error!(Api, "{}", self.log_line);
        self
    }
}

/// Whether `err` is the state directory's file system being full (SQLite's
/// `SQLITE_FULL`, or `ENOSPC` from a file write): answered as 507
/// `storage_full`, which names the cause the operator can fix.
pub(crate) fn storage_full(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = e.downcast_ref::<rusqlite::Error>() {
            return f.code == rusqlite::ErrorCode::DiskFull;
        }
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
    })
}

/// Logs `err` under a new id as a full state directory (see [`storage_full`]).
pub(crate) fn full(err: &anyhow::Error) -> Incident {
    let summary = "the agent's state directory is full: nothing was changed; free space on its file system and retry";
    Incident::new(summary, "storage_full", &format!("{err:#}")).logged()
}

/// Logs `err` (the whole chain) under a new id; the answer says `internal error (id ..)`.
pub(crate) fn internal(err: &anyhow::Error) -> Incident {
    Incident::new("internal error", "internal", &format!("{err:#}")).logged()
}

/// Logs a 5xx `message` another part of the agent wrote (it may name the
/// store or its files) and returns what the client may see instead.
pub(crate) fn hidden(status: u16, code: &str, message: &str) -> Incident {
    let summary = if status == 500 { "internal error" } else { "unavailable: see the agent's log" };
    Incident::new(summary, code, message).logged()
}

/// Eight hex digits from the OS's random source (a counter if it fails,
/// which only makes the id predictable, never absent).
fn random_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static FALLBACK: AtomicU32 = AtomicU32::new(0);
    let mut raw = [0u8; 4];
    let n = match getrandom::fill(&mut raw) {
        Ok(()) => u32::from_be_bytes(raw),
        Err(_) => FALLBACK.fetch_add(1, Ordering::Relaxed),
    };
    format!("{n:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_tells_the_client_only_an_id_and_logs_the_chain_under_it() {
        let err = anyhow::anyhow!("disk I/O error: UPDATE tokens SET revoked_unix_ms")
            .context("opening /var/lib/weft/state.db");
        let i = internal(&err);
        assert_eq!(i.id.len(), 8);
        assert!(i.id.bytes().all(|b| b.is_ascii_hexdigit()), "{}", i.id);
        assert_eq!(i.message, format!("internal error (id {})", i.id));
        assert!(i.log_line.contains(&format!("(id {})", i.id)), "{}", i.log_line);
        assert!(i.log_line.contains("opening /var/lib/weft/state.db: disk I/O error: UPDATE"));
    }

    #[test]
    fn two_incidents_get_two_ids() {
        let a = Incident::new("internal error", "internal", "x");
        let b = Incident::new("internal error", "internal", "x");
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn a_hidden_503_keeps_its_kind_but_not_its_text() {
        let i = hidden(503, "control_store_unavailable", "the control store: /srv/ctl.db locked");
        assert!(i.message.starts_with("unavailable: see the agent's log (id "), "{}", i.message);
        assert!(!i.message.contains("/srv"), "{}", i.message);
        assert!(i.log_line.contains("control_store_unavailable") && i.log_line.contains("/srv"));
    }
}
