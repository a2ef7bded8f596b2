//! The stored event stream, for clients that resume with `Last-Event-ID`.
//!
//! Ids come from an `AUTOINCREMENT` key, so they only grow and are never
//! reused, also after pruning and across restarts. The event itself is kept
//! as JSON (its `id` and `at_unix_ms` live in their own columns and are
//! filled in on read), beside an indexed `kind`.

use anyhow::{Context, Result};
use rusqlite::{Row, TransactionBehavior, params};
use weft_api::Event;

use super::{Store, sql_limit};

/// How many events are kept: the newest 100 000.
pub const EVENT_RETENTION: u64 = 100_000;

/// Events are pruned down to [`EVENT_RETENTION`] when an id is a multiple of
/// this, so at most this many more are ever stored.
pub const EVENT_PRUNE_EVERY: u64 = 1000;

impl Store {
    /// Stores `ev` with the next id and time `now_unix_ms` (its own `id` and
    /// `at_unix_ms` are ignored) and returns the stored event.
    pub fn append_event(&self, ev: &Event, now_unix_ms: i64) -> Result<Event> {
        let limits = self.inner.events;
        let mut stored = Event { id: 0, at_unix_ms: 0, ..ev.clone() };
        let body = serde_json::to_string(&stored).context("encoding an event")?;
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id: u64 = tx
            .prepare_cached(
                "INSERT INTO events (at_unix_ms, kind, body) VALUES (?1, ?2, ?3) RETURNING id",
            )?
            .query_row(params![now_unix_ms, ev.kind.as_str(), body], |r| r.get(0))
            .with_context(|| format!("storing a {} event", ev.kind.as_str()))?;
        if id.is_multiple_of(limits.prune_every) && id > limits.retention {
            tx.prepare_cached("DELETE FROM events WHERE id <= ?1")?
                .execute([id - limits.retention])
                .context("pruning old events")?;
        }
        tx.commit().with_context(|| format!("committing event {id}"))?;
        stored.id = id;
        stored.at_unix_ms = now_unix_ms;
        Ok(stored)
    }

    /// Up to `limit` events with ids above `after_id`, oldest first. If the
    /// events right after `after_id` were pruned, starts at the oldest kept.
    pub fn events_after(&self, after_id: u64, limit: usize) -> Result<Vec<Event>> {
        let conn = self.reader();
        conn.prepare_cached(
            "SELECT id, at_unix_ms, body FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?
        .query_map(params![after_id, sql_limit(limit)], event)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .with_context(|| format!("reading events after {after_id}"))
    }

    /// The id of the newest event, 0 when there is none.
    pub fn last_event_id(&self) -> Result<u64> {
        let conn = self.reader();
        conn.prepare_cached("SELECT coalesce(max(id), 0) FROM events")?
            .query_row([], |r| r.get(0))
            .context("reading the last event id")
    }
}

fn event(r: &Row<'_>) -> rusqlite::Result<Event> {
    let body: String = r.get(2)?;
    let mut ev: Event = serde_json::from_str(&body).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
    })?;
    ev.id = r.get(0)?;
    ev.at_unix_ms = r.get(1)?;
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use weft_api::EventKind;

    use super::super::EventLimits;
    use super::super::tests::TempDir;
    use super::*;

    fn failover(i: u32) -> Event {
        Event {
            site: Some("b".to_owned()),
            path: Some(i),
            from_path: Some(i + 1),
            class: Some("voice".to_owned()),
            rtt_ms: Some(12.5),
            ..Event::new(EventKind::Failover, format!("failover {i}"))
        }
    }

    #[test]
    fn an_appended_event_gets_the_next_id_and_the_given_time_and_keeps_its_fields() {
        let dir = TempDir::new("events-fields");
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.last_event_id().unwrap(), 0);
        let mut ev = failover(3);
        ev.id = 77; // ignored
        let stored = s.append_event(&ev, 1_234).unwrap();
        assert_eq!((stored.id, stored.at_unix_ms), (1, 1_234));
        assert_eq!(stored, Event { id: 1, at_unix_ms: 1_234, ..ev });
        assert_eq!(s.events_after(0, 10).unwrap(), vec![stored]);
        assert_eq!(s.last_event_id().unwrap(), 1);
    }

    #[test]
    fn events_after_returns_the_events_after_an_id_in_order() {
        let dir = TempDir::new("events-after");
        let s = Store::open(dir.path()).unwrap();
        for i in 0..10 {
            s.append_event(&failover(i), i64::from(i)).unwrap();
        }
        let ids = |v: Vec<Event>| v.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(s.events_after(4, 3).unwrap()), vec![5, 6, 7]);
        assert_eq!(ids(s.events_after(8, 100).unwrap()), vec![9, 10]);
        assert!(s.events_after(10, 100).unwrap().is_empty());
        assert_eq!(s.events_after(0, 1).unwrap()[0].message, "failover 0");
    }

    #[test]
    fn event_ids_increase_strictly_across_reopen_and_pruning() {
        let dir = TempDir::new("events-prune");
        let limits = EventLimits { retention: 10, prune_every: 5 };
        let mut last = 0;
        for round in 0..3 {
            let s = Store::open_with(dir.path(), limits).unwrap();
            assert_eq!(s.last_event_id().unwrap(), last);
            for i in 0..12 {
                let id = s.append_event(&failover(i), round * 100 + i64::from(i)).unwrap().id;
                assert!(id > last, "{id} after {last}");
                last = id;
            }
            let kept = s.events_after(0, 1000).unwrap();
            assert!(kept.len() <= 10 + 5, "{} kept", kept.len());
            assert_eq!(kept.last().unwrap().id, last);
            assert!(kept.windows(2).all(|w| w[1].id == w[0].id + 1));
        }
        assert_eq!(last, 36);
        // Pruned at 35: ids 1..=25 are gone, 26..=36 kept.
        let s = Store::open_with(dir.path(), limits).unwrap();
        let kept = s.events_after(0, 1000).unwrap();
        assert_eq!(kept.first().unwrap().id, 26);
        // Even with every event gone, ids are not reused.
        s.writer().conn.execute("DELETE FROM events", []).unwrap();
        assert_eq!(s.append_event(&failover(0), 0).unwrap().id, 37);
    }
}
