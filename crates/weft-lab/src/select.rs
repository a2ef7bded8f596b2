//! Naming a site or an uplink: by index or by name, and `SITE:UPLINK` references.

use std::fmt;
use std::str::FromStr;

use crate::error::{LabError, Result};
use crate::state::{LabState, SiteState};

/// A site, by index (from 0) or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteSel {
    /// The site's index.
    Index(usize),
    /// The site's name; a string of digits that names no site is taken as an index.
    Name(String),
}

/// An uplink of a site, by index (from 0) or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UplinkSel {
    /// The uplink's index.
    Index(usize),
    /// The uplink's name (`u0`, `lte`); a string of digits naming none is an index.
    Name(String),
}

macro_rules! sel_from {
    ($t:ident) => {
        impl From<usize> for $t {
            fn from(i: usize) -> Self {
                Self::Index(i)
            }
        }
        impl From<&str> for $t {
            fn from(s: &str) -> Self {
                Self::Name(s.to_owned())
            }
        }
        impl From<String> for $t {
            fn from(s: String) -> Self {
                Self::Name(s)
            }
        }
        impl From<&String> for $t {
            fn from(s: &String) -> Self {
                Self::Name(s.clone())
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::Index(i) => write!(f, "{i}"),
                    Self::Name(n) => f.write_str(n),
                }
            }
        }
    };
}
sel_from!(SiteSel);
sel_from!(UplinkSel);

/// Finds a site's index.
pub(crate) fn site_index(state: &LabState, sel: &SiteSel) -> Result<usize> {
    let found = match sel {
        SiteSel::Index(i) => (*i < state.sites.len()).then_some(*i),
        SiteSel::Name(n) => state
            .sites
            .iter()
            .position(|s| &s.name == n)
            .or_else(|| n.parse::<usize>().ok().filter(|i| *i < state.sites.len())),
    };
    found.ok_or_else(|| LabError::UnknownSite {
        site: sel.to_string(),
        known: state.sites.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
    })
}

/// Finds an uplink's index within a site.
pub(crate) fn uplink_index(site: &SiteState, sel: &UplinkSel) -> Result<usize> {
    let count = site.uplinks.len();
    let index = match sel {
        UplinkSel::Index(i) => *i,
        UplinkSel::Name(n) => match site.uplinks.iter().position(|u| &u.name == n) {
            Some(i) => i,
            None => n.parse::<usize>().map_err(|_| LabError::UnknownUplink {
                site: site.name.clone(),
                uplink: n.clone(),
                known: site.uplinks.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", "),
            })?,
        },
    };
    if index >= count {
        return Err(LabError::UplinkOutOfRange { site: site.name.clone(), index, count });
    }
    Ok(index)
}

/// A `SITE:UPLINK` reference as typed on the command line (`a:0`, `paris:lte`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRef {
    /// The site part.
    pub site: SiteSel,
    /// The uplink part.
    pub uplink: UplinkSel,
}

impl FromStr for LinkRef {
    type Err = LabError;
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once(':') {
            Some((site, uplink))
                if !site.is_empty() && !uplink.is_empty() && !uplink.contains(':') =>
            {
                Ok(Self { site: site.into(), uplink: uplink.into() })
            }
            _ => Err(LabError::InvalidLinkRef(s.to_owned())),
        }
    }
}

impl fmt::Display for LinkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.site, self.uplink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netsetup::plan;
    use crate::topology::Topology;

    fn state() -> LabState {
        plan("t", &Topology::uniform(3, 2).unwrap())
    }

    #[test]
    fn sites_are_found_by_name_or_index() {
        let st = state();
        assert_eq!(site_index(&st, &"b".into()).unwrap(), 1);
        assert_eq!(site_index(&st, &2.into()).unwrap(), 2);
        assert_eq!(site_index(&st, &"2".into()).unwrap(), 2);
        let err = site_index(&st, &"zz".into()).unwrap_err();
        assert_eq!(err.to_string(), "unknown site \"zz\"; the lab's sites are a, b, c");
        assert!(matches!(site_index(&st, &3.into()), Err(LabError::UnknownSite { .. })));
    }

    #[test]
    fn uplinks_out_of_range_say_how_many_there_are() {
        let st = state();
        let site = &st.sites[0];
        assert_eq!(uplink_index(site, &"u1".into()).unwrap(), 1);
        assert_eq!(uplink_index(site, &"0".into()).unwrap(), 0);
        let err = uplink_index(site, &2.into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "uplink 2 is out of range: site \"a\" has 2 uplink(s), indexed from 0"
        );
        assert!(matches!(uplink_index(site, &"lte".into()), Err(LabError::UnknownUplink { .. })));
    }

    #[test]
    fn link_refs_parse_site_colon_uplink() {
        let r: LinkRef = "a:1".parse().unwrap();
        assert_eq!(r, LinkRef { site: "a".into(), uplink: "1".into() });
        for bad in ["a", "a:", ":1", "a:1:2", ""] {
            assert!(bad.parse::<LinkRef>().is_err(), "{bad}");
        }
    }
}
