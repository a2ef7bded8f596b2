//! [`SqliteStore`]: the [`ControlStore`] of a single controller, in one
//! SQLite file, with etcd's semantics as elections and fenced writes see
//! them (the same ones `weft_control::sim::ModelStore` models):
//!
//! - one global revision; every write transaction that changes something
//!   takes the next one, shared by all its puts and deletes; a key deleted
//!   and created again gets a new create revision;
//! - leases expire `ttl` after their grant or last keep-alive was
//!   *handled*; the keys attached to a lease go with it (a delete, at a new
//!   revision) when it expires or is revoked;
//! - a campaign creates the leader key on the caller's lease if it does not
//!   exist ([`Response::Won`], epoch = its create revision), otherwise
//!   reads it ([`Response::Held`]);
//! - a fenced transaction applies only while the leader key exists with
//!   the fence's epoch as its create revision.
//!
//! Expiry is lazy: every call first deletes the leases whose time ran out
//! (and their keys), in the same SQLite transaction as the call, so no
//! call sees a key whose lease has expired.
//!
//! Time comes from a clock given at open ([`Instant::now`] by default), so
//! tests move it by hand. An [`Instant`] means nothing to another process:
//! the file stores lease deadlines as milliseconds since the clock's
//! reading at open, and opening gives every lease a full TTL again (as etcd
//! does when a new leader takes the leases over). One process uses the
//! file at a time: two stores on one file would each count deadlines from
//! their own open, which is not a supported deployment.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use weft_control::{CallError, Epoch, Fence, LeaseId, Request, Response};

use crate::api::{Compare, ControlStore, Kv, Txn, TxnOutcome};
use crate::store::prefix_end;

/// Why [`SqliteStore::open`] failed. Nothing was opened; the file may have
/// been created, with none or part of the schema.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// SQLite could not open the file, set it up or create the schema.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file system refused WAL mode (a network file system, say).
    #[error("the database refused WAL mode (journal_mode is {0})")]
    NotWal(String),
}

/// The tables. `expires_at` is in milliseconds since the store's clock
/// reading at open (see the module documentation).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    revision INTEGER NOT NULL,
    next_lease INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (id, revision, next_lease) VALUES (0, 0, 1);
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY,
    ttl_ms INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL,
    lease INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_lease ON kv (lease) WHERE lease IS NOT NULL;
";

/// A controller's store in one SQLite file. See the module documentation.
pub struct SqliteStore {
    conn: Connection,
    clock: Box<dyn Fn() -> Instant + Send>,
    /// The clock's reading at open: lease deadlines count from it.
    base: Instant,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.conn.path()).finish_non_exhaustive()
    }
}

/// A failed call: SQLite failed, or the request was refused. Either way
/// the SQLite transaction is rolled back.
enum Fail {
    Sql(rusqlite::Error),
    Call(CallError),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<Fail> for CallError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Sql(e) => CallError::Unavailable(format!("sqlite: {e}")),
            Fail::Call(e) => e,
        }
    }
}

fn refused(why: &str) -> Fail {
    Fail::Call(CallError::Refused(why.to_owned()))
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`, on the real clock.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with_clock(path, Instant::now)
    }

    /// Opens (or creates) the store at `path`; leases expire on `clock`.
    /// WAL mode with `synchronous=FULL`: a transaction that returned is on
    /// disk and survives a crash of the process or the machine.
    pub fn open_with_clock(
        path: &Path,
        clock: impl Fn() -> Instant + Send + 'static,
    ) -> Result<Self, OpenError> {
        let conn = Connection::open(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::NotWal(mode));
        }
        Self::init(conn, Box::new(clock))
    }

    /// A store in memory (tests), on the real clock.
    pub fn open_in_memory() -> Result<Self, OpenError> {
        Self::open_in_memory_with_clock(Instant::now)
    }

    /// A store in memory (tests); leases expire on `clock`.
    pub fn open_in_memory_with_clock(
        clock: impl Fn() -> Instant + Send + 'static,
    ) -> Result<Self, OpenError> {
        Self::init(Connection::open_in_memory()?, Box::new(clock))
    }

    fn init(
        mut conn: Connection,
        clock: Box<dyn Fn() -> Instant + Send>,
    ) -> Result<Self, OpenError> {
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        // Deadlines of an earlier open count from another base: every lease
        // gets a full TTL from now.
        tx.execute("UPDATE leases SET expires_at = ttl_ms", [])?;
        tx.commit()?;
        let base = clock();
        Ok(Self { conn, clock, base })
    }

    /// The store's revision: that of its last change (0 when empty).
    pub fn revision(&mut self, timeout: Duration) -> Result<u64, CallError> {
        self.run(timeout, |c, _| Ok(revision(c)? as u64))
    }

    /// Milliseconds since open, on the store's clock.
    fn now_ms(&self) -> i64 {
        i64::try_from((self.clock)().saturating_duration_since(self.base).as_millis())
            .unwrap_or(i64::MAX)
    }

    /// Runs `f` in one SQLite transaction, after expiring the leases whose
    /// time ran out; commits only if `f` succeeds.
    fn run<T>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&Connection, i64) -> Result<T, Fail>,
    ) -> Result<T, CallError> {
        let now = self.now_ms();
        let conn = &mut self.conn;
        let go = || -> Result<T, Fail> {
            conn.busy_timeout(timeout)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            expire(&tx, now)?;
            let out = f(&tx, now)?;
            tx.commit()?;
            Ok(out)
        };
        go().map_err(CallError::from)
    }
}

fn revision(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT revision FROM meta", [], |r| r.get(0))
}

/// Takes the next revision.
fn bump(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("UPDATE meta SET revision = revision + 1 RETURNING revision", [], |r| r.get(0))
}

/// Deletes lease `id` and its keys (at a new revision if there were any).
/// Whether the lease existed.
fn drop_lease(c: &Connection, id: i64) -> rusqlite::Result<bool> {
    if c.execute("DELETE FROM leases WHERE id = ?1", [id])? == 0 {
        return Ok(false);
    }
    if c.execute("DELETE FROM kv WHERE lease = ?1", [id])? > 0 {
        bump(c)?;
    }
    Ok(true)
}

/// Drops every lease whose deadline is `now` or earlier.
fn expire(c: &Connection, now: i64) -> rusqlite::Result<()> {
    let ids = c
        .prepare_cached("SELECT id FROM leases WHERE expires_at <= ?1 ORDER BY id")?
        .query_map([now], |r| r.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for id in ids {
        drop_lease(c, id)?;
    }
    Ok(())
}

const KV_COLUMNS: &str = "key, value, create_revision, mod_revision";

fn kv_of(r: &Row<'_>) -> rusqlite::Result<Kv> {
    Ok(Kv {
        key: r.get(0)?,
        value: r.get(1)?,
        create_revision: r.get::<_, i64>(2)? as u64,
        mod_revision: r.get::<_, i64>(3)? as u64,
    })
}

fn get(c: &Connection, key: &str) -> rusqlite::Result<Option<Kv>> {
    c.query_row(&format!("SELECT {KV_COLUMNS} FROM kv WHERE key = ?1"), [key], kv_of).optional()
}

fn lease_not_found() -> Fail {
    refused("lease not found")
}

fn call(c: &Connection, now: i64, request: &Request) -> Result<Response, Fail> {
    match request {
        Request::Grant { ttl } => {
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            if ttl_ms == 0 {
                return Err(refused("a lease needs a TTL of at least 1 ms"));
            }
            let id: i64 = c.query_row(
                "UPDATE meta SET next_lease = next_lease + 1 RETURNING next_lease - 1",
                [],
                |r| r.get(0),
            )?;
            c.execute(
                "INSERT INTO leases (id, ttl_ms, expires_at) VALUES (?1, ?2, ?3)",
                params![id, ttl_ms, now.saturating_add(ttl_ms)],
            )?;
            Ok(Response::Granted { lease: LeaseId(id), ttl: Duration::from_millis(ttl_ms as u64) })
        }
        Request::KeepAlive { lease } => {
            let ttl_ms: i64 = c
                .query_row(
                    "UPDATE leases SET expires_at = ?1 + ttl_ms WHERE id = ?2 RETURNING ttl_ms",
                    params![now, lease.0],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(lease_not_found)?;
            Ok(Response::KeptAlive { ttl: Duration::from_millis(ttl_ms as u64) })
        }
        Request::Campaign { key, value, lease } => {
            let exists = c
                .query_row("SELECT 1 FROM leases WHERE id = ?1", [lease.0], |_| Ok(()))
                .optional()?;
            if exists.is_none() {
                return Err(lease_not_found());
            }
            let held = c
                .query_row(
                    "SELECT value, create_revision, lease FROM kv WHERE key = ?1",
                    [key],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                        ))
                    },
                )
                .optional()?;
            if let Some((holder, created, on)) = held {
                return Ok(Response::Held {
                    holder,
                    epoch: Epoch(created as u64),
                    lease: LeaseId(on.unwrap_or(0)),
                });
            }
            let rev = bump(c)?;
            c.execute(
                "INSERT INTO kv (key, value, create_revision, mod_revision, lease)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
                params![key, value, rev, lease.0],
            )?;
            Ok(Response::Won { epoch: Epoch(rev as u64) })
        }
        Request::Revoke { lease } => {
            if drop_lease(c, lease.0)? {
                Ok(Response::Revoked)
            } else {
                Err(lease_not_found())
            }
        }
    }
}

/// What etcd refuses before looking at a transaction's comparisons.
fn check_keys(txn: &Txn) -> Result<(), Fail> {
    let keys = txn.puts.iter().map(|(k, _)| k).chain(&txn.deletes);
    if keys.clone().any(String::is_empty) {
        return Err(refused("key is not provided"));
    }
    let mut puts = BTreeSet::new();
    for (k, _) in &txn.puts {
        if !puts.insert(k.as_str()) {
            return Err(refused("duplicate key given in txn request"));
        }
    }
    if txn.deletes.iter().any(|k| puts.contains(k.as_str())) {
        return Err(refused("duplicate key given in txn request"));
    }
    Ok(())
}

fn apply(c: &Connection, fence: Option<&Fence>, txn: &Txn) -> Result<TxnOutcome, Fail> {
    check_keys(txn)?;
    if let Some(f) = fence
        && get(c, &f.key)?.is_none_or(|kv| kv.create_revision != f.epoch.0)
    {
        return Ok(TxnOutcome::Fenced);
    }
    for compare in &txn.compares {
        let holds = match compare {
            Compare::Missing(k) | Compare::ModRevision(k, 0) => get(c, k)?.is_none(),
            Compare::ModRevision(k, rev) => get(c, k)?.is_some_and(|kv| kv.mod_revision == *rev),
        };
        if !holds {
            return Ok(TxnOutcome::CompareFailed);
        }
    }
    // Like etcd, a transaction that changes nothing keeps the revision.
    let next = revision(c)? + 1;
    let mut changed = false;
    for (k, v) in &txn.puts {
        c.prepare_cached(
            "INSERT INTO kv (key, value, create_revision, mod_revision, lease)
             VALUES (?1, ?2, ?3, ?3, NULL)
             ON CONFLICT (key) DO UPDATE SET
                 value = excluded.value, mod_revision = excluded.mod_revision, lease = NULL",
        )?
        .execute(params![k, v, next])?;
        changed = true;
    }
    for k in &txn.deletes {
        changed |= c.execute("DELETE FROM kv WHERE key = ?1", [k])? > 0;
    }
    if changed {
        bump(c)?;
    }
    Ok(TxnOutcome::Applied(revision(c)? as u64))
}

fn range(c: &Connection, prefix: &str, limit: usize) -> rusqlite::Result<Vec<Kv>> {
    // SQLite: a negative LIMIT is no limit; etcd: so is 0.
    let limit = if limit == 0 { -1 } else { i64::try_from(limit).unwrap_or(i64::MAX) };
    // Text compares byte by byte (BINARY collation), as etcd's keys do. The
    // end may not be UTF-8; the cast keeps its bytes as text (a blob would
    // sort after every text).
    if prefix.is_empty() {
        let sql = format!("SELECT {KV_COLUMNS} FROM kv ORDER BY key LIMIT ?1");
        return c.prepare_cached(&sql)?.query_map([limit], kv_of)?.collect();
    }
    let sql = format!(
        "SELECT {KV_COLUMNS} FROM kv WHERE key >= ?1 AND key < CAST(?2 AS TEXT)
         ORDER BY key LIMIT ?3"
    );
    c.prepare_cached(&sql)?.query_map(params![prefix, prefix_end(prefix), limit], kv_of)?.collect()
}

impl ControlStore for SqliteStore {
    fn call(&mut self, request: &Request, timeout: Duration) -> Result<Response, CallError> {
        self.run(timeout, |c, now| call(c, now, request))
    }

    fn txn(
        &mut self,
        fence: Option<&Fence>,
        txn: &Txn,
        timeout: Duration,
    ) -> Result<TxnOutcome, CallError> {
        self.run(timeout, |c, _| apply(c, fence, txn))
    }

    fn get(&mut self, key: &str, timeout: Duration) -> Result<Option<Kv>, CallError> {
        self.run(timeout, |c, _| Ok(get(c, key)?))
    }

    fn range(
        &mut self,
        prefix: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<Kv>, CallError> {
        self.run(timeout, |c, _| Ok(range(c, prefix, limit)?))
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
