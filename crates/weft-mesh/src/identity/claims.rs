//! What a token or certificate says about a site besides its id: its role,
//! its region, and the overlay prefixes it may announce. Both types are
//! bounded when made, so every message that carries them stays encodable.

use std::fmt;

use serde::{Deserialize, Serialize};
use weft_types::IpPrefix;

/// Why a [`Label`] or [`PrefixList`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// The label is longer than [`Label::MAX_LEN`] bytes.
    #[error("label is {len} bytes long; the limit is {max}")]
    LabelTooLong {
        /// Length offered.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The label holds a control character.
    #[error("label {0:?} holds a control character")]
    LabelControlChar(String),
    /// The list holds more than [`PrefixList::MAX`] prefixes.
    #[error("{len} prefixes; the limit is {max}")]
    TooManyPrefixes {
        /// Length offered.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A short free-form name such as a role (`site`, `seed`) or a region
/// (`eu-west`): at most 255 bytes of UTF-8 without control characters. It may
/// be empty (no region).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// Longest label, in bytes.
    pub const MAX_LEN: usize = 255;

    /// Validates `s` and makes a label of it.
    pub fn new(s: &str) -> Result<Self, ClaimError> {
        if s.len() > Self::MAX_LEN {
            return Err(ClaimError::LabelTooLong { len: s.len(), max: Self::MAX_LEN });
        }
        if s.chars().any(char::is_control) {
            return Err(ClaimError::LabelControlChar(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Label {
    type Error = ClaimError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Label> for String {
    fn from(value: Label) -> Self {
        value.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// At most [`PrefixList::MAX`] overlay prefixes, in the order given.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<IpPrefix>", into = "Vec<IpPrefix>")]
pub struct PrefixList(Vec<IpPrefix>);

impl PrefixList {
    /// Most prefixes in one list.
    pub const MAX: usize = 64;

    /// Makes a list; refuses more than [`PrefixList::MAX`] prefixes.
    pub fn new(prefixes: Vec<IpPrefix>) -> Result<Self, ClaimError> {
        if prefixes.len() > Self::MAX {
            return Err(ClaimError::TooManyPrefixes { len: prefixes.len(), max: Self::MAX });
        }
        Ok(Self(prefixes))
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The prefixes.
    pub fn iter(&self) -> std::slice::Iter<'_, IpPrefix> {
        self.0.iter()
    }

    /// The prefixes as a slice.
    pub fn as_slice(&self) -> &[IpPrefix] {
        &self.0
    }

    /// The first prefix of `requested` that no prefix of `self` covers.
    pub fn first_not_covered<'a>(&self, requested: &'a PrefixList) -> Option<&'a IpPrefix> {
        requested.iter().find(|r| !self.0.iter().any(|a| a.covers(r)))
    }
}

impl<'a> IntoIterator for &'a PrefixList {
    type Item = &'a IpPrefix;
    type IntoIter = std::slice::Iter<'a, IpPrefix>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl TryFrom<Vec<IpPrefix>> for PrefixList {
    type Error = ClaimError;
    fn try_from(value: Vec<IpPrefix>) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<PrefixList> for Vec<IpPrefix> {
    fn from(value: PrefixList) -> Self {
        value.0
    }
}

impl fmt::Debug for PrefixList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> PrefixList {
        PrefixList::new(items.iter().map(|s| IpPrefix::parse(s).unwrap()).collect()).unwrap()
    }

    #[test]
    fn labels_are_bounded_and_free_of_control_characters() {
        assert_eq!(Label::new("eu-west").unwrap().as_str(), "eu-west");
        assert!(Label::new("").is_ok());
        assert!(Label::new(&"x".repeat(255)).is_ok());
        assert!(matches!(Label::new(&"x".repeat(256)), Err(ClaimError::LabelTooLong { .. })));
        assert!(matches!(Label::new("a\nb"), Err(ClaimError::LabelControlChar(_))));
    }

    #[test]
    fn prefix_lists_hold_at_most_sixty_four_prefixes() {
        let p = IpPrefix::parse("10.0.0.0/8").unwrap();
        assert!(PrefixList::new(vec![p; 64]).is_ok());
        assert!(matches!(
            PrefixList::new(vec![p; 65]),
            Err(ClaimError::TooManyPrefixes { len: 65, max: 64 })
        ));
    }

    #[test]
    fn a_request_is_covered_only_when_every_prefix_lies_in_an_allowed_one() {
        let allowed = list(&["10.1.0.0/16", "fd00:1::/48"]);
        assert_eq!(allowed.first_not_covered(&list(&["10.1.2.0/24", "fd00:1:0:2::/64"])), None);
        let wide = list(&["10.1.2.0/24", "10.0.0.0/8"]);
        assert_eq!(allowed.first_not_covered(&wide).unwrap().to_string(), "10.0.0.0/8");
    }
}
