//! Multi-site network-namespace labs with a WAN emulator.
//!
//! Everything Weft promises (many uplinks, path quality, sub-second failover,
//! relaying) is shown on real packets crossing real interfaces. A *lab* is one
//! network namespace per site plus a shared "internet" namespace; each uplink of a
//! site is a veth pair into the internet namespace, where a userspace WAN emulator
//! adds delay, jitter, loss and outages per uplink (this kernel has no netem), and
//! `tbf` limits rate.
//!
//! What it does not do: it runs no Weft agent and knows nothing of WireGuard. Any
//! process can run in a site ([`Lab::exec`], [`Lab::spawn`], [`Lab::in_site`]);
//! wireguard-go between two sites works (see the integration tests).
//!
//! # How to drive it
//!
//! ```no_run
//! use std::time::Duration;
//! use weft_lab::{Impairment, Lab};
//!
//! # fn main() -> Result<(), weft_lab::LabError> {
//! let mut lab = Lab::builder().sites(3).uplinks(2).build()?; // unique name per call
//! let b0 = lab.addr("b", 0)?;
//! lab.set_link("a", 0, Impairment::delay(Duration::from_millis(40)))?;
//! let out = lab.exec("a", &["ping", "-c", "3", "-I", &lab.addr("a", 0)?.to_string(), &b0.to_string()])?;
//! assert!(out.status.success());
//! # Ok(()) }
//! // Dropping `lab` (also in a panicking test) removes everything it made.
//! ```
//!
//! Needs root (`CAP_NET_ADMIN`, `CAP_SYS_ADMIN`), `ip` and `tc` (iproute2) and
//! `/dev/net/tun`. By default the emulator runs on a thread of the calling process
//! ([`EmulatorMode::Thread`]), so tests of *any* crate can use labs with no binary
//! to locate: add `weft-lab` as a dev-dependency and call [`Lab::builder`]. Labs
//! get unique names (`wl<pid>-<n>`), so tests run in parallel. The `weft` CLI runs
//! the emulator as a daemon instead ([`EmulatorMode::Process`] + [`serve_lab`]),
//! so a lab outlives `weft lab up`.
//!
//! # Using a lab from another crate's tests
//!
//! 1. Add `weft-lab = { path = "../weft-lab" }` under `[dev-dependencies]`.
//! 2. In a test: `let mut lab = Lab::builder().sites(2).uplinks(2).build()?;`
//!    then run your binary in a site with
//!    `lab.spawn("a", &[env!("CARGO_BIN_EXE_weftd"), ...])` (killed when the lab
//!    drops), or open sockets there with [`Lab::in_site`].
//! 3. Run the tests as root. Nothing has to be built first: the emulator is a
//!    thread of the test process. Labs whose test process was killed outright are
//!    removed by the next [`LabBuilder::build`] ([`Lab::reap_stale`]); `weft lab
//!    list` / `weft lab down --name NAME` also find and remove them.
//!
//! # The emulator: design and cost
//!
//! Clean uplinks forward in the kernel of the internet namespace (veth speed). An
//! uplink with delay, jitter, loss or `down` is *diverted* by two policy rules into
//! the emulator's TUN device, which queues packets by release time and writes them
//! back (see [`emulator`]). Rate is `tbf` on both veth ends. With no impairment
//! but every uplink diverted ([`LabBuilder::via_emulator`]) the emulator carries
//! about 1.4 Gbit/s of TCP (plain veth: about 25 Gbit/s) and adds about 0.07 ms per
//! pass (0.14 ms to a round trip) on this 2-vCPU machine; `bench/wan-emulator.sh`
//! measures it. Changes from [`Lab::set_link`] apply in under 10 ms (one `ip`
//! call plus one control request), and are in force when the call returns.
//!
//! # Semantics
//!
//! See [`Impairment`]: an impairment on `SITE:UPLINK` applies to every packet
//! crossing that uplink, in both directions (a 40 ms delay adds 80 ms to a round
//! trip over it). See [`addressing`] for the address plan and the routing in sites.
//!
//! # Layout
//! - [`builder`]: [`LabBuilder`] and [`EmulatorMode`]: shape, name, bring-up.
//! - [`lab`]: [`Lab`], the handle: `exec`, `spawn`, `set_link`, `status`, teardown on drop.
//! - [`topology`]: [`Topology`], from counts or a TOML file; name rules.
//! - [`impairment`]: [`Impairment`] and [`LinkChange`] (CLI-style partial change).
//! - [`addressing`]: the underlay plan (198.18.0.0/15) and interface names.
//! - [`emulator`]: the WAN emulator loop; [`emulator::control`] its control channel.
//! - [`select`]: naming sites and uplinks by index or name, `SITE:UPLINK`.
//! - [`state`]: the state file under `/run/weft-lab/<lab>/`.
//! - [`status`]: [`LabStatus`], as printed by `weft lab status`.
//! - `netsetup`, `links`, `sys` (private): namespaces and routes; divert rules and
//!   `tbf`; commands, setns and signals.
//! - [`error`]: the error type, [`LabError`].
#![forbid(unsafe_code)]

pub mod addressing;
pub mod builder;
pub mod emulator;
pub mod error;
pub mod impairment;
pub mod lab;
mod links;
mod netsetup;
pub mod select;
pub mod state;
pub mod status;
mod sys;
pub mod topology;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use builder::{EmulatorMode, LabBuilder};
pub use emulator::control::EmulatorStats;
pub use error::{LabError, Result};
pub use impairment::{Impairment, LinkChange};
pub use lab::Lab;
pub use select::{LinkRef, SiteSel, UplinkSel};
pub use state::LabState;
pub use status::LabStatus;
pub use topology::Topology;

/// Runs the emulator of lab `name` on the calling thread until it is told to shut
/// down or killed: the body of an [`EmulatorMode::Process`] daemon. Reads the lab's
/// state file; the seed comes from `WEFT_LAB_SEED` if set.
pub fn serve_lab(name: &str) -> Result<()> {
    topology::validate_lab_name(name)?;
    let state = LabState::load(name)?;
    let seed = std::env::var("WEFT_LAB_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let config = emulator::EmulatorConfig {
        netns: state.inet_ns.clone(),
        tun_name: addressing::TUN_NAME.into(),
        control: state.control_socket(),
        seed,
    };
    emulator::run(&config, &Arc::new(AtomicBool::new(false)))
}
