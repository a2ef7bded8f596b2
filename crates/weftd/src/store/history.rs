//! Path-measurement history: raw samples for a day, 5-minute rollups for a
//! month.
//!
//! Each path key gets a small integer id (`sample_series`), cached by the
//! writer, so a sample row is ~50 bytes. Both tables are `WITHOUT ROWID`
//! keyed by `(series, at_unix_ms)`: a path's history is one range scan, and
//! downsampling and retention are one range per path.
//!
//! A rollup row keeps sums and counts, not means, so that a late raw row
//! for an already rolled-up bucket merges exactly; means are computed on
//! read. Only buckets that lie wholly before `now - RAW_RETENTION` are
//! rolled up, so a bucket is never split between two runs.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use weft_api::PathSample;

use super::{Store, sql_limit};

/// How long raw samples are kept before they are rolled up.
pub const RAW_RETENTION: Duration = Duration::from_hours(24);
/// How long rolled-up samples are kept.
pub const ROLLUP_RETENTION: Duration = Duration::from_hours(30 * 24);
/// What one rolled-up sample covers.
pub const ROLLUP_RESOLUTION: Duration = Duration::from_mins(5);

/// One path's measurement over the last interval, as the agent records it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleInput {
    /// The path's [`super::path_key`].
    pub path_key: String,
    /// Smoothed RTT, milliseconds; `None` when nothing was measured.
    pub rtt_ms: Option<f64>,
    /// Jitter, milliseconds.
    pub jitter_ms: f64,
    /// Loss, percent.
    pub loss_pct: f64,
    /// Whether the path was up (or degraded).
    pub up: bool,
    /// Bytes sent during the interval.
    pub tx_bytes: u64,
    /// Bytes received during the interval.
    pub rx_bytes: u64,
    /// Length of the interval, seconds.
    pub interval_s: u32,
}

impl Store {
    /// Records one sample per path at `now_unix_ms`, in one transaction.
    /// A second sample of a path at the same time replaces the first.
    /// Refuses the whole batch (writing nothing) if a value is not finite.
    pub fn record_samples(&self, now_unix_ms: i64, samples: &[SampleInput]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        for s in samples {
            let finite = s.rtt_ms.is_none_or(f64::is_finite)
                && s.jitter_ms.is_finite()
                && s.loss_pct.is_finite();
            if !finite {
                bail!("the sample of path {} has a value that is not finite: {s:?}", s.path_key);
            }
        }
        let mut guard = self.writer();
        let w = &mut *guard;
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Ids inserted by this transaction join the cache only once it commits.
        let mut fresh = BTreeMap::new();
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO samples_raw
                 (series, at_unix_ms, interval_s, rtt_ms, jitter_ms, loss_pct, up, tx_bytes, rx_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for s in samples {
                let cached = w.series.get(&s.path_key).or_else(|| fresh.get(&s.path_key));
                let series = if let Some(id) = cached {
                    *id
                } else {
                    let id = series_id(&tx, &s.path_key)?;
                    fresh.insert(s.path_key.clone(), id);
                    id
                };
                insert
                    .execute(params![
                        series,
                        now_unix_ms,
                        s.interval_s,
                        s.rtt_ms,
                        s.jitter_ms,
                        s.loss_pct,
                        s.up,
                        s.tx_bytes,
                        s.rx_bytes
                    ])
                    .with_context(|| format!("storing a sample of path {}", s.path_key))?;
            }
        }
        tx.commit().context("committing path samples")?;
        w.series.extend(fresh);
        Ok(())
    }

    /// Rolls raw samples older than [`RAW_RETENTION`] into
    /// [`ROLLUP_RESOLUTION`] buckets (deleting them) and deletes rollups
    /// older than [`ROLLUP_RETENTION`]. Idempotent; one transaction.
    pub fn downsample(&self, now_unix_ms: i64) -> Result<()> {
        let bucket = ms(ROLLUP_RESOLUTION);
        // Only whole buckets: the cutoff is rounded down to a bucket start.
        let raw_cutoff = (now_unix_ms - ms(RAW_RETENTION)).div_euclid(bucket) * bucket;
        let rollup_cutoff = now_unix_ms - ms(ROLLUP_RETENTION);
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let series = tx
                .prepare_cached("SELECT id FROM sample_series ORDER BY id")?
                .query_map([], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .context("listing sample series")?;
            let mut roll_up = tx.prepare_cached(
                "INSERT INTO samples_rollup (series, at_unix_ms, samples, rtt_samples, rtt_sum,
                     jitter_sum, loss_sum, up_samples, tx_bytes, rx_bytes)
                 SELECT series, at_unix_ms / ?3 * ?3, count(*), count(rtt_ms), total(rtt_ms),
                     total(jitter_ms), total(loss_pct), sum(up), sum(tx_bytes), sum(rx_bytes)
                 FROM samples_raw WHERE series = ?1 AND at_unix_ms < ?2
                 GROUP BY 2
                 ON CONFLICT (series, at_unix_ms) DO UPDATE SET
                     samples = samples + excluded.samples,
                     rtt_samples = rtt_samples + excluded.rtt_samples,
                     rtt_sum = rtt_sum + excluded.rtt_sum,
                     jitter_sum = jitter_sum + excluded.jitter_sum,
                     loss_sum = loss_sum + excluded.loss_sum,
                     up_samples = up_samples + excluded.up_samples,
                     tx_bytes = tx_bytes + excluded.tx_bytes,
                     rx_bytes = rx_bytes + excluded.rx_bytes",
            )?;
            let mut delete_raw =
                tx.prepare_cached("DELETE FROM samples_raw WHERE series = ?1 AND at_unix_ms < ?2")?;
            let mut delete_rollups = tx.prepare_cached(
                "DELETE FROM samples_rollup WHERE series = ?1 AND at_unix_ms < ?2",
            )?;
            for id in series {
                roll_up
                    .execute(params![id, raw_cutoff, bucket])
                    .with_context(|| format!("rolling up the samples of series {id}"))?;
                delete_raw.execute(params![id, raw_cutoff])?;
                delete_rollups.execute(params![id, rollup_cutoff])?;
            }
        }
        tx.commit().context("committing the downsampled history")
    }

    /// Up to `limit` points of a path starting at or after `since_unix_ms`,
    /// oldest first: rollups (`resolution_s` 300) then raw samples
    /// (`resolution_s` = their interval, `up_ratio` 0 or 1).
    pub fn history(
        &self,
        path_key: &str,
        since_unix_ms: i64,
        limit: usize,
    ) -> Result<Vec<PathSample>> {
        let conn = self.reader();
        let tx = conn.unchecked_transaction()?;
        let Some(series) = tx
            .prepare_cached("SELECT id FROM sample_series WHERE path_key = ?1")?
            .query_row([path_key], |r| r.get::<_, i64>(0))
            .optional()?
        else {
            return Ok(Vec::new());
        };
        tx.prepare_cached(
            "SELECT at_unix_ms, ?4, CASE WHEN rtt_samples > 0 THEN rtt_sum / rtt_samples END,
                 jitter_sum / samples, loss_sum / samples, CAST(up_samples AS REAL) / samples,
                 tx_bytes, rx_bytes
             FROM samples_rollup WHERE series = ?1 AND at_unix_ms >= ?2
             UNION ALL
             SELECT at_unix_ms, interval_s, rtt_ms, jitter_ms, loss_pct, CAST(up AS REAL),
                 tx_bytes, rx_bytes
             FROM samples_raw WHERE series = ?1 AND at_unix_ms >= ?2
             ORDER BY 1 LIMIT ?3",
        )?
        .query_map(
            params![series, since_unix_ms, sql_limit(limit), ROLLUP_RESOLUTION.as_secs()],
            |r| {
                Ok(PathSample {
                    at_unix_ms: r.get(0)?,
                    resolution_s: r.get(1)?,
                    rtt_ms: r.get(2)?,
                    jitter_ms: r.get(3)?,
                    loss_pct: r.get(4)?,
                    up_ratio: r.get(5)?,
                    tx_bytes: r.get(6)?,
                    rx_bytes: r.get(7)?,
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()
        .with_context(|| format!("reading the history of path {path_key}"))
    }
}

/// The id of a path key's series, creating it.
fn series_id(conn: &Connection, path_key: &str) -> Result<i64> {
    conn.prepare_cached("INSERT OR IGNORE INTO sample_series (path_key) VALUES (?1)")?
        .execute([path_key])?;
    conn.prepare_cached("SELECT id FROM sample_series WHERE path_key = ?1")?
        .query_row([path_key], |r| r.get(0))
        .with_context(|| format!("creating the sample series of path {path_key}"))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
