//! `GET /api/v1/bgp`: what a site's BGP speaker announces to its routers
//! and what it learnt from them (`[bgp]`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The BGP speaker of one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BgpStatus {
    /// Whether the site has a `[bgp]` section (all else is empty without).
    pub enabled: bool,
    /// `[bgp] local_as`.
    pub local_as: u32,
    /// `[bgp] learn`: the on-prem ranges accepted from the routers.
    pub learn: Vec<String>,
    /// The prefixes announced to the routers now.
    pub announced: Vec<String>,
    /// The routers.
    pub neighbors: Vec<BgpNeighbor>,
    /// Every route BIRD holds from an importing router, accepted or not.
    pub learnt: Vec<LearntPrefix>,
    /// The learnt prefixes several sites of the mesh advertise (edges of
    /// one data centre), and which of them this site sends each to.
    #[serde(default)]
    pub shared: Vec<SharedLearntPrefix>,
}

/// A learnt prefix several sites advertise, as this site routes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SharedLearntPrefix {
    /// The prefix.
    pub prefix: String,
    /// The edge this site sends it to: the reachable one with the highest
    /// learn preference, ties broken by the lowest site id. This site's own
    /// id when it learnt the prefix itself (it routes it to its router).
    pub via: String,
    /// The other edges advertising it, in the order they take over.
    pub standby: Vec<String>,
}

/// One `[[bgp.neighbor]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BgpNeighbor {
    /// Its name (BIRD protocol `bgp_NAME`).
    pub name: String,
    /// Its address.
    pub address: String,
    /// Its AS.
    pub remote_as: u32,
    /// Whether routes are learnt from it.
    pub import: bool,
    /// The session as BIRD reports it: its state and info (`up:
    /// Established`, `start: Active ...`); empty when BIRD does not answer.
    pub session: String,
}

/// A prefix a router announced to this site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LearntPrefix {
    /// The prefix.
    pub prefix: String,
    /// The neighbor it came from (the first, when several announce it).
    pub neighbor: String,
    /// Whether the site takes it as its own.
    pub accepted: bool,
    /// Why not, when refused (it overlaps a site's prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}
