//! Controllers as the assignment sees them, and the assignment's settings.

use serde::{Deserialize, Serialize};

use crate::error::ShardError;
use crate::id::ControllerId;

/// Whether a controller may own shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Healthy and accepting shards.
    Active,
    /// Being taken out of service by an operator: owns nothing.
    Draining,
    /// Failed its health checks for longer than the rebalancer's grace period:
    /// owns nothing.
    Unhealthy,
}

/// One controller: its id, its capacity weight and its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    /// The controller's name.
    pub id: ControllerId,
    /// Relative capacity: a controller of weight 2 gets about twice the shards
    /// of one of weight 1, and twice the load bound. Must be at least 1.
    pub weight: u32,
    /// Only [`Status::Active`] controllers own shards.
    pub status: Status,
}

impl Controller {
    /// An active controller of weight 1.
    pub fn active(id: ControllerId) -> Self {
        Self { id, weight: 1, status: Status::Active }
    }

    /// Whether this controller may own shards.
    pub fn is_eligible(&self) -> bool {
        self.status == Status::Active
    }
}

/// The load bound: no controller owns more than
/// `ceil(factor × shards × weight / total weight)` shards, `factor` in
/// thousandths (1250 = 1.25, the default).
///
/// A factor of exactly 1000 forces a near-perfect balance at the cost of more
/// moves when controllers come and go; larger factors move fewer shards and
/// balance less (see the crate documentation for figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct LoadBound(u32);

impl LoadBound {
    /// The default factor: 1.25.
    pub const DEFAULT_PERMILLE: u32 = 1250;
    /// The largest accepted factor: 100 (the bound no longer binds long before).
    pub const MAX_PERMILLE: u32 = 100_000;

    /// A load bound of `permille` thousandths; refused below 1000 (no
    /// assignment could keep it) or above [`Self::MAX_PERMILLE`].
    pub fn new(permille: u32) -> Result<Self, ShardError> {
        if (1000..=Self::MAX_PERMILLE).contains(&permille) {
            Ok(Self(permille))
        } else {
            Err(ShardError::BadLoadFactor(permille))
        }
    }

    /// The factor in thousandths.
    pub fn permille(self) -> u32 {
        self.0
    }

    /// The most shards a controller of `weight` may own out of `shards`, when
    /// the eligible controllers weigh `total_weight` together.
    pub fn cap(self, shards: usize, weight: u32, total_weight: u64) -> usize {
        let num = u128::from(self.0) * shards as u128 * u128::from(weight);
        let den = 1000 * u128::from(total_weight.max(1));
        num.div_ceil(den) as usize
    }
}

impl Default for LoadBound {
    fn default() -> Self {
        Self(Self::DEFAULT_PERMILLE)
    }
}

impl TryFrom<u32> for LoadBound {
    type Error = ShardError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<LoadBound> for u32 {
    fn from(value: LoadBound) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_the_ceiling_of_the_weighted_share() {
        let b = LoadBound::default();
        // 1.25 × 1024 / 3 = 426.67
        assert_eq!(b.cap(1024, 1, 3), 427);
        // twice the weight, twice the share: 853.33
        assert_eq!(b.cap(1024, 2, 3), 854);
        assert_eq!(LoadBound::new(1000).unwrap().cap(10, 1, 4), 3);
        assert_eq!(b.cap(0, 1, 3), 0);
    }

    #[test]
    fn factors_below_one_are_refused() {
        assert_eq!(LoadBound::new(999), Err(ShardError::BadLoadFactor(999)));
        assert!(LoadBound::new(1000).is_ok());
        assert!(serde_json::from_str::<LoadBound>("10").is_err());
    }
}
