//! What the engine tells its driver: probes to send and events to report.
//!
//! Events carry no timestamp: they happen at the `now` of the call that
//! produced them, which the driver knows.

use std::net::SocketAddr;

use serde::Serialize;
use weft_types::{PathId, PeerId, UplinkId};

use crate::state::{Breach, PathState, TransitionReason};

/// Identifies a class policy registered with [`PathEngine::add_policy`](crate::PathEngine::add_policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PolicyId(pub u16);

/// A probe the driver must send now: an authenticated probe message carrying
/// `seq`, from `uplink` to `remote`. Its echo goes to
/// [`PathEngine::handle_echo`](crate::PathEngine::handle_echo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct ProbeRequest {
    /// The path being probed.
    pub path: PathId,
    /// Its peer.
    pub peer: PeerId,
    /// The uplink to send from.
    pub uplink: UplinkId,
    /// The remote endpoint to send to.
    pub remote: SocketAddr,
    /// The probe's sequence number (unique per path).
    pub seq: u64,
}

/// Why flows of a class moved from one path to another.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FailoverReason {
    /// The class had no path yet.
    Initial,
    /// The class had no usable path for a while, and now has one again.
    Restored,
    /// The old path is no longer alive.
    PathDown {
        /// Its state.
        state: PathState,
    },
    /// The old path no longer meets the class's SLA.
    SlaBreach(Breach),
    /// A better path became usable (failback after its hold-down, or
    /// re-optimisation beyond the margin).
    BetterPath,
    /// The old path was removed.
    PathRemoved,
}

impl std::fmt::Display for FailoverReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Initial => f.write_str("initial choice"),
            Self::Restored => f.write_str("a path is usable again"),
            Self::PathDown { state } => write!(f, "path {state}"),
            Self::SlaBreach(b) => write!(f, "SLA breach: {b}"),
            Self::BetterPath => f.write_str("better path usable"),
            Self::PathRemoved => f.write_str("path removed"),
        }
    }
}

/// Something the driver should know (and usually report to operators).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum PathEvent {
    /// A path changed state.
    StateChanged {
        /// Which path.
        path: PathId,
        /// Its peer.
        peer: PeerId,
        /// Old state.
        from: PathState,
        /// New state.
        to: PathState,
        /// Why.
        reason: TransitionReason,
    },
    /// The primary path of an active-backup class changed (flows move).
    Failover {
        /// Which peer.
        peer: PeerId,
        /// Which class policy.
        policy: PolicyId,
        /// Old primary.
        from: Option<PathId>,
        /// New primary (`None`: no path, flows are dropped or wait).
        to: Option<PathId>,
        /// Why.
        reason: FailoverReason,
    },
    /// The set of usable paths of a load-balanced class changed.
    PoolChanged {
        /// Which peer.
        peer: PeerId,
        /// Which class policy.
        policy: PolicyId,
        /// The new pool.
        pool: Vec<PathId>,
    },
}
