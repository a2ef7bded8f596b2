//! The schema, its ordered migrations, and the one-time import of the file
//! store that came before the database.
//!
//! `PRAGMA user_version` is the number of migrations applied. Migrations are
//! only ever appended to [`MIGRATIONS`]; an applied one is never edited.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, TransactionBehavior};
use serde::Deserialize;

use super::audit::{self, NewAudit};
use super::policies;

/// Every migration, in order: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

/// IPsec clients: a connection profile's IKEv2 pre-shared key (hex), for
/// the clients registered with one (`weft profile export --ipsec`).
const V6: &str = "
ALTER TABLE profiles ADD COLUMN ipsec_psk TEXT;
";

/// Request ids: the API request (`X-Request-Id`) an audit record belongs
/// to, so the record, the request's answer and its log lines tie together.
/// Records written outside a request (and every older one) have none.
const V3: &str = "
ALTER TABLE audit ADD COLUMN request_id TEXT;
";

/// Bandwidth reservations (see `reservations.rs`): ids come from the
/// autoincrement, so a deleted reservation's id is never reused.
const V4: &str = "
CREATE TABLE reservations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    to_site          TEXT NOT NULL,
    class            TEXT NOT NULL,
    app              TEXT,
    rate_bps         INTEGER NOT NULL CHECK (rate_bps > 0),
    priority         INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 255),
    state            TEXT NOT NULL CHECK (state IN ('admitted', 'preempted')),
    uplink           TEXT,
    reason           TEXT,
    created_unix_ms  INTEGER NOT NULL,
    expires_unix_ms  INTEGER
) STRICT;
";

/// Connection profiles: stock WireGuard clients registered at run time
/// (`/api/v1/profiles`); `sites` is the comma-separated list of site ids.
const V5: &str = "
CREATE TABLE profiles (
    name            TEXT PRIMARY KEY,
    public_key      TEXT NOT NULL UNIQUE,
    address         TEXT NOT NULL UNIQUE,
    sites           TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL
) STRICT;
";

/// Audit retention: the log stays append-only for every statement but the
/// store's own pruning, which raises `audit_pruning.active` inside its
/// transaction (see `audit::Store::prune_audit`).
const V2: &str = "
CREATE TABLE audit_pruning (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    active    INTEGER NOT NULL CHECK (active IN (0, 1))
) STRICT;
INSERT INTO audit_pruning (singleton, active) VALUES (1, 0);
DROP TRIGGER audit_refuses_delete;
CREATE TRIGGER audit_refuses_delete BEFORE DELETE ON audit
WHEN (SELECT active FROM audit_pruning WHERE singleton = 1) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_pruning_is_the_stores BEFORE DELETE ON audit_pruning
BEGIN SELECT RAISE(ABORT, 'audit_pruning is the store''s'); END;
";

/// The first schema.
const V1: &str = "
CREATE TABLE policy_versions (
    version        INTEGER PRIMARY KEY CHECK (version >= 1),
    name           TEXT NOT NULL,
    text           TEXT NOT NULL,
    stored_unix_ms INTEGER NOT NULL,
    stored_by      TEXT NOT NULL,
    fingerprint    TEXT NOT NULL
) STRICT;
CREATE TRIGGER policy_versions_are_immutable BEFORE UPDATE ON policy_versions
BEGIN SELECT RAISE(ABORT, 'stored policy versions are immutable'); END;

CREATE TABLE policy_current (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version   INTEGER NOT NULL REFERENCES policy_versions (version)
) STRICT;

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at_unix_ms   INTEGER NOT NULL,
    who          TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    before_state TEXT,
    after_state  TEXT,
    detail       TEXT NOT NULL
) STRICT;
CREATE TRIGGER audit_refuses_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_refuses_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE tokens (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    scope           TEXT NOT NULL CHECK (scope IN ('read', 'operate', 'admin')),
    hash            TEXT NOT NULL UNIQUE,
    created_unix_ms INTEGER NOT NULL,
    revoked_unix_ms INTEGER
) STRICT;
CREATE UNIQUE INDEX tokens_live_names ON tokens (name) WHERE revoked_unix_ms IS NULL;

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at_unix_ms INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL
) STRICT;
CREATE INDEX events_by_kind ON events (kind, id);

CREATE TABLE sites (
    id              TEXT PRIMARY KEY,
    role            TEXT,
    region          TEXT,
    public_key      TEXT NOT NULL,
    removed         INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    updated_unix_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE site_endpoints (
    site     TEXT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    PRIMARY KEY (site, position)
) STRICT, WITHOUT ROWID;
CREATE TABLE site_prefixes (
    site     TEXT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    prefix   TEXT NOT NULL,
    PRIMARY KEY (site, position)
) STRICT, WITHOUT ROWID;
CREATE TABLE paths (
    path_key        TEXT PRIMARY KEY,
    site            TEXT NOT NULL,
    uplink          TEXT NOT NULL,
    remote          TEXT NOT NULL,
    first_unix_ms   INTEGER NOT NULL,
    updated_unix_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE sample_series (
    id       INTEGER PRIMARY KEY,
    path_key TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE samples_raw (
    series     INTEGER NOT NULL REFERENCES sample_series (id),
    at_unix_ms INTEGER NOT NULL,
    interval_s INTEGER NOT NULL,
    rtt_ms     REAL,
    jitter_ms  REAL NOT NULL,
    loss_pct   REAL NOT NULL,
    up         INTEGER NOT NULL CHECK (up IN (0, 1)),
    tx_bytes   INTEGER NOT NULL,
    rx_bytes   INTEGER NOT NULL,
    PRIMARY KEY (series, at_unix_ms)
) STRICT, WITHOUT ROWID;
CREATE TABLE samples_rollup (
    series      INTEGER NOT NULL REFERENCES sample_series (id),
    at_unix_ms  INTEGER NOT NULL,
    samples     INTEGER NOT NULL,
    rtt_samples INTEGER NOT NULL,
    rtt_sum     REAL NOT NULL,
    jitter_sum  REAL NOT NULL,
    loss_sum    REAL NOT NULL,
    up_samples  INTEGER NOT NULL,
    tx_bytes    INTEGER NOT NULL,
    rx_bytes    INTEGER NOT NULL,
    PRIMARY KEY (series, at_unix_ms)
) STRICT, WITHOUT ROWID;
";

/// The schema version this agent writes.
pub(super) const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Brings the schema up to [`SCHEMA_VERSION`]; on a fresh database also
/// imports the file store under `state_dir`. All in one transaction.
pub(super) fn migrate(conn: &mut Connection, state_dir: &Path) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from: usize = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .context("reading the schema version")?;
    if from > SCHEMA_VERSION {
        bail!(
            "the database has schema version {from}, newer than this agent's {SCHEMA_VERSION}: \
             run a newer weftd"
        );
    }
    if from == SCHEMA_VERSION {
        return Ok(());
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(sql).with_context(|| format!("applying schema migration {}", i + 1))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    if from == 0 {
        import_file_store(&tx, state_dir).context("importing the old policy file store")?;
    }
    tx.commit().context("committing the schema")?;
    Ok(())
}

/// Metadata of a version in the old file store (`policy/versions/NNNNNN.json`).
#[derive(Deserialize)]
struct OldVersion {
    version: u64,
    name: String,
    /// Unix seconds.
    stored_at: u64,
    by: String,
    fingerprint: String,
}

/// A line of the old `audit.jsonl`.
#[derive(Deserialize)]
struct OldAudit {
    /// Unix seconds.
    time: u64,
    who: String,
    action: String,
    before: Option<u64>,
    after: Option<u64>,
    detail: String,
}

/// Copies the old file store's versions, current version and audit log into
/// the (fresh) tables. Versions keep their numbers; times become milliseconds.
fn import_file_store(conn: &Connection, state_dir: &Path) -> Result<()> {
    let versions_dir = state_dir.join("policy/versions");
    let mut versions = Vec::new();
    if versions_dir.is_dir() {
        let entries = fs::read_dir(&versions_dir)
            .with_context(|| format!("listing {}", versions_dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            // The old store wrote the text first and the metadata second, so
            // a text without metadata is a torn store it ignored too.
            if path.extension().is_some_and(|e| e == "json") {
                let json = fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let meta: OldVersion = serde_json::from_str(&json)
                    .with_context(|| format!("{} is corrupt", path.display()))?;
                versions.push(meta);
            }
        }
    }
    versions.sort_by_key(|m| m.version);
    for m in &versions {
        let path = versions_dir.join(format!("{:06}.toml", m.version));
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let at = secs_to_ms(m.stored_at);
        policies::insert_version(conn, m.version, &m.name, &text, &m.by, at, &m.fingerprint)
            .with_context(|| format!("importing policy version {}", m.version))?;
    }

    let current_path = state_dir.join("policy/current");
    match fs::read_to_string(&current_path) {
        Ok(s) => {
            let v: u64 = s
                .trim()
                .parse()
                .with_context(|| format!("{} is corrupt", current_path.display()))?;
            if !versions.iter().any(|m| m.version == v) {
                bail!("{} names version {v}, which is not stored", current_path.display());
            }
            policies::set_current(conn, v)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", current_path.display())),
    }

    let audit_path = state_dir.join("audit.jsonl");
    match fs::read_to_string(&audit_path) {
        Ok(text) => {
            // Like the old reader: a torn line (a crash mid-append) is skipped.
            for old in text.lines().filter_map(|l| serde_json::from_str::<OldAudit>(l).ok()) {
                let rec = NewAudit {
                    who: old.who,
                    action: old.action,
                    target: "policy".to_owned(),
                    before: old.before.map(|v| v.to_string()),
                    after: old.after.map(|v| v.to_string()),
                    detail: old.detail,
                };
                audit::insert(conn, &rec, secs_to_ms(old.time), None)
                    .context("importing an audit record")?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", audit_path.display())),
    }
    Ok(())
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}
