//! The live event stream (`GET /api/v1/events`, SSE or WebSocket).
//!
//! Every event has an id that grows by one per event and is stored, so a
//! client that reconnects with `Last-Event-ID: N` (or `?after=N`) gets every
//! event after `N` before the live ones, with no gap and no duplicate.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The agent started.
    AgentStarted,
    /// A site became reachable for the first time.
    SiteJoined,
    /// A site was removed.
    SiteLeft,
    /// A site's state changed (up, degraded, down).
    SiteStatusChanged,
    /// A path came up.
    PathUp,
    /// A path went down.
    PathDown,
    /// A path fell below its SLA.
    PathDegraded,
    /// A path recovered from degraded.
    PathRecovered,
    /// A class moved its flows from one path to another.
    Failover,
    /// A policy version started running.
    PolicyApplied,
    /// The topology changed (sites or paths added or removed).
    TopologyChanged,
    /// A controller became or stopped being the control plane's leader.
    LeaderChanged,
    /// A global traffic management change: a service set or removed, a
    /// traffic shift started, stepped, paused, finished or rolled back.
    GtmChanged,
    /// A flood toward one of this site's destinations started (traffic far
    /// above its learnt baseline) or ended.
    FloodDetected,
    /// A bandwidth reservation was made, preempted (moved or held down),
    /// re-admitted, deleted or expired.
    ReservationChanged,
    /// An IPsec gateway's remote prefixes moved between its IPsec path and
    /// the WireGuard site serving the same prefixes (`reason`: the new one).
    IpsecPathChanged,
}

impl EventKind {
    /// The snake-case name, as in JSON and the SSE `event:` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AgentStarted => "agent_started",
            Self::SiteJoined => "site_joined",
            Self::SiteLeft => "site_left",
            Self::SiteStatusChanged => "site_status_changed",
            Self::PathUp => "path_up",
            Self::PathDown => "path_down",
            Self::PathDegraded => "path_degraded",
            Self::PathRecovered => "path_recovered",
            Self::Failover => "failover",
            Self::PolicyApplied => "policy_applied",
            Self::TopologyChanged => "topology_changed",
            Self::LeaderChanged => "leader_changed",
            Self::GtmChanged => "gtm_changed",
            Self::FloodDetected => "flood_detected",
            Self::ReservationChanged => "reservation_changed",
            Self::IpsecPathChanged => "ipsec_path_changed",
        }
    }

    /// Parses a snake-case name.
    pub fn parse(s: &str) -> Option<Self> {
        ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

const ALL: [EventKind; 16] = [
    EventKind::AgentStarted,
    EventKind::SiteJoined,
    EventKind::SiteLeft,
    EventKind::SiteStatusChanged,
    EventKind::PathUp,
    EventKind::PathDown,
    EventKind::PathDegraded,
    EventKind::PathRecovered,
    EventKind::Failover,
    EventKind::PolicyApplied,
    EventKind::TopologyChanged,
    EventKind::LeaderChanged,
    EventKind::GtmChanged,
    EventKind::FloodDetected,
    EventKind::ReservationChanged,
    EventKind::IpsecPathChanged,
];

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Sequence number, one more than the previous event's.
    pub id: u64,
    /// When, Unix milliseconds.
    pub at_unix_ms: i64,
    /// What happened.
    pub kind: EventKind,
    /// One line for a human.
    pub message: String,
    /// Site concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Path concerned (for failovers: the new path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<u32>,
    /// Failovers: the previous path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_path: Option<u32>,
    /// Failovers: the SLA class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Why (a failover's or state change's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Path events: RTT at the time, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Path events: loss at the time, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_pct: Option<f64>,
    /// Policy events: the version now running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<u64>,
}

impl Event {
    /// An event of `kind` with only a message (id and time set by the store).
    pub fn new(kind: EventKind, message: impl Into<String>) -> Self {
        Self {
            id: 0,
            at_unix_ms: 0,
            kind,
            message: message.into(),
            site: None,
            path: None,
            from_path: None,
            class: None,
            reason: None,
            rtt_ms: None,
            loss_pct: None,
            policy_version: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for k in ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
        }
    }
}
