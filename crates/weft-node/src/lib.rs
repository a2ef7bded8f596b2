//! One site's brain, sans-IO.
//!
//! `weft-node` will compose the path engine (`weft-path`), routing
//! (`weft-route`), policy (`weft-policy`) and membership (`weft-mesh`) behind
//! one `handle_*` / `poll_*` surface that the agent `weftd` drives. Today it
//! holds the piece every later layer is tested with: the deterministic
//! simulator.
//!
//! It does no I/O and never reads the clock: the simulator runs on virtual
//! time and a seeded RNG, so hours of lossy, flapping links take milliseconds
//! and any run replays exactly from its seed.
//!
//! # Layout
//! - `sim` (feature `sim`): [`sim::PathSim`], a discrete-event simulation of one
//!   site's paths to its peers over impaired links ([`sim::LinkProfile`]),
//!   with flows that follow the path engine's choices.
#![forbid(unsafe_code)]

#[cfg(feature = "sim")]
pub mod sim;
