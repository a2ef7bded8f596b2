//! Identifiers.
//!
//! [`SiteId`] is the human, mesh-wide name of a site (`paris-dc1`). The other ids
//! are small local handles that one agent allocates for its own tables: they are
//! cheap to copy and compare on the hot path and mean nothing to another agent.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a [`SiteId`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The name was empty.
    #[error("site name is empty")]
    Empty,
    /// The name was longer than [`SiteId::MAX_LEN`] bytes.
    #[error("site name is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Length of the offered name.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The name contained a character outside `a-z`, `0-9`, `-`, or started or
    /// ended with `-`.
    #[error(
        "site name {name:?} is invalid at byte {at}: use lowercase letters, digits and '-', not at either end"
    )]
    BadChar {
        /// The offered name.
        name: String,
        /// Byte offset of the first offending character.
        at: usize,
    },
}

/// The mesh-wide name of a site: 1–63 bytes of `a-z`, `0-9` and `-`, not starting
/// or ending with `-` (a DNS label, so it can name DNS records later).
///
/// Cloning is cheap (reference counted).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteId(Arc<str>);

impl SiteId {
    /// Longest accepted name, in bytes.
    pub const MAX_LEN: usize = 63;

    /// Validates `name` and makes a site id of it.
    pub fn new(name: &str) -> Result<Self, IdError> {
        if name.is_empty() {
            return Err(IdError::Empty);
        }
        if name.len() > Self::MAX_LEN {
            return Err(IdError::TooLong { len: name.len(), max: Self::MAX_LEN });
        }
        let last = name.len() - 1;
        for (at, b) in name.bytes().enumerate() {
            let ok = b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || (b == b'-' && at != 0 && at != last);
            if !ok {
                return Err(IdError::BadChar { name: name.to_owned(), at });
            }
        }
        Ok(Self(Arc::from(name)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SiteId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<SiteId> for String {
    fn from(value: SiteId) -> Self {
        value.0.to_string()
    }
}

impl std::str::FromStr for SiteId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SiteId({})", &self.0)
    }
}

macro_rules! local_handle {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

local_handle!(
    /// One agent's handle for a remote peer (a site it has a WireGuard session with).
    PeerId(u32),
    "peer#"
);
local_handle!(
    /// One agent's handle for one of its own uplinks (an underlay interface/socket).
    UplinkId(u16),
    "uplink#"
);
local_handle!(
    /// One agent's handle for one path: a (local uplink, remote endpoint) pair to a peer.
    PathId(u32),
    "path#"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_follow_dns_label_rules() {
        assert!(SiteId::new("paris-dc1").is_ok());
        assert!(SiteId::new("a").is_ok());
        assert_eq!(SiteId::new(""), Err(IdError::Empty));
        assert!(matches!(SiteId::new("-a"), Err(IdError::BadChar { at: 0, .. })));
        assert!(matches!(SiteId::new("a-"), Err(IdError::BadChar { at: 1, .. })));
        assert!(matches!(SiteId::new("Paris"), Err(IdError::BadChar { at: 0, .. })));
        assert!(matches!(SiteId::new("a_b"), Err(IdError::BadChar { at: 1, .. })));
        assert!(matches!(SiteId::new(&"a".repeat(64)), Err(IdError::TooLong { len: 64, .. })));
    }

    #[test]
    fn site_id_converts_to_and_from_strings_and_refuses_bad_names() {
        let id: SiteId = "lon-1".parse().unwrap();
        assert_eq!(String::from(id.clone()), "lon-1");
        assert_eq!(SiteId::try_from("lon-1".to_owned()).unwrap(), id);
        assert!(SiteId::try_from("LON".to_owned()).is_err());
    }

    #[test]
    fn handles_display_with_their_kind() {
        assert_eq!(PathId(7).to_string(), "path#7");
        assert_eq!(format!("{:?}", PeerId(3)), "peer#3");
    }
}
