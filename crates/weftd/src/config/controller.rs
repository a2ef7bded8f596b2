//! The `[controller]` section: this site is one of the mesh's controllers.
//!
//! ```toml
//! [controller]
//! store = "etcd"                                   # or "sqlite" (one controller, the embedded default)
//! endpoints = ["198.18.1.2:2379", "198.18.2.2:2379", "198.18.3.2:2379"]   # etcd client URLs, host:port
//! id = "paris"                                     # default: the site name
//! lease_ttl = "2s"                                 # the leader's lease; renew every ttl/4, retry every ttl/8
//! shards = 64                                      # shards of per-service work (1..=4096)
//! rebalance = "manual"                             # or "automatic": apply the rebalancer's plans at once
//! weight = 1                                       # this controller's capacity weight (1..=100)
//! shard_grace = "30s"                              # an unhealthy controller keeps its shards this long
//! ```
//!
//! A controller needs the mesh CA (`ca.key` in its state directory): the
//! leader signs what it publishes with it.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use weft_types::parse_duration;

use super::raw::RawController;
use super::validate::Checker;

/// Where the controllers keep the control state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlStoreKind {
    /// An etcd cluster (HA: three or five members).
    Etcd(Vec<SocketAddr>),
    /// `STATE_DIR/control.db`: one controller, no HA.
    Sqlite,
}

/// A validated `[controller]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// This controller's id (the leader key's value while it leads).
    pub id: String,
    /// The store.
    pub store: ControlStoreKind,
    /// The leader's lease.
    pub lease_ttl: Duration,
    /// Shards of per-service work.
    pub shards: u32,
    /// Apply the rebalancer's plans at once.
    pub automatic: bool,
    /// This controller's capacity weight.
    pub weight: u32,
    /// How long an unhealthy controller keeps its shards.
    pub shard_grace: Duration,
}

/// Checks `[controller]`.
pub(super) fn controller(
    c: &mut Checker<'_>,
    raw: Option<&RawController>,
    site: &str,
) -> Option<ControllerConfig> {
    let raw = raw?;
    let id = raw.id.as_ref().map_or_else(|| site.to_owned(), |s| s.get_ref().clone());
    if let Some(s) = &raw.id
        && (s.get_ref().is_empty()
            || s.get_ref().len() > 63
            || !s.get_ref().chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'))
    {
        c.err(s, "a controller id is 1 to 63 of a-z, A-Z, 0-9 and -");
    }
    let endpoints: Vec<SocketAddr> = raw
        .endpoints
        .iter()
        .filter_map(|e| {
            c.parse(e, |v| {
                SocketAddr::from_str(v).map_err(|_| {
                    format!("{v:?} is not ADDRESS:PORT (an etcd client URL's host:port)")
                })
            })
        })
        .collect();
    let store = match raw.store.as_ref().map(|s| (s.get_ref().as_str(), s)) {
        None | Some(("sqlite", _)) => {
            if let Some(e) = raw.endpoints.first() {
                c.err(e, "endpoints are for store = \"etcd\"; the sqlite store is local");
            }
            ControlStoreKind::Sqlite
        }
        Some(("etcd", s)) => {
            if raw.endpoints.is_empty() {
                c.err(s, "store = \"etcd\" needs endpoints = [\"HOST:PORT\", ...]");
            }
            ControlStoreKind::Etcd(endpoints)
        }
        Some((other, s)) => {
            c.err(s, format!("unknown store {other:?}: expected \"etcd\" or \"sqlite\""));
            ControlStoreKind::Sqlite
        }
    };
    let mut lease_ttl = Duration::from_secs(2);
    if let Some(t) = &raw.lease_ttl
        && let Some(d) = c.parse(t, parse_duration)
    {
        if d < Duration::from_secs(1) || d > Duration::from_mins(1) {
            c.err(t, "lease_ttl must be 1s..=60s (etcd leases count in whole seconds)");
        } else if d.subsec_nanos() != 0 {
            c.err(t, "lease_ttl must be whole seconds (etcd leases count in seconds)");
        }
        lease_ttl = d;
    }
    let shards = raw.shards.as_ref().map_or(64, |s| {
        let n = *s.get_ref();
        if !(1..=4096).contains(&n) {
            c.err(s, "shards must be 1..=4096");
        }
        n
    });
    let weight = raw.weight.as_ref().map_or(1, |w| {
        let n = *w.get_ref();
        if !(1..=100).contains(&n) {
            c.err(w, "weight must be 1..=100");
        }
        n
    });
    let automatic = match raw.rebalance.as_ref().map(|r| (r.get_ref().as_str(), r)) {
        None | Some(("manual", _)) => false,
        Some(("automatic", _)) => true,
        Some((other, r)) => {
            c.err(
                r,
                format!("unknown rebalance mode {other:?}: expected \"manual\" or \"automatic\""),
            );
            false
        }
    };
    let mut shard_grace = Duration::from_secs(30);
    if let Some(g) = &raw.shard_grace
        && let Some(d) = c.parse(g, parse_duration)
    {
        shard_grace = d;
    }
    Some(ControllerConfig { id, store, lease_ttl, shards, automatic, weight, shard_grace })
}
