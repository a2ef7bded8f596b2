//! Path states and the reasons for every transition.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Liveness and quality state of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathState {
    /// No proof of life within the detection time.
    Down,
    /// Proof of life seen; waiting for enough consecutive echoes to trust it.
    Init,
    /// Alive and within the brownout thresholds.
    Up,
    /// Alive but browned out: loss, jitter or latency beyond the thresholds.
    Degraded,
}

impl PathState {
    /// Whether the path can carry traffic at all (Up or Degraded).
    pub fn is_alive(self) -> bool {
        matches!(self, Self::Up | Self::Degraded)
    }
}

impl fmt::Display for PathState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Down => "down",
            Self::Init => "init",
            Self::Up => "up",
            Self::Degraded => "degraded",
        })
    }
}

/// A measured quantity that can breach a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Smoothed round-trip time.
    Latency,
    /// RFC 3550 jitter.
    Jitter,
    /// Probe loss over the window.
    Loss,
}

/// A measurement beyond a limit: which metric, what was measured, what is allowed.
///
/// Latency and jitter are in milliseconds, loss in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Breach {
    /// Which metric.
    pub metric: Metric,
    /// What was measured.
    pub measured: f64,
    /// The limit it exceeded.
    pub limit: f64,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.metric {
            Metric::Latency => write!(f, "rtt {:.1}ms > {:.1}ms", self.measured, self.limit),
            Metric::Jitter => write!(f, "jitter {:.1}ms > {:.1}ms", self.measured, self.limit),
            Metric::Loss => write!(f, "loss {:.1}% > {:.1}%", self.measured, self.limit),
        }
    }
}

/// Why a path changed state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransitionReason {
    /// A probe echo or authenticated traffic arrived on a Down path.
    ProofOfLife,
    /// Enough consecutive echoes arrived on an Init path.
    ConsecutiveEchoes {
        /// How many.
        count: u8,
    },
    /// Nothing arrived for the detection time.
    DetectTimeout {
        /// How long the path was silent.
        silent_for: Duration,
    },
    /// The last probes were all lost (even if other traffic still arrives: the
    /// send direction is broken).
    ProbesLost {
        /// How many in a row.
        count: u32,
    },
    /// Measurements breached the brownout thresholds.
    Brownout(Breach),
    /// Measurements are back within the brownout thresholds.
    BrownoutCleared,
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProofOfLife => f.write_str("proof of life"),
            Self::ConsecutiveEchoes { count } => write!(f, "{count} consecutive echoes"),
            Self::DetectTimeout { silent_for } => {
                write!(f, "silent for {}", weft_types::format_duration(*silent_for))
            }
            Self::ProbesLost { count } => write!(f, "last {count} probes lost"),
            Self::Brownout(b) => write!(f, "brownout: {b}"),
            Self::BrownoutCleared => f.write_str("brownout cleared"),
        }
    }
}
