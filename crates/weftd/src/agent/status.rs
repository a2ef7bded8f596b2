//! The agent's state as plain data: every peer, path and flow with its
//! measurements, the policy and the counters.
//!
//! The control loop builds a [`Status`] a few times a second and publishes it
//! whole (an `Arc` swap); the API and the metrics only read the latest one,
//! so a slow client never touches protocol state.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use weft_api::SiteState;
use weft_path::{PathMetrics, PathState};
use weft_types::FlowKey;

use super::gate::Direction;

/// The latest status, shared between the control loop and its readers.
#[derive(Debug, Default)]
pub(crate) struct SharedStatus(RwLock<Arc<Status>>);

impl SharedStatus {
    /// The latest status.
    pub(crate) fn get(&self) -> Arc<Status> {
        match self.0.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces it.
    pub(crate) fn set(&self, status: Status) {
        let status = Arc::new(status);
        match self.0.write() {
            Ok(mut s) => *s = status,
            Err(poisoned) => *poisoned.into_inner() = status,
        }
    }
}

/// One path.
#[derive(Debug, Clone)]
pub(crate) struct PathStatus {
    /// Engine path id.
    pub(crate) id: u32,
    /// Dense index of the peer.
    pub(crate) peer: usize,
    /// Local uplink name.
    pub(crate) uplink: String,
    /// Remote endpoint.
    pub(crate) remote: SocketAddr,
    /// SLA classes this path is the current choice of.
    pub(crate) active_for: Vec<String>,
    /// State, RTT, jitter, loss and counters.
    pub(crate) metrics: PathMetrics,
    /// Bytes sent on this path by the data plane.
    pub(crate) tx_bytes: u64,
    /// Bytes received on this path.
    pub(crate) rx_bytes: u64,
    /// Authenticated packets received on this path.
    pub(crate) rx_packets: u64,
    /// Packets sent on this path.
    pub(crate) tx_packets: u64,
    /// Flows pinned to it now.
    pub(crate) flows: u32,
}

/// One peer (remote site).
#[derive(Debug, Clone)]
pub(crate) struct PeerStatus {
    /// Site name.
    pub(crate) name: String,
    /// WireGuard public key, base64.
    pub(crate) public_key: String,
    /// Endpoints.
    pub(crate) endpoints: Vec<SocketAddr>,
    /// Overlay prefixes.
    pub(crate) prefixes: Vec<String>,
    /// Role and region, when configured.
    pub(crate) role: Option<String>,
    /// Region, when configured.
    pub(crate) region: Option<String>,
    /// Stock WireGuard peer.
    pub(crate) stock: bool,
    /// A connection profile's client (a run-time stock peer), not a site.
    pub(crate) client: bool,
    /// Persistent keepalive, seconds.
    pub(crate) keepalive: Option<u16>,
    /// Removed by an operator.
    pub(crate) removed: bool,
    /// Left the mesh: kept only so indices stay put; not listed.
    pub(crate) gone: bool,
    /// A mesh member the topology keeps us from peering with: no tunnel of
    /// its own, reached through a relay (not a WireGuard peer).
    pub(crate) relay_only: bool,
    /// The site traffic to it is relayed through, while its direct paths are down.
    pub(crate) via: Option<String>,
    /// Handshakes completed since start.
    pub(crate) handshakes: u64,
    /// Time since the current session's handshake.
    pub(crate) since_handshake: Option<Duration>,
    /// IP payload bytes sent and received.
    pub(crate) tx_bytes: u64,
    /// IP payload bytes received.
    pub(crate) rx_bytes: u64,
    /// Per route profile of the running policy: the engine id of its current path.
    pub(crate) choices: Vec<Option<u32>>,
}

/// One flow.
#[derive(Debug, Clone)]
pub(crate) struct FlowStatus {
    /// The 5-tuple.
    pub(crate) key: FlowKey,
    /// Which way.
    pub(crate) direction: Direction,
    /// Dense index of the peer it goes to or comes from.
    pub(crate) peer: Option<usize>,
    /// Allowed by the policy.
    pub(crate) allowed: bool,
    /// Deciding ACL's name (`default`).
    pub(crate) rule: String,
    /// Matching route rule's name (`default`).
    pub(crate) route_rule: String,
    /// Index of its route profile.
    pub(crate) profile: usize,
    /// Engine id of the path it is on.
    pub(crate) path: Option<u32>,
    /// Packets and bytes seen.
    pub(crate) packets: u64,
    /// Bytes seen.
    pub(crate) bytes: u64,
    /// Time since its last packet.
    pub(crate) idle: Duration,
}

/// Everything the API and the metrics serve.
#[derive(Debug, Clone, Default)]
pub(crate) struct Status {
    /// Site name.
    pub(crate) site: String,
    /// Site role and region.
    pub(crate) role: Option<String>,
    /// Region.
    pub(crate) region: Option<String>,
    /// The local site's overlay prefix.
    pub(crate) prefixes: Vec<String>,
    /// Time since the agent started.
    pub(crate) uptime: Duration,
    /// Bumped on every publication.
    pub(crate) generation: u64,
    /// Every peer, by dense index.
    pub(crate) peers: Vec<PeerStatus>,
    /// Every path.
    pub(crate) paths: Vec<PathStatus>,
    /// Flows the data plane saw recently.
    pub(crate) flows: Vec<FlowStatus>,
    /// SLA class of each route profile of the running policy.
    pub(crate) profile_classes: Vec<String>,
    /// Failovers so far, by reason.
    pub(crate) failovers: Vec<(String, u64)>,
    /// Dropped packets by reason.
    pub(crate) drops: Vec<(String, u64)>,
    /// The data plane's kernel offloads and whether each is in use.
    pub(crate) offloads: Vec<(String, bool)>,
    /// Mesh events by kind (gossip datagrams, refusals, relayed packets).
    pub(crate) mesh: Vec<(String, u64)>,
    /// The running policy.
    pub(crate) policy: PolicyStatus,
}

/// The running policy as status shows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyStatus {
    /// `[policy] name`.
    pub(crate) name: String,
    /// Stored version (0: built in).
    pub(crate) version: u64,
    /// Packets denied, by ACL name (`default` for the default verdict).
    pub(crate) denied: Vec<(String, u64)>,
}

impl Status {
    /// The path with engine id `id`.
    pub(crate) fn path(&self, id: u32) -> Option<&PathStatus> {
        self.paths.iter().find(|p| p.id == id)
    }
}

/// The metric code of a path state: 0 down, 1 init, 2 up, 3 degraded.
pub(crate) fn state_code(s: PathState) -> u8 {
    match s {
        PathState::Down => 0,
        PathState::Init => 1,
        PathState::Up => 2,
        PathState::Degraded => 3,
    }
}

/// Every remote site's state, by peer index, in one pass over the paths:
/// removed, else up when a path is up, degraded when only degraded paths
/// are alive or its traffic is relayed through another site, down otherwise.
pub(crate) fn site_states(s: &Status) -> Vec<SiteState> {
    let mut best = vec![SiteState::Down; s.peers.len()];
    for p in &s.paths {
        let Some(b) = best.get_mut(p.peer) else { continue };
        match p.metrics.state {
            PathState::Up => *b = SiteState::Up,
            PathState::Degraded if *b == SiteState::Down => *b = SiteState::Degraded,
            _ => {}
        }
    }
    for (b, peer) in best.iter_mut().zip(&s.peers) {
        if peer.removed {
            *b = SiteState::Removed;
        } else if *b == SiteState::Down && peer.via.is_some() {
            // Reachable, through another site.
            *b = SiteState::Degraded;
        }
    }
    best
}
