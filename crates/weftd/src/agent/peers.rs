//! Building a peer and its paths (every local uplink × every endpoint of the
//! peer's address family), for the configured peers at start and for the
//! ones the mesh brings later.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use weft_dataplane::probe::{PeerProbeState, ProbeKey};
use weft_dataplane::wg::WgSession;
use weft_path::{LivenessSource, PathAttrs, PathEngine, PathSpec};
use weft_types::{IpPrefix, PeerId, PrivateKey, PublicKey, SiteId, UplinkId};

use super::shared::{NO_PATH, PathRt, PeerRt};
use crate::config::{PeerConfig, UplinkConfig};

/// What a peer is, wherever it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PeerSpec {
    /// Site name.
    pub(crate) name: SiteId,
    /// WireGuard public key.
    pub(crate) public_key: PublicKey,
    /// Overlay prefixes it serves.
    pub(crate) prefixes: Vec<IpPrefix>,
    /// Underlay endpoints.
    pub(crate) endpoints: Vec<SocketAddr>,
    /// A stock WireGuard peer (no Weft probes).
    pub(crate) stock: bool,
    /// Persistent keepalive.
    pub(crate) keepalive: Option<Duration>,
    /// Role.
    pub(crate) role: Option<String>,
    /// Region.
    pub(crate) region: Option<String>,
    /// Learnt from the mesh.
    pub(crate) dynamic: bool,
}

impl PeerSpec {
    /// A configured peer.
    pub(crate) fn from_config(p: &PeerConfig) -> Self {
        Self {
            name: p.name.clone(),
            public_key: p.public_key,
            prefixes: p.prefixes.clone(),
            endpoints: p.endpoints.clone(),
            stock: p.stock,
            keepalive: p.keepalive,
            role: p.role.clone(),
            region: p.region.clone(),
            dynamic: false,
        }
    }
}

/// A built peer: its run-time state, its new paths (dense indices from the
/// `first_path` given to [`build`]) and its probe state.
pub(crate) struct Built {
    pub(crate) peer: PeerRt,
    pub(crate) paths: Vec<PathRt>,
    pub(crate) probes: Option<PeerProbeState>,
}

/// Builds peer slot `index` from `spec`: a WireGuard session, one engine
/// path per (uplink, endpoint) pair of the same family in uplink priority
/// order, and probe keys unless the peer is stock.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    engine: &mut PathEngine,
    now: Instant,
    private_key: &PrivateKey,
    uplinks: &[UplinkConfig],
    index: usize,
    first_path: usize,
    spec: &PeerSpec,
    removed: bool,
) -> Result<Built> {
    let keepalive = spec.keepalive.map(|d| u16::try_from(d.as_secs().max(1)).unwrap_or(u16::MAX));
    let local_index = u32::try_from(index + 1).context("too many peers")?;
    let session = WgSession::new(private_key, &spec.public_key, None, keepalive, local_index);
    let mut order: Vec<usize> = (0..uplinks.len()).collect();
    order.sort_by_key(|u| uplinks[*u].priority);
    let mut paths = Vec::new();
    let mut dense_ids = Vec::new();
    for u in order {
        let up = &uplinks[u];
        for remote in spec.endpoints.iter().filter(|e| e.is_ipv4() == up.bind.is_ipv4()) {
            let liveness = if spec.stock {
                LivenessSource::Traffic {
                    expected_interval: spec.keepalive.unwrap_or(Duration::from_secs(1)),
                }
            } else {
                LivenessSource::Probes
            };
            let attrs = PathAttrs {
                cost_per_gb: up.cost_per_gb,
                capacity: up.capacity,
                priority: up.priority,
                metered: up.metered,
            };
            let peer = PeerId(u32::try_from(index).context("too many peers")?);
            let spec =
                PathSpec { peer, uplink: UplinkId(u as u16), remote: *remote, attrs, liveness };
            let engine_id = engine.add_path(now, spec);
            let dense = u32::try_from(first_path + paths.len()).context("too many paths")?;
            dense_ids.push(dense);
            paths.push(PathRt {
                peer: index,
                uplink: u,
                remote: *remote,
                engine_id,
                tx_bytes: AtomicU64::new(0),
                rx_bytes: AtomicU64::new(0),
                rx_packets: AtomicU64::new(0),
                tx_packets: AtomicU64::new(0),
            });
        }
    }
    let probes = if spec.stock {
        None
    } else {
        let key = ProbeKey::derive(private_key, &spec.public_key)
            .map_err(|e| anyhow::anyhow!("peer {}: {e}", spec.name))?;
        Some(PeerProbeState::new(key, super::control::first_probe_counter()))
    };
    let peer = PeerRt {
        name: spec.name.clone(),
        public_key: spec.public_key,
        prefixes: spec.prefixes.clone(),
        keepalive,
        session: Mutex::new(session),
        paths: dense_ids,
        last_path: AtomicU32::new(NO_PATH),
        endpoints: spec.endpoints.clone(),
        stock: spec.stock,
        role: spec.role.clone(),
        region: spec.region.clone(),
        removed: AtomicBool::new(removed),
        dynamic: spec.dynamic,
        gone: AtomicBool::new(false),
    };
    Ok(Built { peer, paths, probes })
}

/// What a live peer holds, for [`claim_conflict`].
pub(crate) struct Claim<'a> {
    pub(crate) name: &'a SiteId,
    pub(crate) key: &'a PublicKey,
    pub(crate) prefixes: &'a [IpPrefix],
}

/// Why `spec` may not be peered: a prefix overlapping this site's own
/// (`local`) or another live site's, or another live site's WireGuard key.
/// Certificates are checked, but a token that allows any prefix lets a site
/// claim one that is taken, and longest-prefix match would hand it that
/// traffic.
pub(crate) fn claim_conflict<'a>(
    local: &[IpPrefix],
    others: impl IntoIterator<Item = Claim<'a>>,
    spec: &PeerSpec,
) -> Result<(), String> {
    for p in &spec.prefixes {
        if let Some(own) = local.iter().find(|l| l.overlaps(p)) {
            return Err(format!("its prefix {p} overlaps this site's {own}"));
        }
    }
    for other in others {
        if *other.key == spec.public_key {
            return Err(format!("its WireGuard key is {}'s", other.name));
        }
        for p in &spec.prefixes {
            if let Some(taken) = other.prefixes.iter().find(|o| o.overlaps(p)) {
                return Err(format!("its prefix {p} overlaps {}'s {taken}", other.name));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, key: u8, prefixes: &[&str]) -> PeerSpec {
        PeerSpec {
            name: SiteId::new(name).unwrap(),
            public_key: PublicKey([key; 32]),
            prefixes: prefixes.iter().map(|p| IpPrefix::parse(p).unwrap()).collect(),
            endpoints: Vec::new(),
            stock: false,
            keepalive: None,
            role: None,
            region: None,
            dynamic: true,
        }
    }

    #[test]
    fn a_claim_on_taken_prefixes_or_a_taken_key_is_refused() {
        let local = [IpPrefix::parse("10.77.1.0/24").unwrap()];
        let b = spec("b", 2, &["10.77.2.0/24"]);
        let others = || [Claim { name: &b.name, key: &b.public_key, prefixes: &b.prefixes }];
        assert!(claim_conflict(&local, others(), &spec("c", 3, &["10.77.3.0/24"])).is_ok());
        let e = claim_conflict(&local, others(), &spec("c", 3, &["10.77.1.7/32"])).unwrap_err();
        assert!(e.contains("overlaps this site's 10.77.1.0/24"), "{e}");
        let e = claim_conflict(&local, others(), &spec("c", 3, &["10.77.0.0/16"])).unwrap_err();
        assert!(e.contains("overlaps this site's"), "{e}");
        let e = claim_conflict(&local, others(), &spec("c", 3, &["10.77.2.128/25"])).unwrap_err();
        assert!(e.contains("overlaps b's 10.77.2.0/24"), "{e}");
        let e = claim_conflict(&local, others(), &spec("c", 2, &["10.77.3.0/24"])).unwrap_err();
        assert!(e.contains("WireGuard key is b's"), "{e}");
    }
}
