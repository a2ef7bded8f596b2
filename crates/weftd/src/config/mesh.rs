//! The `[mesh]` section: how this site takes part in the zero-touch mesh.
//!
//! ```toml
//! [mesh]
//! listen = "198.18.1.2:7946"   # gossip and enrolment (UDP); default: first uplink's address, port 7946
//! topology = "full-mesh"       # or "hub-and-spoke", "hybrid"
//! critical = ["paris", "nyc"]  # hybrid: these sites peer with each other directly
//! seeds = ["198.18.1.2:7946"]  # members to rejoin through after a restart
//! grace = "5s"                 # a member that went down keeps its peer this long
//! profile = "lan"              # gossip timers: "lan" (200 ms probes) or "wan" (1 s)
//! relay_hold_down = "3s"       # a direct path must stay up this long before relayed traffic returns to it
//! cluster = "prod"             # a label every member gossips (empty by default)
//! # SWIM tuning over the profile's values:
//! interval = "200ms"           # each member probes one random member this often
//! fanout = 4                   # members asked to probe indirectly, and gossiped to per round
//! suspicion_multiplier = 4     # a suspect is dead after multiplier × log10(members) × interval
//! retransmit_limit = 12        # how many times each update is piggybacked
//! ```

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use weft_types::{SiteId, parse_duration};

use super::UplinkConfig;
use super::raw::RawMesh;
use super::validate::Checker;

pub use weft_layout::DEFAULT_MESH_PORT;

/// Which sites peer with which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// Every site with every site (the default).
    FullMesh,
    /// Spokes peer only with hubs (role `hub`); hubs with everyone.
    HubAndSpoke,
    /// Critical sites full-mesh; the others peer with their region's hubs.
    Hybrid,
}

impl Topology {
    /// The name used in the file and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::FullMesh => "full-mesh",
            Self::HubAndSpoke => "hub-and-spoke",
            Self::Hybrid => "hybrid",
        }
    }
}

/// Gossip timer presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipProfile {
    /// One low-latency network: 200 ms probes.
    Lan,
    /// Across the internet: 1 s probes.
    Wan,
}

/// A validated `[mesh]` section (defaults when the file has none).
#[derive(Debug, Clone, PartialEq)]
pub struct MeshConfig {
    /// Whether the file has a `[mesh]` section (the agent also meshes when
    /// started with `--join` or when its state directory holds a mesh identity).
    pub configured: bool,
    /// The gossip and enrolment socket.
    pub listen: SocketAddr,
    /// Which sites peer with which.
    pub topology: Topology,
    /// Hybrid: the sites that peer with each other directly.
    pub critical: Vec<SiteId>,
    /// Members to rejoin through.
    pub seeds: Vec<SocketAddr>,
    /// How long a member that went down keeps its peer.
    pub grace: Duration,
    /// Gossip timers.
    pub profile: GossipProfile,
    /// How long a direct path must stay up before relayed traffic returns to it.
    pub relay_hold_down: Duration,
    /// Cluster label every member gossips.
    pub cluster: String,
    /// SWIM tuning over the profile: probe interval.
    pub interval: Option<Duration>,
    /// SWIM tuning: indirect probes and gossip fanout.
    pub fanout: Option<u32>,
    /// SWIM tuning: suspicion multiplier.
    pub suspicion_multiplier: Option<u32>,
    /// SWIM tuning: piggyback retransmissions per update.
    pub retransmit_limit: Option<u32>,
}

impl MeshConfig {
    /// The defaults for a site with `uplinks`.
    pub fn defaults(uplinks: &[UplinkConfig]) -> Self {
        let ip = uplinks.first().map_or([0, 0, 0, 0].into(), |u| u.bind.ip());
        Self {
            configured: false,
            listen: SocketAddr::new(ip, DEFAULT_MESH_PORT),
            topology: Topology::FullMesh,
            critical: Vec::new(),
            seeds: Vec::new(),
            grace: Duration::from_secs(5),
            profile: GossipProfile::Lan,
            relay_hold_down: Duration::from_secs(3),
            cluster: String::new(),
            interval: None,
            fanout: None,
            suspicion_multiplier: None,
            retransmit_limit: None,
        }
    }
}

/// Checks `[mesh]`.
pub(super) fn mesh(
    c: &mut Checker<'_>,
    raw: Option<&RawMesh>,
    uplinks: &[UplinkConfig],
) -> MeshConfig {
    let mut out = MeshConfig::defaults(uplinks);
    let Some(raw) = raw else { return out };
    out.configured = true;
    if let Some(l) = &raw.listen
        && let Some(a) = c
            .parse(l, |s| SocketAddr::from_str(s).map_err(|_| format!("{s:?} is not ADDRESS:PORT")))
    {
        out.listen = a;
    }
    if let Some(t) = &raw.topology {
        let parsed = c.parse(t, |s| match s {
            "full-mesh" => Ok(Topology::FullMesh),
            "hub-and-spoke" => Ok(Topology::HubAndSpoke),
            "hybrid" => Ok(Topology::Hybrid),
            other => Err(format!(
                "unknown topology {other:?}: expected \"full-mesh\", \"hub-and-spoke\" or \"hybrid\""
            )),
        });
        if let Some(t) = parsed {
            out.topology = t;
        }
    }
    out.critical = raw.critical.iter().filter_map(|s| c.parse(s, SiteId::new)).collect();
    if !out.critical.is_empty() && out.topology != Topology::Hybrid {
        c.err(&raw.critical[0], "critical sites only mean something with topology = \"hybrid\"");
    }
    out.seeds = raw
        .seeds
        .iter()
        .filter_map(|s| {
            c.parse(s, |v| {
                SocketAddr::from_str(v).map_err(|_| format!("{v:?} is not ADDRESS:PORT"))
            })
        })
        .collect();
    if let Some(g) = &raw.grace
        && let Some(d) = c.parse(g, parse_duration)
    {
        out.grace = d;
    }
    if let Some(h) = &raw.relay_hold_down
        && let Some(d) = c.parse(h, parse_duration)
    {
        out.relay_hold_down = d;
    }
    if let Some(cl) = &raw.cluster {
        if cl.get_ref().len() > 255 {
            c.err(cl, "cluster names are at most 255 bytes");
        }
        out.cluster.clone_from(cl.get_ref());
    }
    if let Some(i) = &raw.interval
        && let Some(d) = c.parse(i, parse_duration)
    {
        if d < Duration::from_millis(10) || d > Duration::from_mins(1) {
            c.err(i, "the gossip interval must be 10ms..=60s");
        }
        out.interval = Some(d);
    }
    let mut bounded = |v: &Option<toml::Spanned<u32>>, what: &str, max: u32| {
        v.as_ref().map(|s| {
            let n = *s.get_ref();
            if n == 0 || n > max {
                c.err(s, format!("{what} must be 1..={max}"));
            }
            n
        })
    };
    out.fanout = bounded(&raw.fanout, "fanout", 64);
    out.suspicion_multiplier = bounded(&raw.suspicion_multiplier, "suspicion_multiplier", 100);
    out.retransmit_limit = bounded(&raw.retransmit_limit, "retransmit_limit", 255);
    if let Some(p) = &raw.profile
        && let Some(p) = c.parse(p, |s| match s {
            "lan" => Ok(GossipProfile::Lan),
            "wan" => Ok(GossipProfile::Wan),
            other => Err(format!("unknown gossip profile {other:?}: expected \"lan\" or \"wan\"")),
        })
    {
        out.profile = p;
    }
    out
}
