//! Flows, routes, the topology graph and flow explanations.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A flow the data plane has seen recently, with where it goes and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Flow {
    /// Flow id: the 5-tuple, `proto:src:sport-dst:dport`.
    pub id: String,
    /// `tcp`, `udp`, `icmp`, ... or the protocol number.
    pub protocol: String,
    /// Source address.
    pub src: String,
    /// Source port (0 when the protocol has none).
    pub src_port: u16,
    /// Destination address.
    pub dst: String,
    /// Destination port (0 when the protocol has none).
    pub dst_port: u16,
    /// `out` (sent to a site) or `in` (received from one).
    pub direction: String,
    /// Site it is sent to (or received from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// `allow` or `deny`.
    pub verdict: String,
    /// ACL that decided the verdict (`default` for the policy default).
    pub rule: String,
    /// SLA class of its route profile.
    pub class: String,
    /// Path it is on now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<u32>,
    /// Why it is there, in one sentence.
    pub reason: String,
    /// Packets seen.
    pub packets: u64,
    /// Bytes seen.
    pub bytes: u64,
    /// Milliseconds since its last packet.
    pub idle_ms: u64,
}

/// Where one overlay prefix is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Route {
    /// Overlay prefix.
    pub prefix: String,
    /// Site that owns it.
    pub site: String,
    /// Next hop site (the owner itself when direct).
    pub via: String,
    /// The current path of every route profile of the running policy.
    pub choices: Vec<RouteChoice>,
}

/// One route profile's current path to a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RouteChoice {
    /// SLA class of the profile.
    pub class: String,
    /// Path id, absent when no path is eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<u32>,
    /// Its local uplink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
}

/// The mesh as a graph: sites and the measured paths between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Topology {
    /// Sites.
    pub nodes: Vec<TopologyNode>,
    /// Paths this agent measures (from the local site).
    pub edges: Vec<TopologyEdge>,
}

/// A site in the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopologyNode {
    /// Site id.
    pub id: String,
    /// Whether it is the local site.
    pub local: bool,
    /// Role, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Region, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A measured path in the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopologyEdge {
    /// From site.
    pub from: String,
    /// To site.
    pub to: String,
    /// Path id.
    pub path: u32,
    /// Local uplink.
    pub uplink: String,
    /// State.
    pub state: String,
    /// Smoothed RTT, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Jitter, milliseconds.
    pub jitter_ms: f64,
    /// Loss, percent.
    pub loss_pct: f64,
}

/// Why a flow goes where it goes: `GET /api/v1/explain?...`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    /// The flow, as `proto src:sport -> dst:dport`.
    pub flow: String,
    /// `allow` or `deny`.
    pub verdict: String,
    /// ACL that decided (`default` for the policy default).
    pub rule: String,
    /// Route rule that chose the profile (`default` when none matched).
    pub route_rule: String,
    /// SLA class.
    pub class: String,
    /// Site the destination belongs to; absent when no site serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The path engine's preference (`lowest-latency`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<String>,
    /// Every path to that site and how it was judged.
    pub candidates: Vec<Candidate>,
    /// The chosen path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<u32>,
    /// One sentence: why this one.
    pub summary: String,
}

/// One candidate path in an [`Explanation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Candidate {
    /// Path id.
    pub path: u32,
    /// Local uplink.
    pub uplink: String,
    /// Remote endpoint.
    pub remote: String,
    /// State.
    pub state: String,
    /// Whether it meets the class and the route's constraints.
    pub eligible: bool,
    /// Score under the preference (lower is better), when scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Why it is (not) eligible.
    pub note: String,
}
