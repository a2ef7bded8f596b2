//! The `[profiles]` section: where stock WireGuard clients (laptops, VMs,
//! phones registered with `weft profile export`) get their overlay address,
//! and the endpoints their `wg-quick` configurations name.
//!
//! ```toml
//! [profiles]
//! pool = "100.96.0.0/16"                 # client addresses (IPv4; default 100.96.0.0/16)
//! endpoints = ["vpn.example.net:51820"]  # what clients dial (default: the uplinks' binds)
//! ```
//!
//! A client's address is derived from its public key inside the pool, so
//! every site with the same pool gives the same client the same address.
//! The pool must not overlap this site's prefixes or a configured peer's.

use std::net::IpAddr;

use serde::Deserialize;
use toml::Spanned;
use weft_types::IpPrefix;

use super::validate::Checker;

/// The pool when `[profiles]` does not name one (the shared address space
/// of RFC 6598, which overlays rarely use).
pub const DEFAULT_POOL: &str = "100.96.0.0/16";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfiles {
    pool: Option<Spanned<String>>,
    #[serde(default)]
    endpoints: Vec<Spanned<String>>,
}

/// Checked `[profiles]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfilesConfig {
    /// Where client addresses come from (IPv4, /8 to /30).
    pub pool: IpPrefix,
    /// `HOST:PORT` clients dial; empty: the uplinks' bind addresses.
    pub endpoints: Vec<String>,
}

impl Default for ProfilesConfig {
    fn default() -> Self {
        let pool = IpPrefix::parse(DEFAULT_POOL).unwrap_or_else(|_| unreachable!("valid"));
        Self { pool, endpoints: Vec::new() }
    }
}

/// Checks `[profiles]` against the prefixes this site and its configured
/// peers hold (`taken`); `site_name` is where a clash of the default pool
/// is reported.
pub(super) fn profiles(
    c: &mut Checker<'_>,
    raw: Option<&RawProfiles>,
    taken: &[IpPrefix],
    site_name: &Spanned<String>,
) -> ProfilesConfig {
    let mut out = ProfilesConfig::default();
    let Some(raw) = raw else {
        if let Some(t) = taken.iter().find(|t| t.overlaps(&out.pool)) {
            c.err(
                site_name,
                format!(
                    "the default client pool {DEFAULT_POOL} overlaps {t}: set [profiles] pool to a free prefix"
                ),
            );
        }
        return out;
    };
    if let Some(p) = &raw.pool
        && let Some(pool) = c.parse(p, IpPrefix::parse)
    {
        if !matches!(pool.addr(), IpAddr::V4(_)) || !(8..=30).contains(&pool.prefix_len()) {
            c.err(p, format!("pool {pool} must be an IPv4 prefix of length 8 to 30"));
        } else if let Some(t) = taken.iter().find(|t| t.overlaps(&pool)) {
            c.err(p, format!("pool {pool} overlaps {t}, held by this site or a peer"));
        }
        out.pool = pool;
    }
    for e in &raw.endpoints {
        let ok = e.get_ref().rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if ok {
            out.endpoints.push(e.get_ref().clone());
        } else {
            c.err(e, format!("{:?} is not HOST:PORT", e.get_ref()));
        }
    }
    out
}
