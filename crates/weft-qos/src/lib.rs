//! Weft's quality-of-service and traffic-engineering core, sans-IO.
//!
//! - [`bucket`]: a token bucket (the shaper of an uplink, a class's ceiling,
//!   a reservation's guaranteed rate).
//! - [`scheduler`]: one uplink's [`Scheduler`]: a queue per class (and per
//!   reservation), served by strict priority for priority classes, then the
//!   reserved rates, then deficit round robin by weight, everything shaped to
//!   the uplink's capacity so the queue forms here and not in the modem.
//! - [`admission`]: whether a bandwidth reservation fits on a path to its
//!   destination, which lower-priority reservations it preempts, and where
//!   those go.
//!
//! Nothing here reads a clock or touches a socket: the data plane passes
//! `now` in and sends what [`Scheduler::dequeue`] hands out.
#![forbid(unsafe_code)]

pub mod admission;
pub mod bucket;
pub mod scheduler;

pub use admission::{Admission, Candidate, Decision, Held, Moved, Request};

pub use bucket::TokenBucket;
pub use scheduler::{ClassSpec, Discipline, LaneStats, Scheduler, SchedulerConfig, Target};
