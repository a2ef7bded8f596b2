//! Path quality and path choice, sans-IO.
//!
//! `weft-path` decides, for one site, which of its paths to every peer are
//! alive, how good they are, and which path each class of flows should use. A
//! *path* is one (local uplink × remote endpoint) pair to a peer; a site with
//! two uplinks talking to a peer with two has four paths to it.
//!
//! It does **not** send or receive anything, read the clock, or draw unseeded
//! randomness: the driver (the agent's event loop, or the simulator) passes
//! time in, sends the probes the engine asks for, and feeds back echoes and
//! traffic observations. That is what lets the simulator run hours of lossy,
//! flapping links in milliseconds and replay any run from its seed.
//!
//! # How to drive it
//!
//! Build a [`PathEngine`] with an [`EngineConfig`], register class policies
//! ([`SelectionPolicy`]) and paths ([`PathSpec`]). Then, in a loop:
//! [`PathEngine::handle_timeout`] when [`PathEngine::poll_timeout`] passes;
//! send each [`ProbeRequest`] from [`PathEngine::poll_probe`]; feed echoes to
//! [`PathEngine::handle_echo`] and traffic to [`PathEngine::handle_rx`] /
//! [`PathEngine::handle_tx`]; report [`PathEvent`]s from
//! [`PathEngine::poll_event`]. Flows call [`PathEngine::select_path`] when they
//! start and whenever [`PathEngine::generation`] of their peer changes;
//! [`PathEngine::explain`] says why.
//!
//! # Layout
//! - [`config`]: timers, thresholds, hysteresis ([`EngineConfig`]).
//! - [`estimator`]: RTT (EWMA, min, percentiles), RFC 3550 jitter, windowed loss.
//! - `liveness`: the Down → Init → Up / Degraded state machine.
//! - `monitor`: one path's schedule, outstanding probes and estimators.
//! - [`sla`]: SLA classes (`realtime`, `interactive`, `bulk`, `best-effort`).
//! - [`preference`]: scoring (lowest latency/loss/cost, highest bandwidth, weighted presets).
//! - [`select`]: the pure selection function and load-balancing modes.
//! - `holddown`: failback hysteresis with flap dampening.
//! - [`explain`]: human and machine explanations of a choice.
//! - [`engine`]: [`PathEngine`], which composes all of the above.
//! - [`event`]: [`ProbeRequest`] and [`PathEvent`].
#![forbid(unsafe_code)]

pub mod config;
pub mod engine;
pub mod estimator;
pub mod event;
pub mod explain;
mod holddown;
mod liveness;
pub mod metrics;
mod monitor;
pub mod preference;
pub mod select;
pub mod sla;
pub mod state;

pub use config::{BrownoutThresholds, ConfigError, EngineConfig, IntervalMode, ProbeConfig};
pub use engine::{EchoError, EngineCounters, PathEngine};
pub use event::{FailoverReason, PathEvent, PolicyId, ProbeRequest};
pub use explain::{CandidateReport, Decision};
pub use metrics::{LivenessSource, PathAttrs, PathMetrics, PathSpec, Quality};
pub use preference::{PathPreference, Weights};
pub use select::{
    Basis, Candidate, Choice, Fallback, LoadBalance, Rule, SelectionPolicy, Verdict, select,
};
pub use sla::SlaClass;
pub use state::{Breach, Metric, PathState, TransitionReason};
