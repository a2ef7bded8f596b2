//! The validated scenario: what [`crate::parse`] returns.
//!
//! Every name in here has been checked: sites named by flows, faults and
//! assertions exist, times fall within the run, percentages within 0–100.
//! Times are offsets from the start of the run.

mod assertion;
mod expand;
mod fault;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use weft_types::{Bandwidth, Ratio, SiteId, UplinkId};

pub use assertion::{After, Assertion, AssertionKind, Reachability};
pub use expand::LinkFailure;
pub use fault::{Fault, FaultKind, RandomLinkFailures};

/// Seeds per scenario when `[scenario] seeds` is not given.
pub const DEFAULT_SEEDS: u32 = 10;
/// Packets per second of a flow when `pps` is not given.
pub const DEFAULT_PPS: u32 = 100;

/// One chaos scenario: a mesh, its traffic, a schedule of faults, and what
/// must hold throughout.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The file it came from (as the caller named it), for reports and replay.
    pub file: PathBuf,
    /// `[scenario] name`: a slug (`a-z`, `0-9`, `-`, `_`, `.`).
    pub name: String,
    /// `[scenario] description`, free text (may be empty).
    pub description: String,
    /// How long each run lasts, in simulated time.
    pub duration: Duration,
    /// How many seeds to run by default.
    pub seeds: u32,
    /// The mesh.
    pub topology: Topology,
    /// `[control]`: the control plane to simulate, if any.
    pub control: Option<Control>,
    /// `[[flow]]`, in file order.
    pub flows: Vec<Flow>,
    /// `[[fault]]`, in file order. Generators ([`FaultKind::RandomLinkFailures`])
    /// are still in here; [`Scenario::faults_for_seed`] expands them.
    pub faults: Vec<Fault>,
    /// `[[assert]]`, in file order.
    pub assertions: Vec<Assertion>,
}

impl Scenario {
    /// The flow called `name`.
    pub fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.name == name)
    }

    /// The fault called `name`.
    pub fn fault(&self, name: &str) -> Option<&Fault> {
        self.faults.iter().find(|f| f.name == name)
    }
}

/// `[control]`: which sites run a controller and which hosts the store
/// (etcd). Each controller runs the leader election against the store;
/// its calls cross the controller's and the store's uplinks, so faults on
/// those sites apply to the control plane too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// The controller sites, in file order (at least one, no duplicates).
    pub controllers: Vec<SiteId>,
    /// The site that hosts the store (not a controller).
    pub store: SiteId,
}

/// How the sites are meant to peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `"full-mesh"`: every site peers directly with every other.
    FullMesh,
    /// `"hub-spoke"`: spokes peer with the hubs only; spoke-to-spoke traffic is
    /// relayed through a hub.
    HubSpoke,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FullMesh => "full-mesh",
            Self::HubSpoke => "hub-spoke",
        })
    }
}

/// What one uplink of a site does to packets crossing it, in each direction.
///
/// A path from site A's uplink *i* to site B's uplink *j* crosses both
/// uplinks: delays and jitters add up, losses compound, and the slower rate
/// limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkProfile {
    /// One-way delay.
    pub delay: Duration,
    /// Jitter added on top of the delay (uniform in `[0, jitter]`).
    pub jitter: Duration,
    /// Packet loss.
    pub loss: Ratio,
    /// Rate limit; `None` is unlimited.
    pub rate: Option<Bandwidth>,
}

impl Default for LinkProfile {
    /// 10 ms, no jitter, no loss, unlimited.
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: Ratio::ZERO,
            rate: None,
        }
    }
}

/// The mesh: sites, their uplinks and how they peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// Site names, in order (`s0`, `s1`, … unless the file lists them).
    pub sites: Vec<SiteId>,
    /// Uplinks per site; they are numbered from 0.
    pub uplinks: u16,
    /// How sites peer.
    pub mode: Mode,
    /// The hubs (hub-spoke only; empty for a full mesh).
    pub hubs: Vec<SiteId>,
    /// `[topology.default_link]`: every uplink's profile unless overridden.
    pub default_link: LinkProfile,
    /// `[[topology.link]]`: complete profiles of the overridden uplinks.
    pub overrides: BTreeMap<(SiteId, UplinkId), LinkProfile>,
}

impl Topology {
    /// The profile of `site`'s uplink `uplink` (its override, or the default).
    pub fn link(&self, site: &SiteId, uplink: UplinkId) -> LinkProfile {
        self.overrides.get(&(site.clone(), uplink)).copied().unwrap_or(self.default_link)
    }

    /// Whether `site` is one of the sites.
    pub fn has_site(&self, site: &SiteId) -> bool {
        self.sites.contains(site)
    }

    /// Whether `site` is a hub (always false in a full mesh).
    pub fn is_hub(&self, site: &SiteId) -> bool {
        self.hubs.contains(site)
    }

    /// All uplink ids of a site: `0..uplinks`.
    pub fn uplink_ids(&self) -> impl Iterator<Item = UplinkId> + use<> {
        (0..self.uplinks).map(UplinkId)
    }
}

/// The SLA class of a flow, as the path engine knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrafficClass {
    /// `"realtime"`: voice, video; tightest failover.
    Realtime,
    /// `"interactive"`: SSH, RDP, web apps.
    Interactive,
    /// `"bulk"`: backups, transfers.
    Bulk,
    /// `"best-effort"`: everything else.
    BestEffort,
}

impl TrafficClass {
    /// Every class, in order.
    pub const ALL: [Self; 4] = [Self::Realtime, Self::Interactive, Self::Bulk, Self::BestEffort];

    /// The name scenario files use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Realtime => "realtime",
            Self::Interactive => "interactive",
            Self::Bulk => "bulk",
            Self::BestEffort => "best-effort",
        }
    }

    /// The class called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for TrafficClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stream of packets between two sites.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Unique name.
    pub name: String,
    /// Sending site.
    pub from: SiteId,
    /// Receiving site.
    pub to: SiteId,
    /// SLA class.
    pub class: TrafficClass,
    /// Packets per second.
    pub pps: u32,
    /// When it starts sending.
    pub start: Duration,
    /// When it stops sending (the end of the run unless given).
    pub stop: Duration,
}
