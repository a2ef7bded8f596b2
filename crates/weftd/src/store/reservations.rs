//! Bandwidth reservations: stored so they survive a restart, changed only in
//! transactions that also append their audit records.
//!
//! A reservation's id is `r` and its row id (autoincrement: never reused).

use anyhow::{Context, Result};
use rusqlite::{Row, TransactionBehavior, params};
use weft_api::Reservation;

use super::Store;
use super::audit::{self, NewAudit};

/// One change of the reservations, made whole or not at all.
#[derive(Debug, Default)]
pub struct ReservationChange {
    /// A new reservation (its `id` is ignored: the store picks it).
    pub insert: Option<Reservation>,
    /// Reservations whose state, uplink or reason changed.
    pub update: Vec<Reservation>,
    /// Ids of reservations that end.
    pub delete: Vec<String>,
    /// Audit records of the change.
    pub audit: Vec<NewAudit>,
}

fn row_id(id: &str) -> Option<i64> {
    id.strip_prefix('r')?.parse().ok()
}

fn row_reservation(r: &Row<'_>) -> rusqlite::Result<Reservation> {
    Ok(Reservation {
        id: format!("r{}", r.get::<_, i64>(0)?),
        from: None,
        to: r.get(1)?,
        class: r.get(2)?,
        app: r.get(10)?,
        rate_bps: r.get::<_, i64>(3)?.max(0) as u64,
        priority: u8::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        state: r.get(5)?,
        uplink: r.get(6)?,
        reason: r.get(7)?,
        created_unix_ms: r.get(8)?,
        expires_unix_ms: r.get(9)?,
    })
}

impl Store {
    /// Every reservation, oldest first.
    pub fn reservations(&self) -> Result<Vec<Reservation>> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT id, to_site, class, rate_bps, priority, state, uplink, reason,
                    created_unix_ms, expires_unix_ms, app
             FROM reservations ORDER BY id",
        )?;
        let rows = stmt.query_map([], row_reservation)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().context("reading reservations")
    }

    /// Applies `change` in one transaction; the new reservation's id, if one
    /// was inserted.
    pub fn change_reservations(
        &self,
        change: &ReservationChange,
        now_unix_ms: i64,
    ) -> Result<Option<String>> {
        let request = crate::log::context::current();
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut new_id = None;
        if let Some(r) = &change.insert {
            tx.prepare_cached(
                "INSERT INTO reservations (to_site, class, rate_bps, priority, state, uplink,
                     reason, created_unix_ms, expires_unix_ms, app)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                r.to,
                r.class,
                i64::try_from(r.rate_bps).unwrap_or(i64::MAX),
                i64::from(r.priority),
                r.state,
                r.uplink,
                r.reason,
                r.created_unix_ms,
                r.expires_unix_ms,
                r.app
            ])
            .context("storing a reservation")?;
            new_id = Some(format!("r{}", tx.last_insert_rowid()));
        }
        for r in &change.update {
            let Some(id) = row_id(&r.id) else { continue };
            tx.prepare_cached(
                "UPDATE reservations SET state = ?2, uplink = ?3, reason = ?4 WHERE id = ?1",
            )?
            .execute(params![id, r.state, r.uplink, r.reason])
            .with_context(|| format!("updating reservation {}", r.id))?;
        }
        for id in &change.delete {
            let Some(id) = row_id(id) else { continue };
            tx.prepare_cached("DELETE FROM reservations WHERE id = ?1")?
                .execute([id])
                .context("deleting a reservation")?;
        }
        for rec in &change.audit {
            let mut rec = rec.clone();
            if let Some(id) = &new_id {
                rec.target = rec.target.replace("{new}", id);
            }
            audit::insert(&tx, &rec, now_unix_ms, request.as_deref())
                .context("auditing a reservation change")?;
        }
        tx.commit().context("committing a reservation change")?;
        Ok(new_id)
    }
}
