//! Errors, grouped by who is at fault.
//!
//! [`LsdbError`] is returned by the link-state database when an update is
//! refused: the offered data was invalid (bad metrics, a self-loop) or referred
//! to something the database does not hold. Every refused update leaves the
//! database exactly as it was (no version bump, no change event).
//!
//! [`RouteError`] is returned by the [`Router`](crate::Router) when a query is
//! malformed (unknown site, bad parameters). Queries never change topology
//! state; a refused query does not touch the cache either.

use weft_types::SiteId;

/// Why the link-state database refused an update. The database is unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LsdbError {
    // -- The update refers to something that does not exist. --
    /// The named site is not in the database (add it with `upsert_site` first).
    #[error("site {0} is not in the link-state database")]
    UnknownSite(SiteId),
    /// No link from `from` to `to` is in the database.
    #[error("no link {from} -> {to} in the link-state database")]
    UnknownLink {
        /// Tail of the link.
        from: SiteId,
        /// Head of the link.
        to: SiteId,
    },

    // -- The offered data is invalid. --
    /// A link from a site to itself.
    #[error("link {0} -> {0} is a self-loop")]
    SelfLoop(SiteId),
    /// A fractional metric (loss, utilisation) was NaN, infinite, negative or
    /// above 1.
    #[error("link metric {field} = {value} is invalid: expected a fraction in [0, 1]")]
    BadFraction {
        /// Which metric (`"loss"` or `"utilisation"`).
        field: &'static str,
        /// The offered value.
        value: f64,
    },
    /// A delay metric (latency, jitter) was above
    /// [`LinkMetrics::MAX_DELAY`](crate::LinkMetrics::MAX_DELAY); such values
    /// are measurement garbage and would risk overflowing path sums.
    #[error("link metric {field} = {value_ms} ms is above the {max_ms} ms limit")]
    DelayTooLarge {
        /// Which metric (`"latency"` or `"jitter"`).
        field: &'static str,
        /// The offered value, in milliseconds.
        value_ms: u128,
        /// The limit, in milliseconds.
        max_ms: u128,
    },
    /// The administrative cost was zero; costs must be at least 1 so that
    /// shortest paths are loop-free and disjoint-path search is exact.
    #[error("link cost must be at least 1")]
    ZeroCost,
}

/// Why the [`Router`](crate::Router) refused a query. Nothing was changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The named site is not in the current topology.
    #[error("site {0} is not in the topology")]
    UnknownSite(SiteId),
    /// The number of disjoint paths asked for was 0 or above
    /// [`MAX_DISJOINT_PATHS`](crate::MAX_DISJOINT_PATHS).
    #[error("asked for {asked} disjoint paths; between 1 and {max} are supported")]
    BadPathCount {
        /// The number asked for.
        asked: usize,
        /// The supported maximum.
        max: usize,
    },
    /// A blend weight was NaN, infinite or negative.
    #[error("blend weight {name} = {value} is invalid: expected a finite value >= 0")]
    BadWeight {
        /// Which weight.
        name: &'static str,
        /// The offered value.
        value: f64,
    },
    /// An ECMP tolerance was NaN, infinite or negative.
    #[error("ECMP tolerance {0} is invalid: expected a finite fraction >= 0")]
    BadTolerance(f64),
}
