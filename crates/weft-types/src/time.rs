//! The origin of virtual time.
//!
//! Sans-IO cores take `now: Instant` as an argument and never read the clock.
//! But `std::time::Instant` can only be made from a clock reading, so tests and
//! the simulator need one reading to serve as their time origin; virtual time
//! is that origin plus a `Duration`. This is the one sanctioned reading, and it
//! carries no meaning beyond "some instant": nothing may compare it with real
//! time.

use std::time::Instant;

/// An arbitrary instant to which tests and simulations add virtual durations.
#[allow(clippy::disallowed_methods)]
pub fn virtual_origin() -> Instant {
    Instant::now()
}
