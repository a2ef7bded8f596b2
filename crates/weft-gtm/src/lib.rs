//! Weft's global traffic management (GTM) core: which endpoint of a global
//! service a DNS answer names, and how traffic shifts move that choice.
//!
//! Pure: no I/O, no clock (time comes in as Unix milliseconds, because
//! shifts are stored in the control plane and outlive any one process), no
//! randomness (a `roll` in `0..10_000` comes in with every choice). The
//! DNS server, the health checkers and the control-plane records that
//! drive these types live in `weftd` (`src/gtm/`, `src/controlplane/gtm.rs`).
//!
//! # Layout
//! - [`model`]: a [`GtmDoc`] — global services ([`GlobalService`]), each
//!   with endpoints in several sites and regions (address, weight,
//!   capacity, version), and the shifts acting on them. Validation with
//!   clear errors.
//! - [`region`]: the client-prefix → region table of a DNS site and the
//!   EDNS Client Subnet scope that matches a decision's real granularity.
//! - [`choose`]: the answer decision. Healthy endpoints with traffic, the
//!   version split of a canary or blue/green shift, the nearest RTT tier
//!   from the client's region, spill-over past endpoints at capacity, then
//!   weights. Returns the scores that `weft gtm explain` prints.
//! - [`shift`]: traffic shifts as state machines driven by `tick(now)`:
//!   drain (weights down in steps, a floor for the last healthy endpoint),
//!   blue/green (switch, hold, instant switch-back), canary (stepped plan
//!   gated by SLO samples, automatic rollback with the reason).
//! - [`effect`]: what a document's shifts do to one service right now:
//!   effective weights and the version split.
//! - [`anycast`]: from which sites a service's anycast prefix is announced.

#![forbid(unsafe_code)]

pub mod anycast;
pub mod choose;
pub mod effect;
pub mod model;
pub mod ops;
pub mod region;
pub mod shift;

pub use anycast::{Announcement, announcements};
pub use choose::{Candidate, Choice, Score, choose, pick};
pub use effect::{Effect, VersionSplit, effect};
pub use model::{Check, Endpoint, GlobalService, GtmDoc, HealthCheck, ModelError};
pub use ops::{OpError, Ticked};
pub use region::{RegionMatch, RegionTable};
pub use shift::{
    CanarySpec, Shift, ShiftCommand, ShiftError, ShiftKind, ShiftState, SloSample, SloSpec, Target,
};
