//! State shared by the data-plane threads and the control loop.
//!
//! Almost everything here is fixed at start-up (peers, paths, sockets). What
//! changes is either a WireGuard session (behind its own mutex, as boringtun's
//! own device does) or a plain atomic: the control loop publishes each
//! class's current path per peer; the data plane counts bytes and packets per
//! path for the control loop to read.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use weft_dataplane::sys::{TunDevice, UplinkSocket};
use weft_dataplane::wg::WgSession;
use weft_types::{IpPrefix, PathId, PrivateKey, PublicKey, SiteId};

use crate::policy::ActivePolicy;

/// "No path" in a primary slot.
pub(crate) const NO_PATH: u32 = u32::MAX;

/// Most peer slots an agent has (static and learnt from the mesh; a site
/// that leaves and comes back reuses its slot). Per-peer arrays of the
/// running policy are this long.
pub(crate) const MAX_PEERS: usize = 1024;

/// One peer at run time.
#[derive(Debug)]
pub(crate) struct PeerRt {
    /// Site name.
    pub(crate) name: SiteId,
    /// WireGuard public key.
    pub(crate) public_key: PublicKey,
    /// Overlay prefixes it serves (its allowed IPs).
    pub(crate) prefixes: Vec<IpPrefix>,
    /// Persistent keepalive, seconds.
    pub(crate) keepalive: Option<u16>,
    /// The WireGuard session (shared with the slot's next `PeerRt` when a
    /// client roams, so its handshake survives the move).
    pub(crate) session: Arc<Mutex<WgSession>>,
    /// The source last reported as a client's new endpoint (run-time stock
    /// peers only), so the receive threads report it once.
    pub(crate) roam_reported: Mutex<Option<SocketAddr>>,
    /// Dense indices of this peer's paths, in priority order.
    pub(crate) paths: Vec<u32>,
    /// The path the last packet to this peer went on (for timers and stock peers).
    pub(crate) last_path: AtomicU32,
    /// Its endpoints.
    pub(crate) endpoints: Vec<SocketAddr>,
    /// A stock WireGuard peer (no Weft probes).
    pub(crate) stock: bool,
    /// Role, when configured.
    pub(crate) role: Option<String>,
    /// Region, when configured.
    pub(crate) region: Option<String>,
    /// Removed by an operator: nothing is sent to it or accepted from it.
    pub(crate) removed: AtomicBool,
    /// Learnt from the mesh (not in the configuration).
    pub(crate) dynamic: bool,
    /// Left the mesh (dead, left or revoked, after the grace period): like
    /// removed, and its slot is reused if the site comes back.
    pub(crate) gone: AtomicBool,
}

impl PeerRt {
    /// A mesh member the topology keeps us from peering with: no endpoints,
    /// no paths, reached through a relay.
    pub(crate) fn relay_only(&self) -> bool {
        self.dynamic && self.endpoints.is_empty()
    }

    /// Listed as a WireGuard peer (not gone, not relay-only).
    pub(crate) fn is_tunnel(&self) -> bool {
        !self.gone.load(Ordering::Relaxed) && !self.relay_only()
    }

    /// Where to send when no profile has a path: the last path used, or the first.
    pub(crate) fn fallback_path(&self) -> Option<u32> {
        let last = self.last_path.load(Ordering::Relaxed);
        if last == NO_PATH { self.paths.first().copied() } else { Some(last) }
    }
}

/// One path at run time.
#[derive(Debug)]
pub(crate) struct PathRt {
    /// Dense index of the peer.
    pub(crate) peer: usize,
    /// Index of the local uplink.
    pub(crate) uplink: usize,
    /// Remote endpoint.
    pub(crate) remote: SocketAddr,
    /// The path engine's id for it.
    pub(crate) engine_id: PathId,
    /// Bytes sent.
    pub(crate) tx_bytes: AtomicU64,
    /// Bytes received (authenticated).
    pub(crate) rx_bytes: AtomicU64,
    /// Authenticated packets received.
    pub(crate) rx_packets: AtomicU64,
    /// Packets sent.
    pub(crate) tx_packets: AtomicU64,
}

/// Reasons the data plane drops input, each counted.
#[derive(Debug, Default)]
pub(crate) struct Drops {
    counters: Mutex<Vec<(String, u64)>>,
}

impl Drops {
    /// Counts one drop for `reason`.
    pub(crate) fn count(&self, reason: &str) {
        if let Ok(mut c) = self.counters.lock() {
            match c.iter_mut().find(|(r, _)| r == reason) {
                Some((_, n)) => *n += 1,
                None => c.push((reason.to_owned(), 1)),
            }
        }
    }

    /// A copy of all counters.
    pub(crate) fn snapshot(&self) -> Vec<(String, u64)> {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// The peers and paths as the data plane sees them: replaced whole by the
/// control loop when the mesh adds or retires a peer; indices of peers and
/// paths never change (slots are appended, retired peers keep theirs).
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    /// Peers, by dense index.
    pub(crate) peers: Vec<Arc<PeerRt>>,
    /// Paths, by dense index (a retired peer's paths stay, unreferenced).
    pub(crate) paths: Vec<Arc<PathRt>>,
    /// (uplink, remote) → dense path index, for live peers' paths.
    pub(crate) path_by_addr: HashMap<(usize, SocketAddr), u32>,
    /// Live peers' prefixes, longest first, with the peer's index.
    pub(crate) routes: Vec<(IpPrefix, usize)>,
}

impl PeerTable {
    /// The table over `peers` and `paths`, with the lookups of the peers
    /// that have not left.
    pub(crate) fn new(peers: Vec<Arc<PeerRt>>, paths: Vec<Arc<PathRt>>) -> Self {
        let mut path_by_addr = HashMap::new();
        let mut routes = Vec::new();
        for (i, p) in peers.iter().enumerate() {
            if p.gone.load(Ordering::Relaxed) {
                continue;
            }
            for &d in &p.paths {
                let path = &paths[d as usize];
                path_by_addr.insert((path.uplink, path.remote), d);
            }
            routes.extend(p.prefixes.iter().map(|x| (*x, i)));
        }
        routes.sort_by_key(|(p, _)| std::cmp::Reverse(p.prefix_len()));
        Self { peers, paths, path_by_addr, routes }
    }

    /// The peer serving `dst` (longest prefix match).
    pub(crate) fn peer_for(&self, dst: IpAddr) -> Option<usize> {
        self.routes.iter().find(|(p, _)| p.contains(dst)).map(|(_, i)| *i)
    }

    /// The peer owning WireGuard session index `local_index`.
    pub(crate) fn peer_by_session(&self, local_index: u32) -> Option<usize> {
        let i = usize::try_from(local_index).ok()?.checked_sub(1)?;
        (i < self.peers.len()).then_some(i)
    }

    /// The live peer with public key `key`.
    pub(crate) fn peer_by_key(&self, key: &PublicKey) -> Option<usize> {
        self.peers.iter().position(|p| p.public_key == *key && !p.gone.load(Ordering::Relaxed))
    }

    /// Whether peer `peer` takes no traffic: an operator removed it, or it
    /// left the mesh.
    pub(crate) fn is_removed(&self, peer: usize) -> bool {
        let p = &self.peers[peer];
        p.removed.load(Ordering::Relaxed) || p.gone.load(Ordering::Relaxed)
    }

    /// A path of `peer`'s own for `profile`: the policy's choice unless that
    /// is a relay's (a class relayed for its SLA), else the peer's last or
    /// first path. What WireGuard timers and forwarded packets use: a session
    /// only ever speaks to its own peer.
    pub(crate) fn direct_path(
        &self,
        policy: &ActivePolicy,
        peer: usize,
        profile: usize,
    ) -> Option<u32> {
        let p = self.peers.get(peer)?;
        let own = |i: u32| self.paths.get(i as usize).is_some_and(|x| x.peer == peer);
        policy
            .path_for(peer, profile, p.fallback_path())
            .filter(|i| own(*i))
            .or_else(|| p.fallback_path().filter(|i| own(*i)))
    }

    /// Records authenticated input on (`uplink`, `src`).
    pub(crate) fn note_rx(&self, uplink: usize, src: SocketAddr, bytes: usize) {
        if let Some(&i) = self.path_by_addr.get(&(uplink, src)) {
            let p = &self.paths[i as usize];
            p.rx_packets.fetch_add(1, Ordering::Relaxed);
            p.rx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }
}

/// Link state between the control loop and the mesh thread: the control
/// loop writes this site's measured links, the mesh thread floods them and
/// writes back every site's latest advertisement.
#[derive(Debug, Default)]
pub(crate) struct LinkBoard {
    /// This site's links, as last measured.
    pub(crate) local: RwLock<Vec<weft_node::relay::LinkSummary>>,
    /// Every site's latest advertisement (ours included).
    pub(crate) views: RwLock<Arc<Vec<weft_node::relay::LinkView>>>,
    /// The mesh thread's counters (gossip datagrams, refusals), for the metrics.
    pub(crate) counters: RwLock<Vec<(String, u64)>>,
    /// When this site's mesh certificate expires, Unix seconds (0: not in a mesh).
    pub(crate) cert_not_after: std::sync::atomic::AtomicU64,
    /// The site ids the mesh's revocation list names (connection profiles
    /// refuse to register a client under one of them).
    pub(crate) revoked: RwLock<std::collections::BTreeSet<String>>,
    /// The learnt prefixes several sites advertise, and where this site
    /// sends each (`GET /api/v1/bgp`).
    pub(crate) shared_learnt: RwLock<Vec<weft_api::SharedLearntPrefix>>,
}

impl LinkBoard {
    /// Every site's latest advertisement.
    pub(crate) fn views(&self) -> Arc<Vec<weft_node::relay::LinkView>> {
        self.views.read().map_or_else(|p| p.into_inner().clone(), |v| v.clone())
    }

    /// The mesh thread's counters.
    pub(crate) fn counters(&self) -> Vec<(String, u64)> {
        self.counters.read().map_or_else(|p| p.into_inner().clone(), |v| v.clone())
    }

    /// The learnt prefixes several sites advertise, as the mesh thread
    /// last published them.
    pub(crate) fn shared_learnt(&self) -> Vec<weft_api::SharedLearntPrefix> {
        self.shared_learnt.read().map_or_else(|p| p.into_inner().clone(), |v| v.clone())
    }

    /// This site's links.
    pub(crate) fn local(&self) -> Vec<weft_node::relay::LinkSummary> {
        self.local.read().map_or_else(|p| p.into_inner().clone(), |v| v.clone())
    }
}

/// Everything the threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Site name.
    pub(crate) site: SiteId,
    /// Our WireGuard private key.
    pub(crate) private_key: PrivateKey,
    /// The overlay TUN device.
    pub(crate) tun: TunDevice,
    /// One socket per uplink.
    pub(crate) sockets: Vec<UplinkSocket>,
    /// Uplink names, by index.
    pub(crate) uplink_names: Vec<String>,
    /// Peers and paths; replaced whole by the control loop.
    pub(crate) table: RwLock<Arc<PeerTable>>,
    /// Per peer slot: the slot of the peer its traffic is relayed through
    /// (its direct paths are down), or [`NO_PATH`].
    pub(crate) relay_via: Box<[AtomicU32]>,
    /// This site's own overlay prefixes (what arrives for anything else and
    /// belongs to a peer is relayed on).
    pub(crate) local_prefixes: Vec<IpPrefix>,
    /// Link state shared with the mesh thread.
    pub(crate) links: Arc<LinkBoard>,
    /// Packets relayed on for other sites.
    pub(crate) relayed: AtomicU64,
    /// Per peer slot: the relay this site sends that peer's traffic through
    /// (all of it, or a class), or [`NO_PATH`]: that peer's sources are
    /// accepted from that relay, and from no other peer.
    pub(crate) relay_accept: Box<[AtomicU32]>,
    /// Per peer slot: the relay that peer's own (signed) link-state
    /// advertisement says it sends our traffic through, or [`NO_PATH`]: its
    /// sources are accepted from that relay too (before, or without, our own
    /// view of the outage).
    pub(crate) relay_accept_said: Box<[AtomicU32]>,
    /// The running policy; replaced whole by the control loop.
    pub(crate) policy: RwLock<Arc<ActivePolicy>>,
    /// Bumped after every replacement of `policy`, so the send thread notices with one load.
    pub(crate) policy_generation: AtomicU64,
    /// Drop counters.
    pub(crate) drops: Drops,
    /// Flood defence: limits before crypto, counters, detection view.
    pub(crate) flood: Arc<crate::flood::FloodShield>,
    /// Flows the policy allowed to start (their replies pass denies).
    pub(crate) established: super::gate::Established,
    /// Each data-plane thread's recent flows, for the API.
    pub(crate) flow_board: super::gate::FlowBoard,
    /// QoS: the shaping setup and reservations in force, the lanes' counters.
    pub(crate) qos: Arc<super::qos::QosBoard>,
    /// Preshared keys of the stock peers added through the UAPI (`wg set
    /// ... preshared-key`), by peer key: read when their session is made.
    pub(crate) stock_psks: Mutex<HashMap<PublicKey, super::uapi_set::Psk>>,
    /// The IPsec gateways (`[[ipsec]]`), whose classes the send thread
    /// steers into charon's tunnel; `None` without any.
    pub(crate) ipsec: Option<Arc<crate::ipsec::Shared>>,
}

impl Shared {
    /// The preshared key of the stock peer `key`, if the UAPI set one.
    pub(crate) fn stock_psk(&self, key: &PublicKey) -> Option<super::uapi_set::Psk> {
        self.stock_psks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key).copied()
    }

    /// The running policy.
    pub(crate) fn active_policy(&self) -> Arc<ActivePolicy> {
        match self.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the running policy.
    pub(crate) fn publish_policy(&self, policy: Arc<ActivePolicy>) {
        match self.policy.write() {
            Ok(mut p) => *p = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
        self.policy_generation.fetch_add(1, Ordering::Release);
    }

    /// The peer slot traffic to `peer` is relayed through, if any.
    pub(crate) fn relay_of(&self, peer: usize) -> Option<usize> {
        let v = self.relay_via.get(peer)?.load(Ordering::Relaxed);
        (v != NO_PATH).then_some(v as usize)
    }

    /// Whether `dst` is this site's own.
    pub(crate) fn is_local(&self, dst: IpAddr) -> bool {
        self.local_prefixes.iter().any(|p| p.contains(dst))
    }

    /// The drop counters, with those the kernel keeps for us: packets the
    /// TUN device could not split (`tun_malformed_offload`), packets routed
    /// to the TUN device while its queue to us was full (`tun_queue_full`),
    /// datagrams an uplink socket dropped with its receive buffer full
    /// (`uplink_rcvbuf_full`).
    /// `tun_queue_full` is the device's transmit drop count, which the
    /// caller reads over rtnetlink.
    pub(crate) fn drop_counts(&self, tun_queue_full: u64) -> Vec<(String, u64)> {
        let mut drops = self.drops.snapshot();
        let kernel = [
            ("tun_malformed_offload", self.tun.malformed()),
            ("tun_queue_full", tun_queue_full),
            ("uplink_rcvbuf_full", self.sockets.iter().map(UplinkSocket::overflows).sum()),
        ];
        for (reason, n) in kernel {
            if n > 0 {
                drops.push((reason.to_owned(), n));
            }
        }
        drops
    }

    /// The kernel offloads in use: TUN TSO and USO, and UDP GSO and GRO
    /// (in use when every uplink has it).
    pub(crate) fn offloads(&self) -> Vec<(String, bool)> {
        let tun = self.tun.offloads();
        let all =
            |f: fn(&UplinkSocket) -> bool| !self.sockets.is_empty() && self.sockets.iter().all(f);
        vec![
            ("tun_tso".to_owned(), tun.tso),
            ("tun_uso".to_owned(), tun.uso),
            ("udp_gso".to_owned(), all(UplinkSocket::gso)),
            ("udp_gro".to_owned(), all(UplinkSocket::gro)),
        ]
    }

    /// The current peers and paths.
    pub(crate) fn table(&self) -> Arc<PeerTable> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the peers and paths.
    pub(crate) fn publish_table(&self, table: Arc<PeerTable>) {
        match self.table.write() {
            Ok(mut t) => *t = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }
}

pub(crate) use weft_node::reason_label;
