//! Learn ranges: the on-prem ranges the mesh CA lets a site bring into the
//! mesh from its routers (BGP). A join token allows some (`weft token
//! create --learn CIDR`), the site asks for some (its `[bgp] learn`), its
//! certificate carries those granted; other sites take a prefix the site
//! learnt only when one of them covers it.
//!
//! At most [`LearnRanges::MAX`] ranges, so that a token, request or
//! certificate holding them and every other field at its largest still fits
//! one identity message.

use std::fmt;

use weft_types::IpPrefix;

use super::claims::{ClaimError, PrefixList};

/// At most [`LearnRanges::MAX`] on-prem ranges, in the order given. Empty:
/// none (the default).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LearnRanges(PrefixList);

impl LearnRanges {
    /// Most ranges in one list.
    pub const MAX: usize = 8;

    /// Makes a list; refuses more than [`LearnRanges::MAX`] ranges.
    pub fn new(ranges: Vec<IpPrefix>) -> Result<Self, ClaimError> {
        if ranges.len() > Self::MAX {
            return Err(ClaimError::TooManyPrefixes { len: ranges.len(), max: Self::MAX });
        }
        Ok(Self(PrefixList::new(ranges)?))
    }

    /// The ranges as a prefix list.
    pub fn as_list(&self) -> &PrefixList {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ranges.
    pub fn iter(&self) -> std::slice::Iter<'_, IpPrefix> {
        self.0.iter()
    }

    /// Whether one of the ranges covers `prefix`.
    pub fn covers(&self, prefix: &IpPrefix) -> bool {
        self.0.iter().any(|r| r.covers(prefix))
    }

    /// The first range of `requested` that none of these covers.
    pub fn first_not_covered<'a>(&self, requested: &'a LearnRanges) -> Option<&'a IpPrefix> {
        self.0.first_not_covered(&requested.0)
    }
}

impl<'a> IntoIterator for &'a LearnRanges {
    type Item = &'a IpPrefix;
    type IntoIter = std::slice::Iter<'a, IpPrefix>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for LearnRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learn_ranges_hold_at_most_eight_and_cover_what_lies_inside_one() {
        let p = IpPrefix::parse("10.60.0.0/16").unwrap();
        assert!(matches!(
            LearnRanges::new(vec![p; 9]),
            Err(ClaimError::TooManyPrefixes { len: 9, max: 8 })
        ));
        let r = LearnRanges::new(vec![p; 8]).unwrap();
        assert!(r.covers(&IpPrefix::parse("10.60.1.0/24").unwrap()));
        assert!(!r.covers(&IpPrefix::parse("10.61.1.0/24").unwrap()));
        assert!(!LearnRanges::default().covers(&p));
    }
}
