//! What goes into a [`Node`](super::Node) and what comes out of it: plain data.

use std::net::SocketAddr;
use std::time::Duration;

use weft_path::{PathEvent, SelectionPolicy};
use weft_types::{Bandwidth, IpPrefix, PathId, PrivateKey, PublicKey, SiteId};

use crate::relay::LinkSummary;

/// No path: the value of an empty slot in the class → path table.
pub const NO_PATH: u32 = u32::MAX;

/// One local uplink as the node sees it (the socket stays with the driver).
#[derive(Debug, Clone, PartialEq)]
pub struct UplinkSpec {
    /// Name (`fiber`, `lte`).
    pub name: String,
    /// Whether it speaks IPv4 (paths pair it with endpoints of its family).
    pub ipv4: bool,
    /// Money per GB sent.
    pub cost_per_gb: f64,
    /// Metered (e.g. LTE with a cap).
    pub metered: bool,
    /// Active-backup priority, lower first.
    pub priority: u8,
    /// Capacity.
    pub capacity: Bandwidth,
}

/// What a peer is, wherever it came from (the site config or the mesh).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerSpec {
    /// Site name.
    pub name: SiteId,
    /// WireGuard public key.
    pub public_key: PublicKey,
    /// Overlay prefixes it serves.
    pub prefixes: Vec<IpPrefix>,
    /// Underlay endpoints.
    pub endpoints: Vec<SocketAddr>,
    /// A stock WireGuard peer (no Weft probes; liveness from its traffic).
    pub stock: bool,
    /// Persistent keepalive.
    pub keepalive: Option<Duration>,
    /// Role.
    pub role: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Learnt from the mesh (configured peers are never replaced by it).
    pub dynamic: bool,
}

/// How the node is set up; everything it would otherwise read from the
/// machine comes in here.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This site.
    pub site: SiteId,
    /// Its WireGuard private key (probe keys are derived from it).
    pub private_key: PrivateKey,
    /// Its uplinks, by index.
    pub uplinks: Vec<UplinkSpec>,
    /// Its own overlay prefixes (a peer claiming an overlapping one is refused).
    pub local_prefixes: Vec<IpPrefix>,
    /// The path engine's timers and thresholds.
    pub engine: weft_path::EngineConfig,
    /// How long a member that went down keeps its peer.
    pub mesh_grace: Duration,
    /// How long a direct path must stay up before relayed traffic returns to it.
    pub relay_hold_down: Duration,
    /// Most peers (slots are never reused by another site).
    pub max_peers: usize,
    /// Unix time in microseconds at the `now` given to [`Node::new`](super::Node::new):
    /// probe counters start there, so they grow across restarts (the peer's
    /// replay window outlives ours), and counters far ahead of it are refused.
    pub unix_us_at_start: u64,
    /// Seed of the path engine's random choices (probe jitter).
    pub seed: u64,
}

/// One route profile of the installed policy: its class and how it picks paths.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The SLA class name (`realtime`, `bulk`, …).
    pub class: String,
    /// What the path engine does for it.
    pub selection: SelectionPolicy,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Local uplink index.
    pub uplink: usize,
    /// Where to.
    pub dst: SocketAddr,
    /// The bytes (a probe or an echo).
    pub payload: Vec<u8>,
}

/// A path of a newly added peer, as the data plane must know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPath {
    /// Dense index (data-plane tables are indexed by it).
    pub dense: u32,
    /// Local uplink index.
    pub uplink: usize,
    /// The peer's endpoint.
    pub remote: SocketAddr,
    /// The path engine's id (the API's path id).
    pub engine_id: PathId,
}

/// A change the data plane must make. Apply them in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Program {
    /// Peer slot `slot` is (now) this peer, with these paths. A replaced
    /// peer (same site, new keys or endpoints) keeps its slot; its old paths
    /// are no longer referenced.
    PeerUp {
        /// Peer slot.
        slot: usize,
        /// The peer.
        spec: PeerSpec,
        /// Its paths, appended to the path table.
        paths: Vec<NewPath>,
    },
    /// Peer slot `slot` left the mesh: no traffic, no routes.
    PeerGone {
        /// Peer slot.
        slot: usize,
    },
    /// An operator removed (or restored) peer slot `slot`.
    PeerRemoved {
        /// Peer slot.
        slot: usize,
        /// Removed (`true`) or restored.
        removed: bool,
    },
    /// The path (dense index, or [`NO_PATH`]) of route profile `profile` towards peer `peer`.
    ClassPath {
        /// Peer slot.
        peer: usize,
        /// Route profile index.
        profile: usize,
        /// Dense path index; a relay's path when the class is relayed.
        path: u32,
    },
    /// Every packet for `peer` goes through peer `via` (`None`: direct).
    RelayVia {
        /// Destination peer slot.
        peer: usize,
        /// Relay peer slot.
        via: Option<usize>,
    },
    /// Packets from `peer`'s addresses are accepted from these relays.
    RelayAccept {
        /// Source peer slot.
        peer: usize,
        /// The relay this site uses towards `peer` (or did, a moment ago).
        ours: Option<usize>,
        /// The relay `peer` says, signed, it sends to us through.
        theirs: Option<usize>,
    },
    /// This site's measured links, for the mesh to advertise.
    LocalLinks(Vec<LinkSummary>),
}

/// Something that happened, for logs, the event stream and metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// The path engine changed a path's state or a class's path.
    Path(PathEvent),
    /// A probe echo measured `rtt` on `path`.
    EchoRtt {
        /// Engine path id.
        path: PathId,
        /// Round-trip time.
        rtt: Duration,
    },
    /// A datagram was refused (`reason` is a snake-case label).
    Dropped {
        /// Why.
        reason: String,
    },
    /// A member became a peer (`back`: it had a slot before).
    PeerJoined {
        /// The site.
        site: SiteId,
        /// Whether it came back.
        back: bool,
        /// Paths it got.
        paths: usize,
    },
    /// A member was not peered: it claims another site's key or prefixes.
    PeerRefused {
        /// The site.
        site: SiteId,
        /// Why.
        why: String,
    },
    /// A peer left the mesh.
    PeerLeft {
        /// The site.
        site: SiteId,
        /// Why (`dead`, `revoked`, …).
        reason: String,
    },
    /// An operator removed or restored a peer.
    PeerRemoved {
        /// The site.
        site: SiteId,
        /// Removed (`true`) or restored.
        removed: bool,
    },
    /// Every packet for `dst` goes through `via` now (`None`: direct again).
    Relay {
        /// Destination.
        dst: SiteId,
        /// Relay.
        via: Option<SiteId>,
    },
    /// Class `class` towards `dst` goes through `via` for its SLA (`None`: direct again).
    ClassRelay {
        /// Destination.
        dst: SiteId,
        /// Class name.
        class: String,
        /// Relay.
        via: Option<SiteId>,
    },
    /// An on-demand path test ended.
    TestDone(PathTestReport),
    /// An on-demand path test was dropped unfinished (its peer left).
    TestAborted {
        /// The id [`Node::start_test`](super::Node::start_test) returned.
        id: u64,
    },
    /// Something worth a log line only.
    Note(String),
}

/// The result of an on-demand path test.
#[derive(Debug, Clone, PartialEq)]
pub struct PathTestReport {
    /// The id [`Node::start_test`](super::Node::start_test) returned.
    pub id: u64,
    /// Engine path id.
    pub path: u32,
    /// Peer site.
    pub site: String,
    /// Local uplink name.
    pub uplink: String,
    /// Remote endpoint.
    pub remote: String,
    /// Probes sent.
    pub sent: u32,
    /// RTTs of the answered probes.
    pub rtts: Vec<Duration>,
}
