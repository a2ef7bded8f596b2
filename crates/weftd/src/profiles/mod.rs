//! Connection profiles on the agent's side: stock WireGuard clients
//! (laptops, VMs, phones) registered at run time through
//! `/api/v1/profiles` and served as **run-time stock peers**.
//!
//! A client is a peer like a configured `stock = true` one (no Weft probes,
//! liveness from its traffic), with three differences: it comes and goes
//! through the API (stored, so it survives a restart), it owns one host
//! address from the `[profiles]` pool, and its endpoint is not known in
//! advance: it starts with none and gets one when its first handshake
//! arrives ("roaming", see `agent::rx` and the control loop's `Roamed`).
//!
//! - [`ProfileHost`]: what the API needs to know about this site.
//! - [`derive_address`]: the client's address from its public key.
//! - [`peer_spec`]: the node's peer for a stored client.
//! - [`allowed`]: the parts of the site's prefixes the policy lets a client
//!   reach (its `AllowedIPs`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use blake2::{Blake2s256, Digest};
use weft_node::PeerSpec;
use weft_types::{IpPrefix, PublicKey, SiteId};

use crate::store::ProfileRecord;

pub(crate) mod allowed;

/// The keepalive a site keeps with a client once it knows where it is, and
/// the one the exported `wg-quick` configuration asks of the client
/// (through NAT, both ends keep the mapping open).
pub const CLIENT_KEEPALIVE: Duration = Duration::from_secs(25);

/// This site as the profile endpoints see it (fixed at start).
#[derive(Debug, Clone)]
pub(crate) struct ProfileHost {
    /// This site.
    pub(crate) site: String,
    /// Its WireGuard public key.
    pub(crate) public_key: PublicKey,
    /// `HOST:PORT` clients dial.
    pub(crate) endpoints: Vec<String>,
    /// Its own prefixes (its address prefix first).
    pub(crate) prefixes: Vec<IpPrefix>,
    /// The client address pool.
    pub(crate) pool: IpPrefix,
}

impl ProfileHost {
    /// From the site configuration: the configured endpoints, else every
    /// uplink's bind address that is not a wildcard.
    pub(crate) fn new(cfg: &crate::config::SiteConfig, public_key: PublicKey) -> Self {
        let endpoints = if cfg.profiles.endpoints.is_empty() {
            cfg.uplinks
                .iter()
                .filter(|u| !u.bind.ip().is_unspecified())
                .map(|u| u.bind.to_string())
                .collect()
        } else {
            cfg.profiles.endpoints.clone()
        };
        Self {
            site: cfg.name.to_string(),
            public_key,
            endpoints,
            prefixes: own_prefixes(cfg),
            pool: cfg.profiles.pool,
        }
    }
}

/// This site's prefixes, its address prefix first, each once.
pub(crate) fn own_prefixes(cfg: &crate::config::SiteConfig) -> Vec<IpPrefix> {
    let mut out = vec![cfg.address_prefix];
    for p in &cfg.prefixes {
        if !out.contains(p) {
            out.push(*p);
        }
    }
    out
}

/// The client's address: a host of `pool` chosen by the hash of its public
/// key, the next free one when that is in `taken` (network and broadcast
/// addresses are never chosen). Sites with the same pool and the same
/// clients choose the same. `None` when the pool is full or not IPv4.
pub fn derive_address(pool: IpPrefix, key: &PublicKey, taken: &[IpPrefix]) -> Option<Ipv4Addr> {
    let IpAddr::V4(base) = pool.addr() else { return None };
    let host_bits = 32 - u32::from(pool.prefix_len());
    if !(2..=24).contains(&host_bits) {
        return None;
    }
    let hosts = (1u32 << host_bits) - 2;
    let digest = Blake2s256::digest(key.0);
    let start = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]) % hosts;
    let base = u32::from(base) & !((1u32 << host_bits) - 1);
    (0..hosts).map(|i| Ipv4Addr::from(base + 1 + (start + i) % hosts)).find(|a| {
        let ip = IpAddr::V4(*a);
        !taken.iter().any(|t| t.contains(ip))
    })
}

/// The node's peer for a stored client: stock, learnt at run time, no
/// endpoint until it shows up. `None` if the stored record does not parse
/// (the caller says so).
pub(crate) fn peer_spec(p: &ProfileRecord) -> Option<PeerSpec> {
    Some(PeerSpec {
        name: SiteId::new(&p.name).ok()?,
        public_key: PublicKey::from_base64(&p.public_key).ok()?,
        prefixes: vec![IpPrefix::parse(&p.address).ok()?],
        endpoints: Vec::new(),
        stock: true,
        keepalive: Some(CLIENT_KEEPALIVE),
        role: Some("client".to_owned()),
        region: None,
        dynamic: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(s: &str) -> IpPrefix {
        IpPrefix::parse(s).unwrap()
    }

    #[test]
    fn a_key_gets_the_same_address_every_time_and_inside_the_pool() {
        let key = PublicKey([9; 32]);
        let a = derive_address(pool("100.96.0.0/16"), &key, &[]).unwrap();
        assert_eq!(derive_address(pool("100.96.0.0/16"), &key, &[]), Some(a));
        assert!(pool("100.96.0.0/16").contains(IpAddr::V4(a)));
        let other = derive_address(pool("100.96.0.0/16"), &PublicKey([8; 32]), &[]).unwrap();
        assert_ne!(a, other, "two keys, two addresses (in a pool of 65534)");
    }

    #[test]
    fn taken_addresses_are_skipped_and_a_full_pool_gives_none() {
        let small = pool("10.9.9.0/30"); // hosts .1 and .2
        let key = PublicKey([1; 32]);
        let first = derive_address(small, &key, &[]).unwrap();
        let second = derive_address(small, &key, &[IpPrefix::host(IpAddr::V4(first))]).unwrap();
        assert_ne!(first, second);
        for a in [first, second] {
            assert!(matches!(a.octets()[3], 1 | 2), "{a}: never network or broadcast");
        }
        let both = [IpPrefix::host(IpAddr::V4(first)), IpPrefix::host(IpAddr::V4(second))];
        assert_eq!(derive_address(small, &key, &both), None);
        assert_eq!(derive_address(small, &key, &[small]), None, "a site prefix over the pool");
    }

    #[test]
    fn a_stored_client_is_a_stock_peer_without_an_endpoint_yet() {
        let rec = ProfileRecord {
            name: "laptop".into(),
            public_key: PublicKey([3; 32]).to_base64(),
            address: "100.96.1.2/32".into(),
            sites: vec!["a".into()],
            created_unix_ms: 0,
            ipsec_psk: None,
        };
        let spec = peer_spec(&rec).unwrap();
        assert!(spec.stock && spec.dynamic && spec.endpoints.is_empty());
        assert_eq!(spec.prefixes, vec![pool("100.96.1.2/32")]);
        let bad = ProfileRecord { address: "nonsense".into(), ..rec };
        assert!(peer_spec(&bad).is_none());
    }
}
