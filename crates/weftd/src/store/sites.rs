//! The durable inventory: sites (with their endpoints and prefixes, in order)
//! and the paths this agent measures.
//!
//! Paths do not reference sites: the agent may learn a path before the site
//! record, and a removed site's paths stay as history keys.

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::Store;

/// A site as the agent last knew it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    /// Site id (peer name).
    pub id: String,
    /// Role, when known.
    pub role: Option<String>,
    /// Region, when known.
    pub region: Option<String>,
    /// WireGuard public key, base64.
    pub public_key: String,
    /// Endpoints `ip:port`, in the configured order.
    pub endpoints: Vec<String>,
    /// Overlay prefixes it owns, in the configured order.
    pub prefixes: Vec<String>,
    /// Whether an operator removed it.
    pub removed: bool,
}

/// A path: local uplink × remote endpoint of a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRecord {
    /// `"{site}|{uplink}|{remote}"` (see [`path_key`]): stable across restarts,
    /// unlike the numeric path id.
    pub key: String,
    /// Remote site.
    pub site: String,
    /// Local uplink name.
    pub uplink: String,
    /// Remote endpoint `ip:port`.
    pub remote: String,
}

/// The stable key of a path, `"{site}|{uplink}|{remote}"`.
pub fn path_key(site: &str, uplink: &str, remote: &str) -> String {
    format!("{site}|{uplink}|{remote}")
}

impl Store {
    /// Inserts or replaces a site's record, endpoints and prefixes. Keeps
    /// its `removed` flag (a new site starts as not removed; `site.removed`
    /// is ignored: use [`Store::set_site_removed`]).
    pub fn upsert_site(&self, site: &SiteRecord, now_unix_ms: i64) -> Result<()> {
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT INTO sites (id, role, region, public_key, updated_unix_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET role = excluded.role, region = excluded.region,
                 public_key = excluded.public_key, updated_unix_ms = excluded.updated_unix_ms",
        )?
        .execute(params![site.id, site.role, site.region, site.public_key, now_unix_ms])
        .with_context(|| format!("storing site {}", site.id))?;
        for (table, column, values) in [
            ("site_endpoints", "endpoint", &site.endpoints),
            ("site_prefixes", "prefix", &site.prefixes),
        ] {
            tx.prepare_cached(&format!("DELETE FROM {table} WHERE site = ?1"))?
                .execute([&site.id])?;
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO {table} (site, position, {column}) VALUES (?1, ?2, ?3)"
            ))?;
            for (i, v) in values.iter().enumerate() {
                insert
                    .execute(params![site.id, i, v])
                    .with_context(|| format!("storing {column} {v} of site {}", site.id))?;
            }
        }
        tx.commit().with_context(|| format!("committing site {}", site.id))
    }

    /// Marks a site removed (or not). False if the site is unknown.
    pub fn set_site_removed(&self, id: &str, removed: bool, now_unix_ms: i64) -> Result<bool> {
        let w = self.writer();
        let n = w
            .conn
            .prepare_cached("UPDATE sites SET removed = ?2, updated_unix_ms = ?3 WHERE id = ?1")?
            .execute(params![id, removed, now_unix_ms])
            .with_context(|| format!("marking site {id} removed={removed}"))?;
        Ok(n == 1)
    }

    /// Every site, by id.
    pub fn sites(&self) -> Result<Vec<SiteRecord>> {
        let conn = self.reader();
        let tx = conn.unchecked_transaction()?;
        let mut sites = tx
            .prepare_cached("SELECT id, role, region, public_key, removed FROM sites ORDER BY id")?
            .query_map([], site_row)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("listing sites")?;
        for s in &mut sites {
            fill_lists(&tx, s)?;
        }
        Ok(sites)
    }

    /// One site, if known.
    pub fn site(&self, id: &str) -> Result<Option<SiteRecord>> {
        let conn = self.reader();
        let tx = conn.unchecked_transaction()?;
        let site = tx
            .prepare_cached(
                "SELECT id, role, region, public_key, removed FROM sites WHERE id = ?1",
            )?
            .query_row([id], site_row)
            .optional()
            .with_context(|| format!("reading site {id}"))?;
        let Some(mut site) = site else { return Ok(None) };
        fill_lists(&tx, &mut site)?;
        Ok(Some(site))
    }

    /// Inserts or updates a path. `key` must be [`path_key`] of the parts.
    pub fn upsert_path(
        &self,
        key: &str,
        site: &str,
        uplink: &str,
        remote: &str,
        now_unix_ms: i64,
    ) -> Result<()> {
        if key != path_key(site, uplink, remote) {
            bail!("path key {key:?} is not \"{site}|{uplink}|{remote}\"");
        }
        let w = self.writer();
        w.conn
            .prepare_cached(
                "INSERT INTO paths (path_key, site, uplink, remote, first_unix_ms, updated_unix_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (path_key) DO UPDATE SET updated_unix_ms = excluded.updated_unix_ms",
            )?
            .execute(params![key, site, uplink, remote, now_unix_ms])
            .with_context(|| format!("storing path {key}"))?;
        Ok(())
    }

    /// Every path, by key.
    pub fn paths(&self) -> Result<Vec<PathRecord>> {
        let conn = self.reader();
        conn.prepare_cached("SELECT path_key, site, uplink, remote FROM paths ORDER BY path_key")?
            .query_map([], |r| {
                Ok(PathRecord {
                    key: r.get(0)?,
                    site: r.get(1)?,
                    uplink: r.get(2)?,
                    remote: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("listing paths")
    }
}

fn site_row(r: &Row<'_>) -> rusqlite::Result<SiteRecord> {
    Ok(SiteRecord {
        id: r.get(0)?,
        role: r.get(1)?,
        region: r.get(2)?,
        public_key: r.get(3)?,
        endpoints: Vec::new(),
        prefixes: Vec::new(),
        removed: r.get(4)?,
    })
}

fn fill_lists(conn: &Connection, site: &mut SiteRecord) -> Result<()> {
    let list = |sql: &str| -> Result<Vec<String>> {
        conn.prepare_cached(sql)?
            .query_map([&site.id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .with_context(|| format!("reading the endpoints and prefixes of site {}", site.id))
    };
    let endpoints = list("SELECT endpoint FROM site_endpoints WHERE site = ?1 ORDER BY position")?;
    let prefixes = list("SELECT prefix FROM site_prefixes WHERE site = ?1 ORDER BY position")?;
    site.endpoints = endpoints;
    site.prefixes = prefixes;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::TempDir;
    use super::*;

    fn site(id: &str) -> SiteRecord {
        SiteRecord {
            id: id.to_owned(),
            role: Some("branch".to_owned()),
            region: None,
            public_key: format!("key-of-{id}"),
            endpoints: vec!["203.0.113.9:51820".to_owned(), "[2001:db8::9]:51820".to_owned()],
            prefixes: vec!["10.10.2.0/24".to_owned()],
            removed: false,
        }
    }

    #[test]
    fn sites_are_listed_by_id_with_their_endpoints_and_prefixes_in_order() {
        let dir = TempDir::new("sites-list");
        let s = Store::open(dir.path()).unwrap();
        s.upsert_site(&site("c"), 1).unwrap();
        s.upsert_site(&site("a"), 1).unwrap();
        assert_eq!(s.sites().unwrap(), vec![site("a"), site("c")]);
        assert_eq!(s.site("c").unwrap(), Some(site("c")));
        assert_eq!(s.site("zz").unwrap(), None);
        let mut changed = site("a");
        changed.endpoints = vec!["198.51.100.1:1".to_owned()];
        changed.prefixes.push("10.20.0.0/16".to_owned());
        changed.region = Some("eu".to_owned());
        s.upsert_site(&changed, 2).unwrap();
        assert_eq!(s.site("a").unwrap(), Some(changed));
    }

    #[test]
    fn an_upsert_does_not_bring_a_removed_site_back() {
        let dir = TempDir::new("sites-removed");
        let s = Store::open(dir.path()).unwrap();
        s.upsert_site(&site("b"), 1).unwrap();
        assert!(s.set_site_removed("b", true, 2).unwrap());
        assert!(!s.set_site_removed("nope", true, 2).unwrap());
        s.upsert_site(&site("b"), 3).unwrap();
        assert!(s.site("b").unwrap().unwrap().removed);
        assert!(s.set_site_removed("b", false, 4).unwrap());
        assert!(!s.site("b").unwrap().unwrap().removed);
    }

    #[test]
    fn paths_are_upserted_by_key_and_the_key_must_match_its_parts() {
        let dir = TempDir::new("sites-paths");
        let s = Store::open(dir.path()).unwrap();
        let k = path_key("b", "wan1", "203.0.113.9:51820");
        assert_eq!(k, "b|wan1|203.0.113.9:51820");
        s.upsert_path(&k, "b", "wan1", "203.0.113.9:51820", 1).unwrap();
        s.upsert_path(&k, "b", "wan1", "203.0.113.9:51820", 2).unwrap();
        let k2 = path_key("a", "lte", "198.51.100.1:1");
        s.upsert_path(&k2, "a", "lte", "198.51.100.1:1", 3).unwrap();
        let paths = s.paths().unwrap();
        assert_eq!(paths.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(), [&k2, &k]);
        assert_eq!(paths[1].uplink, "wan1");
        assert!(s.upsert_path("b|wan2|x", "b", "wan1", "x", 4).is_err());
    }
}
