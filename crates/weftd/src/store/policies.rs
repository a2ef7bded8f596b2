//! Policy versions and which one runs.
//!
//! A version is stored once, with its exact text, and never changed (a
//! trigger refuses updates); making it current is a separate step, so a
//! version can be stored, checked and only then run.

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::Store;

/// Metadata of one stored policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// Version number, from 1, one more than the previous.
    pub version: u64,
    /// The policy's `[policy] name`.
    pub name: String,
    /// When it was stored, Unix milliseconds.
    pub stored_unix_ms: i64,
    /// Who stored it (`token:ci`, `startup policy.toml`).
    pub by: String,
    /// Length and FNV-1a of the text, to spot re-applies of the same text.
    pub fingerprint: String,
}

impl Store {
    /// Stores `text` as a new version (not yet current) and returns its metadata.
    pub fn store_policy(
        &self,
        name: &str,
        text: &str,
        by: &str,
        now_unix_ms: i64,
    ) -> Result<PolicyVersion> {
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: u64 = tx
            .query_row("SELECT coalesce(max(version), 0) FROM policy_versions", [], |r| r.get(0))
            .context("finding the last policy version")?;
        let meta = PolicyVersion {
            version: last + 1,
            name: name.to_owned(),
            stored_unix_ms: now_unix_ms,
            by: by.to_owned(),
            fingerprint: fingerprint(text),
        };
        insert_version(&tx, meta.version, name, text, by, now_unix_ms, &meta.fingerprint)
            .with_context(|| format!("storing policy version {}", meta.version))?;
        tx.commit().with_context(|| format!("committing policy version {}", meta.version))?;
        Ok(meta)
    }

    /// Every stored version, oldest first.
    pub fn policy_versions(&self) -> Result<Vec<PolicyVersion>> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT version, name, stored_unix_ms, stored_by, fingerprint
             FROM policy_versions ORDER BY version",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PolicyVersion {
                version: r.get(0)?,
                name: r.get(1)?,
                stored_unix_ms: r.get(2)?,
                by: r.get(3)?,
                fingerprint: r.get(4)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>().context("listing policy versions")
    }

    /// The exact text of a version.
    pub fn policy_text(&self, version: u64) -> Result<String> {
        let conn = self.reader();
        let text = conn
            .prepare_cached("SELECT text FROM policy_versions WHERE version = ?1")?
            .query_row([version], |r| r.get(0))
            .optional()
            .with_context(|| format!("reading policy version {version}"))?;
        text.with_context(|| format!("policy version {version} does not exist"))
    }

    /// The running version, if one was ever made current.
    pub fn current_policy(&self) -> Result<Option<u64>> {
        let conn = self.reader();
        conn.prepare_cached("SELECT version FROM policy_current WHERE singleton = 1")?
            .query_row([], |r| r.get(0))
            .optional()
            .context("reading the current policy version")
    }

    /// Makes `version` the running one. Errors if it is not stored.
    pub fn set_current_policy(&self, version: u64) -> Result<()> {
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        set_current(&tx, version)?;
        tx.commit().with_context(|| format!("committing policy version {version} as current"))
    }
}

/// Inserts one version row (used by [`Store::store_policy`] and the import).
pub(super) fn insert_version(
    conn: &Connection,
    version: u64,
    name: &str,
    text: &str,
    by: &str,
    at_unix_ms: i64,
    fingerprint: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO policy_versions (version, name, text, stored_unix_ms, stored_by, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![version, name, text, at_unix_ms, by, fingerprint])?;
    Ok(())
}

/// Points `policy_current` at `version`, which must exist.
pub(super) fn set_current(conn: &Connection, version: u64) -> Result<()> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM policy_versions WHERE version = ?1")?
        .exists([version])
        .with_context(|| format!("looking up policy version {version}"))?;
    if !exists {
        bail!("policy version {version} does not exist");
    }
    conn.prepare_cached(
        "INSERT INTO policy_current (singleton, version) VALUES (1, ?1)
         ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
    )?
    .execute([version])
    .with_context(|| format!("making policy version {version} current"))?;
    Ok(())
}

/// Length and 64-bit FNV-1a of the text (the file store's fingerprint, so
/// imported and new versions compare).
pub(super) fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}-{h:016x}", text.len())
}

#[cfg(test)]
mod tests {
    use super::super::tests::TempDir;
    use super::*;

    #[test]
    fn policy_versions_are_numbered_from_one_and_keep_their_exact_text() {
        let dir = TempDir::new("policy-numbers");
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.current_policy().unwrap(), None);
        assert!(s.policy_versions().unwrap().is_empty());
        let a = s.store_policy("one", "a = 1\n", "test", 1_000).unwrap();
        let b = s.store_policy("two", "  b = 2\r\n\u{e9}", "ci", 2_000).unwrap();
        assert_eq!((a.version, b.version), (1, 2));
        assert_eq!(b.stored_unix_ms, 2_000);
        assert_eq!(b.by, "ci");
        assert_eq!(a.fingerprint, fingerprint("a = 1\n"));
        assert_eq!(s.policy_text(2).unwrap(), "  b = 2\r\n\u{e9}");
        assert_eq!(s.policy_versions().unwrap(), vec![a, b]);
        s.set_current_policy(1).unwrap();
        assert_eq!(s.current_policy().unwrap(), Some(1));
        s.set_current_policy(2).unwrap();
        assert_eq!(s.current_policy().unwrap(), Some(2));
    }

    #[test]
    fn a_missing_policy_version_is_an_error_that_names_it() {
        let dir = TempDir::new("policy-missing");
        let s = Store::open(dir.path()).unwrap();
        s.store_policy("one", "a = 1\n", "test", 1).unwrap();
        let e = s.policy_text(7).unwrap_err();
        assert_eq!(e.to_string(), "policy version 7 does not exist");
        let e = s.set_current_policy(7).unwrap_err();
        assert_eq!(e.to_string(), "policy version 7 does not exist");
        assert_eq!(s.current_policy().unwrap(), None);
    }

    #[test]
    fn a_stored_version_cannot_be_rewritten() {
        let dir = TempDir::new("policy-immutable");
        let s = Store::open(dir.path()).unwrap();
        s.store_policy("one", "a = 1\n", "test", 1).unwrap();
        let e = s.writer().conn.execute("UPDATE policy_versions SET text = 'x'", []).unwrap_err();
        assert!(e.to_string().contains("immutable"), "{e}");
        assert_eq!(s.policy_text(1).unwrap(), "a = 1\n");
    }

    #[test]
    fn the_fingerprint_is_length_and_fnv1a() {
        assert_eq!(fingerprint(""), "0-cbf29ce484222325");
        assert_eq!(fingerprint("a"), "1-af63dc4c8601ec8c");
    }
}
