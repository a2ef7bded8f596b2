//! The append-only audit log.
//!
//! There is no method to change a record, and the `audit` table's triggers
//! make `SQLite` abort any `UPDATE` or `DELETE`, so neither a bug here nor a
//! stray statement elsewhere can rewrite history. The one exception is
//! retention ([`Store::prune_audit`]): the oldest records beyond the
//! configured age or count go, oldest first, in small transactions that
//! raise `audit_pruning.active` for their own duration, after being
//! appended to an export file when one is configured. (Someone with write
//! access to the file can still drop the triggers: the log guards against
//! mistakes, not against the host's root.)

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::{Connection, params};
use weft_api::AuditRecord;

use super::{Store, sql_limit};

/// An audit record to append; the store assigns its id and takes the time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAudit {
    /// Who: `token:<name>`, `local socket`, `startup ...`, or the client address.
    pub who: String,
    /// What: `policy.apply`, `token.create`, `denied`, ...
    pub action: String,
    /// What it was done to (`policy`, `token 3`, `site b`).
    pub target: String,
    /// State before, when it changed something.
    pub before: Option<String>,
    /// State after.
    pub after: Option<String>,
    /// Free text: why, or what was refused.
    pub detail: String,
}

/// How long and how many audit records are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRetention {
    /// Records older than this many milliseconds go (none: no age limit).
    pub max_age_ms: Option<i64>,
    /// At most this many records stay (none: no count limit).
    pub max_records: Option<u64>,
    /// Pruned records are first appended here as JSON lines (none: dropped).
    pub export: Option<std::path::PathBuf>,
}

/// Records pruned per transaction: the API's writes interleave between them.
const PRUNE_BATCH: usize = 500;

impl Store {
    /// Removes the records `retention` does not keep, oldest first, in
    /// transactions of [`PRUNE_BATCH`] records (the writer is released
    /// between them), exporting each batch first when configured. Returns
    /// how many went.
    pub fn prune_audit(&self, retention: &AuditRetention, now_unix_ms: i64) -> Result<u64> {
        let mut pruned = 0u64;
        loop {
            let w = self.writer();
            let (max_id, count): (i64, i64) =
                w.conn.query_row("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM audit", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            // The highest id a count limit lets go (ids are dense: only this
            // prunes, from the oldest), and the age cutoff.
            let by_count = match retention.max_records {
                Some(keep) if u64::try_from(count).unwrap_or(0) > keep => {
                    max_id - i64::try_from(keep).unwrap_or(i64::MAX)
                }
                _ => 0,
            };
            let cutoff = retention.max_age_ms.map_or(i64::MIN, |age| now_unix_ms - age);
            let tx = w.conn.unchecked_transaction()?;
            let batch: Vec<AuditRecord> = tx
                .prepare_cached(
                    "SELECT id, at_unix_ms, who, action, target, before_state, after_state, detail,
                            request_id
                     FROM audit WHERE id <= ?1 OR at_unix_ms < ?2 ORDER BY id LIMIT ?3",
                )?
                .query_map(params![by_count, cutoff, sql_limit(PRUNE_BATCH)], row_record)?
                .collect::<rusqlite::Result<_>>()?;
            let Some(last) = batch.last().map(|r| r.id) else { return Ok(pruned) };
            if let Some(path) = &retention.export {
                export(path, &batch)?;
            }
            tx.execute("UPDATE audit_pruning SET active = 1 WHERE singleton = 1", [])?;
            let n = tx.execute("DELETE FROM audit WHERE id <= ?1", params![last])?;
            tx.execute("UPDATE audit_pruning SET active = 0 WHERE singleton = 1", [])?;
            tx.commit().context("pruning the audit log")?;
            pruned += n as u64;
            drop(w);
            std::thread::yield_now();
        }
    }

    /// Appends one record (on disk when this returns) and returns its id.
    ///
    /// The record carries the id of the API request the calling thread
    /// serves ([`crate::log::context::current`]), if any: every audit record
    /// an API call causes is stamped without each call site passing it.
    pub fn audit(&self, rec: &NewAudit, now_unix_ms: i64) -> Result<u64> {
        let request = crate::log::context::current();
        let w = self.writer();
        insert(&w.conn, rec, now_unix_ms, request.as_deref())
            .with_context(|| format!("appending the audit record {} {}", rec.action, rec.target))
    }

    /// Up to `limit` records with ids above `after_id` (all when `None`),
    /// oldest first, and how many records the log holds in all.
    ///
    /// Pass the last id of a page as the next `after_id`: each record is
    /// returned exactly once, also while records are being appended.
    pub fn audit_page(
        &self,
        after_id: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, u64)> {
        let conn = self.reader();
        // One read transaction, so the page and the total agree.
        let tx = conn.unchecked_transaction()?;
        let items = tx
            .prepare_cached(
                "SELECT id, at_unix_ms, who, action, target, before_state, after_state, detail,
                        request_id
                 FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![after_id.unwrap_or(0), sql_limit(limit)], row_record)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading audit records")?;
        let total = tx
            .prepare_cached("SELECT count(*) FROM audit")?
            .query_row([], |r| r.get(0))
            .context("counting audit records")?;
        Ok((items, total))
    }
}

/// Inserts one record (used by [`Store::audit`] and the import), with the
/// id of the API request it belongs to, if any.
pub(super) fn insert(
    conn: &Connection,
    rec: &NewAudit,
    at_unix_ms: i64,
    request_id: Option<&str>,
) -> rusqlite::Result<u64> {
    let id = conn
        .prepare_cached(
            "INSERT INTO audit (at_unix_ms, who, action, target, before_state, after_state, detail,
                                request_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )?
        .query_row(
            params![
                at_unix_ms, rec.who, rec.action, rec.target, rec.before, rec.after, rec.detail,
                request_id
            ],
            |r| r.get(0),
        )?;
    Ok(id)
}

fn row_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get(0)?,
        at_unix_ms: r.get(1)?,
        who: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        before: r.get(5)?,
        after: r.get(6)?,
        detail: r.get(7)?,
        request_id: r.get(8)?,
    })
}

/// Appends `batch` to `path` as JSON lines and syncs it, before the rows go.
fn export(path: &Path, batch: &[AuditRecord]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening the audit export {}", path.display()))?;
    let mut text = String::new();
    for r in batch {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing the audit export {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::tests::TempDir;
    use super::*;

    fn record(i: usize) -> NewAudit {
        NewAudit {
            who: "token:ci".to_owned(),
            action: "policy.apply".to_owned(),
            target: "policy".to_owned(),
            before: (i > 0).then(|| (i - 1).to_string()),
            after: Some(i.to_string()),
            detail: format!("record {i}"),
        }
    }

    #[test]
    fn audit_records_keep_every_field_and_get_increasing_ids() {
        let dir = TempDir::new("audit-fields");
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.audit(&record(0), 10).unwrap(), 1);
        assert_eq!(s.audit(&record(1), 20).unwrap(), 2);
        let (items, total) = s.audit_page(None, 10).unwrap();
        assert_eq!(total, 2);
        assert_eq!(items[0].before, None);
        assert_eq!(items[1].before.as_deref(), Some("0"));
        assert_eq!(items[1].after.as_deref(), Some("1"));
        assert_eq!((items[1].id, items[1].at_unix_ms), (2, 20));
        assert_eq!(items[1].detail, "record 1");
        assert_eq!(items[1].who, "token:ci");
    }

    #[test]
    fn a_record_written_while_serving_a_request_carries_its_id() {
        let dir = TempDir::new("audit-request-id");
        let s = Store::open(dir.path()).unwrap();
        {
            let _serving = crate::log::context::enter(Some("req-7".into()));
            s.audit(&record(0), 10).unwrap();
        }
        s.audit(&record(1), 20).unwrap();
        let (items, _) = s.audit_page(None, 10).unwrap();
        assert_eq!(items[0].request_id.as_deref(), Some("req-7"));
        assert_eq!(items[1].request_id, None, "outside a request");
    }

    #[test]
    fn the_database_refuses_to_update_or_delete_audit_records() {
        let dir = TempDir::new("audit-append-only");
        let s = Store::open(dir.path()).unwrap();
        s.audit(&record(0), 10).unwrap();
        {
            let w = s.writer();
            for sql in [
                "UPDATE audit SET detail = 'forged'",
                "DELETE FROM audit WHERE id = 1",
                "DELETE FROM audit",
            ] {
                let e = w.conn.execute(sql, []).unwrap_err();
                assert!(e.to_string().contains("append-only"), "{sql}: {e}");
            }
        }
        let (items, total) = s.audit_page(None, 10).unwrap();
        assert_eq!(total, 1);
        assert_eq!(items[0].detail, "record 0");
    }

    #[test]
    fn retention_prunes_the_oldest_by_count_and_age_exporting_them_first() {
        let dir = TempDir::new("audit-retention");
        let s = Store::open(dir.path()).unwrap();
        for i in 0..1200 {
            s.audit(&record(i), 1_000 + i64::try_from(i).unwrap()).unwrap();
        }
        let export = dir.path().join("audit-export.jsonl");
        let by_count = AuditRetention {
            max_age_ms: None,
            max_records: Some(1000),
            export: Some(export.clone()),
        };
        assert_eq!(s.prune_audit(&by_count, 5_000).unwrap(), 200);
        let (items, total) = s.audit_page(None, 1).unwrap();
        assert_eq!((total, items[0].id), (1000, 201), "the 200 oldest went");
        let lines: Vec<AuditRecord> = std::fs::read_to_string(&export)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 200);
        assert_eq!((lines[0].id, lines[199].id), (1, 200), "exported in order before they went");
        assert_eq!(s.prune_audit(&by_count, 5_000).unwrap(), 0, "nothing more to do");
        // By age: records stamped before now - 100 ms go (ids 201..=1100).
        let by_age = AuditRetention { max_age_ms: Some(100), max_records: None, export: None };
        assert_eq!(s.prune_audit(&by_age, 2_200).unwrap(), 900);
        let (items, total) = s.audit_page(None, 1).unwrap();
        assert_eq!((total, items[0].at_unix_ms), (100, 2_100));
        // Outside pruning the log is append-only as before.
        let w = s.writer();
        let e = w.conn.execute("DELETE FROM audit", []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        assert!(w.conn.execute("DELETE FROM audit_pruning", []).is_err());
    }

    #[test]
    fn audit_pages_over_600_records_return_each_exactly_once_in_order() {
        let dir = TempDir::new("audit-pages");
        let s = Store::open(dir.path()).unwrap();
        {
            // Bulk insert in one transaction: this test is about paging, not fsync.
            let mut w = s.writer();
            let tx = w.conn.transaction().unwrap();
            for i in 0..600 {
                insert(&tx, &record(i), i64::try_from(i).unwrap(), None).unwrap();
            }
            tx.commit().unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let (items, total) = s.audit_page(cursor, 64).unwrap();
            assert_eq!(total, 600);
            let Some(last) = items.last() else { break };
            cursor = Some(last.id);
            seen.extend(items.iter().map(|r| (r.id, r.detail.clone())));
            pages += 1;
        }
        assert_eq!(pages, 10); // 9 full pages and one of 24
        let expected: Vec<_> = (0..600).map(|i| (i as u64 + 1, format!("record {i}"))).collect();
        assert_eq!(seen, expected);
        assert!(s.audit_page(Some(600), 64).unwrap().0.is_empty());
        assert!(s.audit_page(None, 0).unwrap().0.is_empty());
    }
}
