//! The deterministic simulator.
//!
//! [`PathSim`] drives one [`weft_path::PathEngine`] against simulated links:
//! probes it asks for cross a [`LinkProfile`] (delay, jitter, loss, up/down) in
//! each direction and come back as echoes; flows send traffic (so the engine
//! sees activity and passive proof of life) and re-select their path whenever
//! the engine's generation for their peer changes. Link changes can be
//! scheduled at virtual times. Everything random comes from one seed.
//!
//! ```
//! use std::time::Duration;
//! use weft_node::sim::{LinkProfile, PathSim};
//! use weft_path::{EngineConfig, PathAttrs, SelectionPolicy, SlaClass};
//! use weft_types::{PeerId, UplinkId};
//!
//! let mut sim = PathSim::new(7, EngineConfig::default());
//! let rt = sim.add_policy(SelectionPolicy::for_class(SlaClass::realtime()));
//! let fiber = sim.add_path(PeerId(1), UplinkId(0), "fiber", PathAttrs { priority: 1, ..PathAttrs::default() }, LinkProfile::ms(10));
//! let lte = sim.add_path(PeerId(1), UplinkId(1), "lte", PathAttrs { priority: 2, ..PathAttrs::default() }, LinkProfile::ms(30));
//! let call = sim.add_flow("call", PeerId(1), rt, 42);
//! sim.run_for(Duration::from_secs(2));
//! assert_eq!(sim.flow(call).path, Some(fiber));
//! sim.schedule(Duration::from_secs(3), fiber, LinkProfile::ms(10).down());
//! sim.run_for(Duration::from_secs(2));
//! assert_eq!(sim.flow(call).path, Some(lte));
//! ```

pub mod chaos;
pub mod fabric;
mod gossip;
mod link;
mod path_sim;

pub use gossip::{GossipNet, GossipSim};
pub use link::LinkProfile;
pub use path_sim::{FlowMove, LogEntry, PathSim, SimFlow};
