//! One site's brain, sans-IO.
//!
//! [`Node`] composes the path engine (`weft-path`), the probe codec
//! (`weft-probe`), link-state routing (`weft-route`) and the relay planner
//! behind one `handle_*` / `poll_*` surface. The agent `weftd` is its I/O
//! shell: sockets, TUN, WireGuard sessions, the store and the API drive one
//! `Node`. The same `Node` runs in the simulator.
//!
//! It does no I/O and never reads the clock: time is passed in, randomness
//! is seeded, so a simulation runs hours of lossy, flapping links in
//! milliseconds and any run replays exactly from its seed.
//!
//! It does not hold WireGuard sessions (boringtun reads the clock; the
//! driver keeps them), nor the policy classifier (the data plane's), nor
//! the mesh's SWIM node (`weft-mesh`'s `MeshNode`, which the driver runs
//! beside it and whose peers and link-state views it feeds in).
//!
//! # Layout
//! - [`node`]: [`Node`] and its inputs and outputs ([`Program`],
//!   [`Transmit`], [`NodeEvent`]); its doc says how to drive it.
//! - [`mesh_glue`]: between the mesh's members and advertisements and the
//!   node's peers and link views (the agent and the simulator share it).
//! - [`relay`]: the relay planner and the link-state database built from
//!   every site's advertisements.
//! - `sim` (feature `sim`): [`sim::PathSim`], a discrete-event simulation of one
//!   site's paths to its peers over impaired links ([`sim::LinkProfile`]),
//!   with flows that follow the path engine's choices.
#![forbid(unsafe_code)]

pub mod mesh_glue;
pub mod node;
pub mod relay;
#[cfg(feature = "sim")]
pub mod sim;

pub use node::{
    MeshUpdate, NO_PATH, NewPath, Node, NodeConfig, NodeError, NodeEvent, PathTestReport, PeerSpec,
    Profile, Program, Transmit, UplinkSpec, reason_label,
};
