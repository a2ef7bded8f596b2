//! Assertions: what must hold in every run of a scenario.

use std::collections::BTreeMap;
use std::time::Duration;

use weft_types::SiteId;

use super::TrafficClass;

/// One `[[assert]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// Unique name: the file's `name`, or `KIND#N` (N = its 1-based position
    /// among the assertions).
    pub name: String,
    /// What is checked.
    pub kind: AssertionKind,
}

/// What an assertion checks. The simulator measures; these are the rules.
#[derive(Debug, Clone, PartialEq)]
pub enum AssertionKind {
    /// `max-failover-gap`: no flow of `class` (or the one `flow`) goes longer
    /// than `max` without a delivered packet while its destination is
    /// reachable in the fault model (not crashed, not partitioned away, with
    /// at least one uplink up at each end).
    MaxFailoverGap {
        /// The class of flows checked (every flow of it).
        class: Option<TrafficClass>,
        /// The one flow checked.
        flow: Option<String>,
        /// The longest allowed gap.
        max: Duration,
    },
    /// `converged-within`: at most `within` after the anchor, every live site
    /// sees every other live site it can reach as alive and reachable, and
    /// every crashed site as dead.
    ConvergedWithin {
        /// From when.
        after: After,
        /// The deadline, counted from `after`.
        within: Duration,
    },
    /// `no-false-deaths`: no site is ever declared dead by another unless it
    /// was crashed, or partitioned away from or cut off (every uplink down)
    /// from the site that declared it.
    NoFalseDeaths,
    /// `reachability`: at one instant, which pairs of sites can reach each
    /// other.
    Reachability(Reachability),
    /// `relay-iff-direct-down`: a flow (every flow, or `flow`) is relayed
    /// through another site when, and only when, every direct path between its
    /// ends is down — allowing `tolerance` after each change for detection.
    RelayIffDirectDown {
        /// The one flow checked (every flow when `None`).
        flow: Option<String>,
        /// Grace after each change of the direct paths.
        tolerance: Duration,
    },
    /// `max-path-changes`: no flow (or the one `flow`) changes path more than
    /// `max` times within any sliding `window` (flap dampening).
    MaxPathChanges {
        /// The one flow checked (every flow when `None`).
        flow: Option<String>,
        /// Most changes allowed in one window.
        max: u32,
        /// Window length.
        window: Duration,
    },
    /// `max-leader-gap`: after the first election, the control plane never
    /// goes longer than `max` without a controller that believes it leads,
    /// counting only the time during which some running controller can
    /// reach the store (both sites up, an uplink up at each, same side of
    /// every partition). Needs a `[control]` table.
    MaxLeaderGap {
        /// The longest allowed time without a leader.
        max: Duration,
    },
    /// `single-leader`: never two controllers that believe they lead at the
    /// same instant (checked every 2 ms of simulated time), and no fenced
    /// write lands at the store for an epoch older than one that already
    /// landed. Needs a `[control]` table.
    SingleLeader,
}

impl AssertionKind {
    /// The `kind` a scenario file writes for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::MaxFailoverGap { .. } => "max-failover-gap",
            Self::ConvergedWithin { .. } => "converged-within",
            Self::NoFalseDeaths => "no-false-deaths",
            Self::Reachability(_) => "reachability",
            Self::RelayIffDirectDown { .. } => "relay-iff-direct-down",
            Self::MaxPathChanges { .. } => "max-path-changes",
            Self::MaxLeaderGap { .. } => "max-leader-gap",
            Self::SingleLeader => "single-leader",
        }
    }
}

/// The anchor of `converged-within`: `after = "2m"` or `after = "FAULT"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// The fault it names, if it names one.
    pub fault: Option<String>,
    /// The time it resolves to: the given time, or the fault's
    /// [`super::Fault::settled_at`].
    pub at: Duration,
}

/// `reachability` at `at`: the expected state of site pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachability {
    /// The instant checked.
    pub at: Duration,
    /// Unordered pairs (smaller name first) → expected reachable. Pairs not in
    /// here are not checked.
    pub expect: BTreeMap<(SiteId, SiteId), bool>,
}

impl Reachability {
    /// Whether `a` and `b` are expected to reach each other (`None`: not checked).
    pub fn expected(&self, a: &SiteId, b: &SiteId) -> Option<bool> {
        let key = if a <= b { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) };
        self.expect.get(&key).copied()
    }
}
