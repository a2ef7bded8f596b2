//! The agent's durable state: one `SQLite` file, `STATE_DIR/weft.db`.
//!
//! [`Store`] keeps policy versions and which one runs, the append-only audit
//! log, API tokens (hashed), the event stream (for resuming clients), the
//! inventory of sites, endpoints and paths, and the downsampled history of
//! path measurements. It does not decide anything: callers validate policies,
//! check scopes and build events; the store only keeps what they hand it.
//!
//! # How to drive it
//! Open it once with [`Store::open`] and clone the handle into every thread
//! that needs it. Every method takes `&self` and returns when its write is on
//! disk. Wall-clock time is always an argument (`now_unix_ms`): the store
//! never reads a clock, so tests replay exact timelines.
//!
//! The agent's periodic work is two calls: [`Store::record_samples`] every
//! 10 s with one sample per path, and [`Store::downsample`] every few minutes.
//!
//! # Design
//! - **Durability.** `journal_mode=WAL`, `synchronous=FULL`: a commit is
//!   fsynced to the WAL before the call returns, so the API can acknowledge a
//!   write as soon as the store returns. A crash leaves every acknowledged
//!   write and no torn one. `foreign_keys=ON`, `busy_timeout=5000`.
//! - **Concurrency.** Two connections behind two `std::sync::Mutex`es: one
//!   for writes, one (`query_only`) for reads. WAL lets the reader see the
//!   last committed state while the writer is in the middle of a transaction
//!   or its fsync, so [`Store::verify_token`] (called on every API request)
//!   and the event stream never wait behind a history write. Writers are
//!   serialised by their mutex, which is the order `SQLite` would impose
//!   anyway. A poisoned mutex is recovered: a panic inside a transaction
//!   rolled it back as it unwound, so the connection is consistent.
//! - **Schema.** Versioned with `PRAGMA user_version`; `migrate` applies the
//!   missing migrations in order, in one transaction, and refuses a database
//!   written by a newer agent. Tables are `STRICT`.
//! - **Upgrade.** When the database is created, the old file store
//!   (`policy/versions/*.toml`, `policy/current`, `audit.jsonl`) is imported
//!   in the same transaction as the schema, so either both happen or neither.
//!   The old files are left in place and never read again.
//! - **Append-only audit.** No method updates or deletes audit rows, and
//!   triggers make `SQLite` abort any `UPDATE` or `DELETE` on the table.
//!
//! # Layout
//! - `migrate`: the schema, its migrations, and the import of the file store.
//! - `policies`, `audit`, `tokens`, `events`, `sites`, `history`: one table
//!   group each, as `impl Store` blocks.

mod audit;
mod events;
mod history;
mod migrate;
mod policies;
mod profiles;
mod reservations;
mod sites;
mod tokens;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::{Context, Result, bail};
use rusqlite::Connection;

pub use audit::{AuditRetention, NewAudit};
pub use events::{EVENT_PRUNE_EVERY, EVENT_RETENTION};
pub use history::{RAW_RETENTION, ROLLUP_RESOLUTION, ROLLUP_RETENTION, SampleInput};
pub use policies::PolicyVersion;
pub use profiles::{ProfileRecord, ProfileRefused};
pub use reservations::ReservationChange;
pub use sites::{PathRecord, SiteRecord, path_key};
pub use tokens::TokenRefused;

/// File name of the database inside the state directory.
pub const DB_FILE: &str = "weft.db";

/// Prepared statements kept per connection (every statement the store uses fits).
const STATEMENT_CACHE: usize = 64;

/// A handle on the agent's state database. Cheap to clone; every clone
/// shares the same two connections.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db_path: PathBuf,
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
    events: EventLimits,
}

/// The write connection and what only writers touch.
struct Writer {
    conn: Connection,
    /// Path key → id in `sample_series`; holds only ids whose insert committed.
    series: BTreeMap<String, i64>,
}

/// How many events are kept and how often the oldest are pruned.
#[derive(Debug, Clone, Copy)]
struct EventLimits {
    retention: u64,
    prune_every: u64,
}

impl Store {
    /// Opens (creating, migrating and, on first creation, importing the old
    /// file store into) `state_dir/weft.db`.
    pub fn open(state_dir: &Path) -> Result<Self> {
        Self::open_with(
            state_dir,
            EventLimits { retention: EVENT_RETENTION, prune_every: EVENT_PRUNE_EVERY },
        )
    }

    fn open_with(state_dir: &Path, events: EventLimits) -> Result<Self> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating the state directory {}", state_dir.display()))?;
        let db_path = state_dir.join(DB_FILE);
        let open = |role: &str| -> Result<Connection> {
            let conn = Connection::open(&db_path)
                .with_context(|| format!("opening {} ({role})", db_path.display()))?;
            configure(&conn).with_context(|| format!("configuring {}", db_path.display()))?;
            Ok(conn)
        };
        let mut conn = open("writer")?;
        restrict(&db_path)?;
        migrate::migrate(&mut conn, state_dir)
            .with_context(|| format!("preparing the schema of {}", db_path.display()))?;
        let reader = open("reader")?;
        reader.pragma_update(None, "query_only", true).context("making the reader read-only")?;
        Ok(Self {
            inner: Arc::new(Inner {
                db_path,
                writer: Mutex::new(Writer { conn, series: BTreeMap::new() }),
                reader: Mutex::new(reader),
                events,
            }),
        })
    }

    /// Where the database file is.
    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.inner.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.inner.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("db_path", &self.inner.db_path).finish_non_exhaustive()
    }
}

/// Sets the per-connection pragmas and checks the ones that can silently fail.
fn configure(conn: &Connection) -> Result<()> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("the database refused WAL mode (journal_mode is {mode})");
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// A page size as `SQLite` wants it (`LIMIT` takes an `i64`).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Makes the database and its WAL files readable by their owner only (token
/// hashes and the audit log are in them). The WAL and shared-memory files
/// inherit the database file's mode when SQLite creates them.
fn restrict(db: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("restricting {} to its owner", p.display()))?;
        }
    }
    Ok(())
}
