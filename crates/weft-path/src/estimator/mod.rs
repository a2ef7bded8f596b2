//! Path-quality estimators fed by probe echoes.
//!
//! - [`RttEstimator`]: smoothed RTT (EWMA, RFC 6298 gains), RTT variation, the
//!   minimum, and p50/p95/p99 over a window of recent samples.
//! - [`JitterEstimator`]: RFC 3550 interarrival jitter over consecutive RTTs.
//! - [`LossEstimator`]: loss over a sliding window of the last N probes.
//!
//! Each update is a handful of arithmetic operations and one ring-buffer write,
//! with no allocation, so the engine can run them on every echo.

mod jitter;
mod loss;
mod rtt;

pub use jitter::JitterEstimator;
pub use loss::LossEstimator;
pub use rtt::RttEstimator;
