//! One simulated site: a real [`Node`] and a real [`MeshNode`] (certificate
//! from the simulation's CA, signed gossip), the data plane they program,
//! and the glue between them that the agent's mesh thread runs.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_mesh::identity::{Enroller, Label, PrefixList, SelfClaims, SiteKey};
use weft_mesh::membership::{MemberInfo, MembershipConfig, Role};
use weft_mesh::node::{MeshNode, NodeConfig as MeshConfig, NodeIdentity, TopologyMode};
use weft_path::{EngineConfig, SelectionPolicy, SlaClass};
use weft_types::{Bandwidth, IpPrefix, PrivateKey, PublicKey, SiteId};

use super::dataplane::SimDataPlane;
use super::net::{MESH_PORT, WIRE_PORT, uplink_addr};
use crate::mesh_glue::{self, RelayedMembers};
use crate::node::{MeshUpdate, Node, NodeConfig, Profile, UplinkSpec};

/// How often the mesh and the node exchange link state (as the agent does).
pub(super) const MESH_SYNC: Duration = Duration::from_millis(200);

/// The classes every simulated site installs, one route profile each.
pub const CLASSES: [&str; 4] = ["realtime", "interactive", "bulk", "best-effort"];

/// What every site shares.
#[derive(Debug, Clone)]
pub(super) struct SiteParams {
    pub(super) uplinks: usize,
    pub(super) engine: EngineConfig,
    pub(super) membership: MembershipConfig,
    pub(super) topology: TopologyMode,
    pub(super) mesh_grace: Duration,
    pub(super) relay_hold_down: Duration,
}

/// The site's name: `s0`, `s1`, …
pub fn site_name(i: usize) -> SiteId {
    SiteId::new(&format!("s{i}")).expect("s<number> is a valid site id")
}

/// The site's overlay prefix: `10.(i / 256).(i % 256).0/24`.
pub fn site_prefix(i: usize) -> IpPrefix {
    IpPrefix::parse(&format!("10.{}.{}.0/24", i / 256, i % 256)).expect("a valid prefix")
}

pub(super) fn wg_private(i: usize, seed: u64) -> PrivateKey {
    // X25519 clamps the low three bits of byte 0: the site index goes above them.
    let mut k = [0u8; 32];
    k[1..9].copy_from_slice(&(i as u64).to_le_bytes());
    k[9..17].copy_from_slice(&seed.to_le_bytes());
    k[31] = 0x40;
    PrivateKey(k)
}

pub(super) fn site_key(i: usize, seed: u64) -> SiteKey {
    let mut k = [0x5au8; 32];
    k[..8].copy_from_slice(&(i as u64).to_le_bytes());
    k[8..16].copy_from_slice(&seed.to_le_bytes());
    SiteKey::from_seed(&k)
}

/// One site.
pub(super) struct SimSite {
    pub(super) node: Node,
    pub(super) mesh: MeshNode,
    pub(super) dp: SimDataPlane,
    pub(super) alive: bool,
    pub(super) next_mesh_sync: Instant,
    pub(super) relayed: RelayedMembers,
    /// The wake-up currently queued (stale ones are ignored).
    pub(super) wake: Option<Instant>,
    pub(super) generation: u32,
    /// (rx packets, tx bytes) changed since the node last saw them.
    pub(super) dirty: bool,
}

/// The keys and certificate of site `i` (the CA's enroller issues them).
pub(super) struct Credentials {
    pub(super) wg: PrivateKey,
    pub(super) wg_public: PublicKey,
    pub(super) identity: NodeIdentity,
}

/// Issues site `i`'s certificate under `enroller`'s CA.
pub(super) fn credentials(
    enroller: &mut Enroller,
    i: usize,
    seed: u64,
    hub: bool,
    unix: u64,
) -> Credentials {
    let wg = wg_private(i, seed);
    let wg_public = PublicKey(x25519_public(&wg));
    let key = site_key(i, seed);
    let claims = SelfClaims {
        site: site_name(i),
        role: Label::new(if hub { "hub" } else { "site" }).expect("a valid label"),
        region: Label::new(&format!("r{}", i % 4)).expect("a valid label"),
        prefixes: PrefixList::new(vec![site_prefix(i)]).expect("one prefix"),
        site_key: key.public(),
        wg_key: wg_public,
        learn_ranges: weft_mesh::identity::LearnRanges::default(),
    };
    let cert = enroller.issue_self(unix, claims).expect("simulated sites enrol");
    let identity = NodeIdentity { site_key: key, cert, ca: enroller.ca_public() };
    Credentials { wg, wg_public, identity }
}

fn x25519_public(k: &PrivateKey) -> [u8; 32] {
    let secret = x25519_dalek::StaticSecret::from(k.0);
    x25519_dalek::PublicKey::from(&secret).to_bytes()
}

impl SimSite {
    /// Site `i` started at `now`, its mesh node holding `enroller` if given.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start(
        i: usize,
        params: &SiteParams,
        creds: Credentials,
        enroller: Option<Enroller>,
        generation: u32,
        seed: u64,
        now: Instant,
        unix_us: u64,
    ) -> Self {
        let hub = creds.identity.cert.body.role.as_str() == "hub";
        let uplinks = (0..params.uplinks)
            .map(|u| UplinkSpec {
                name: format!("u{u}"),
                ipv4: true,
                cost_per_gb: 0.0,
                metered: false,
                priority: u as u8,
                capacity: Bandwidth(100_000_000),
            })
            .collect();
        let cfg = NodeConfig {
            site: site_name(i),
            private_key: creds.wg.clone(),
            uplinks,
            local_prefixes: vec![site_prefix(i)],
            engine: params.engine.clone(),
            mesh_grace: params.mesh_grace,
            relay_hold_down: params.relay_hold_down,
            max_peers: 4096,
            unix_us_at_start: unix_us,
            seed,
        };
        let mut node = Node::new(cfg, now).expect("the simulated engine config is valid");
        let profiles = CLASSES
            .iter()
            .map(|c| Profile {
                class: (*c).to_owned(),
                selection: SelectionPolicy::for_class(
                    SlaClass::builtin(c).expect("a built-in class"),
                ),
            })
            .collect();
        node.install_profiles(now, profiles);

        let mut info = MemberInfo::new(site_name(i), uplink_addr(i, 0, MESH_PORT), creds.wg_public);
        info.generation = generation;
        info.role = if hub { Role::Hub } else { Role::Site };
        info.endpoints = (0..params.uplinks).map(|u| uplink_addr(i, u, WIRE_PORT)).collect();
        info.cluster = "sim".into();
        let mut membership = params.membership.clone();
        membership.expected_members = NonZeroU32::new(1000).expect("non-zero");
        let seeds: Vec<SocketAddr> =
            if i == 0 { Vec::new() } else { vec![uplink_addr(0, 0, MESH_PORT)] };
        let mut mesh_cfg = MeshConfig::new(membership, seeds);
        mesh_cfg.topology = params.topology.clone();
        let mesh = MeshNode::new(
            info,
            creds.identity,
            mesh_cfg,
            enroller,
            seed ^ 0x6d65_7368,
            now,
            unix_us / 1_000_000,
        )
        .expect("simulated identities are valid");
        Self {
            node,
            mesh,
            dp: SimDataPlane::default(),
            alive: true,
            next_mesh_sync: now,
            relayed: RelayedMembers::default(),
            wake: None,
            generation,
            dirty: false,
        }
    }

    /// The next instant the site has timer work.
    pub(super) fn deadline(&self) -> Instant {
        let mut t = self.next_mesh_sync;
        if let Some(n) = self.node.poll_timeout() {
            t = t.min(n);
        }
        if let Some(m) = self.mesh.poll_timeout() {
            t = t.min(m);
        }
        t
    }

    /// Timers of both halves, and the link-state exchange between them.
    pub(super) fn on_timer(&mut self, now: Instant, unix: u64, counters_due: bool) {
        if self.mesh.poll_timeout().is_some_and(|t| t <= now) {
            self.mesh.handle_timeout(now, unix);
        }
        if now >= self.next_mesh_sync {
            self.next_mesh_sync = now + MESH_SYNC;
            self.mesh.set_local_links(now, mesh_glue::link_entries(self.node.local_links()));
            self.node.handle_link_views(Arc::new(mesh_glue::link_views(&self.mesh)));
            for update in self.relayed.sync(&self.mesh) {
                self.node.handle_mesh(now, update);
            }
        }
        if counters_due && self.dirty {
            self.feed_counters(now);
        }
        self.node.handle_timeout(now);
    }

    /// The data plane's counters to the node.
    pub(super) fn feed_counters(&mut self, now: Instant) {
        self.dirty = false;
        for (d, (rx, tx)) in self.dp.counters.iter().enumerate() {
            self.node.handle_path_counters(now, d as u32, *rx, *tx);
        }
        for (peer, row) in self.dp.class_tx.iter().enumerate() {
            for (c, n) in row.iter().enumerate() {
                self.node.handle_class_tx(now, peer, c, *n);
            }
        }
    }

    /// The mesh's events to the node (what the agent's mesh thread does).
    pub(super) fn mesh_events(
        &mut self,
        now: Instant,
        mut record: impl FnMut(&weft_mesh::node::NodeEvent),
    ) {
        use weft_mesh::node::NodeEvent as M;
        while let Some(ev) = self.mesh.poll_event() {
            record(&ev);
            match ev {
                M::PeerUp(v) | M::PeerChanged(v) => {
                    self.node.handle_mesh(now, MeshUpdate::Up(mesh_glue::peer_spec(&v)));
                }
                M::PeerDown { site, reason } => {
                    self.node.handle_mesh(now, mesh_glue::down_update(site, reason));
                }
                M::SelfRevoked => {
                    let sites: Vec<SiteId> =
                        self.mesh.membership().members().map(|m| m.site.clone()).collect();
                    for site in sites {
                        let down = MeshUpdate::Down { site, reason: "revoked".into(), now: true };
                        self.node.handle_mesh(now, down);
                    }
                }
                M::CertRenewed(_)
                | M::EnrollerChanged
                | M::Enrolled { .. }
                | M::Bundle { .. }
                | M::BundleAck { .. }
                | M::EnrolDelegated { .. }
                | M::SvidRequested { .. } => {}
            }
        }
    }
}
