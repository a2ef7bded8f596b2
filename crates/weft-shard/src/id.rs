//! Shard and controller identifiers.

use std::fmt;

use serde::{Deserialize, Serialize};
use weft_types::{IdError, SiteId};

use crate::hash::fnv1a64;

/// One shard of per-service work (a health-checking partition, a registry
/// partition). Shards are numbered; [`ShardId::from_name`] maps a named shard
/// to a number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShardId(pub u32);

impl ShardId {
    /// The shards `0..count`.
    pub fn range(count: u32) -> Vec<ShardId> {
        (0..count).map(ShardId).collect()
    }

    /// A stable number for a named shard (the low 32 bits of its FNV-1a hash).
    ///
    /// Two names can collide; [`assign`](crate::assign) refuses duplicate
    /// shard ids, so a collision is reported, never silently merged.
    pub fn from_name(name: &str) -> ShardId {
        ShardId(fnv1a64(name.as_bytes()) as u32)
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard-{}", self.0)
    }
}

impl fmt::Debug for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShardId({})", self.0)
    }
}

/// The name of a controller: the name of the site that runs it, with the same
/// rules as [`SiteId`] (1–63 bytes of `a-z`, `0-9`, `-`).
///
/// Ordered by name; the assignment hashes the name, so a controller keeps its
/// shards across restarts and address changes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ControllerId(SiteId);

impl ControllerId {
    /// Validates `name` and makes a controller id of it.
    pub fn new(name: &str) -> Result<Self, IdError> {
        SiteId::new(name).map(Self)
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The site that runs this controller.
    pub fn site(&self) -> &SiteId {
        &self.0
    }
}

impl From<SiteId> for ControllerId {
    fn from(site: SiteId) -> Self {
        Self(site)
    }
}

impl std::str::FromStr for ControllerId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for ControllerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ControllerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ControllerId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_ids_follow_site_name_rules() {
        assert!(ControllerId::new("ctl-1").is_ok());
        assert!(ControllerId::new("").is_err());
        assert!(ControllerId::new("Ctl").is_err());
    }

    #[test]
    fn controller_ids_serialise_as_plain_strings() {
        let id = ControllerId::new("ctl-a").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"ctl-a\"");
        let back: ControllerId = serde_json::from_str("\"ctl-a\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ControllerId>("\"-bad\"").is_err());
    }

    #[test]
    fn named_shards_get_stable_numbers() {
        assert_eq!(ShardId::from_name("registry/eu"), ShardId::from_name("registry/eu"));
        assert_ne!(ShardId::from_name("registry/eu"), ShardId::from_name("registry/us"));
    }
}
