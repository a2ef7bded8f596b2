//! Which admitted members a site builds WireGuard tunnels to: a pure policy
//! over the certified site id, role and region of both ends.

use std::collections::BTreeSet;

use weft_types::SiteId;

use crate::identity::CertBody;

/// The role name that marks a hub in certificates.
pub const HUB_ROLE: &str = "hub";

/// How the mesh is shaped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TopologyMode {
    /// Every site peers with every other.
    #[default]
    FullMesh,
    /// Sites peer only with hubs; hubs peer with each other.
    HubAndSpoke,
    /// Hubs, plus direct tunnels between the listed critical sites.
    Hybrid {
        /// Sites that peer directly with each other.
        critical: BTreeSet<SiteId>,
    },
}

/// What the topology looks at about one end (read from its certificate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteTraits<'a> {
    /// Site id.
    pub site: &'a SiteId,
    /// Certified role (`hub` marks a hub).
    pub role: &'a str,
    /// Certified region.
    pub region: &'a str,
}

impl<'a> SiteTraits<'a> {
    /// The traits a certificate body states.
    pub fn of(body: &'a CertBody) -> Self {
        Self { site: &body.site, role: body.role.as_str(), region: body.region.as_str() }
    }

    fn is_hub(&self) -> bool {
        self.role == HUB_ROLE
    }
}

/// Whether `me` and `other` should peer under `mode`. Symmetric.
///
/// - full mesh: always;
/// - hub-and-spoke: iff either side is a hub;
/// - hybrid: both critical; or hub ↔ hub; or a hub and a non-hub of the same
///   region (which includes a critical site and the hub of its region); else no.
pub fn should_peer(mode: &TopologyMode, me: SiteTraits<'_>, other: SiteTraits<'_>) -> bool {
    match mode {
        TopologyMode::FullMesh => true,
        TopologyMode::HubAndSpoke => me.is_hub() || other.is_hub(),
        TopologyMode::Hybrid { critical } => {
            let (mc, oc) = (critical.contains(me.site), critical.contains(other.site));
            let same_region = me.region == other.region;
            (mc && oc)
                || (me.is_hub() && other.is_hub())
                || ((me.is_hub() || other.is_hub()) && same_region)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SiteId {
        SiteId::new(s).unwrap()
    }

    #[test]
    fn the_topology_table_holds_for_every_mode_and_pair() {
        let critical: BTreeSet<SiteId> = [id("c1"), id("c2")].into_iter().collect();
        let full = TopologyMode::FullMesh;
        let hs = TopologyMode::HubAndSpoke;
        let hy = TopologyMode::Hybrid { critical };
        // (a, role, region), (b, role, region), full, hub-and-spoke, hybrid
        let table = [
            (("s1", "site", "eu"), ("s2", "site", "eu"), true, false, false),
            (("s1", "site", "eu"), ("h1", "hub", "eu"), true, true, true),
            (("s1", "site", "eu"), ("h2", "hub", "us"), true, true, false),
            (("h1", "hub", "eu"), ("h2", "hub", "us"), true, true, true),
            (("c1", "site", "eu"), ("c2", "site", "us"), true, false, true),
            (("c1", "site", "eu"), ("h1", "hub", "eu"), true, true, true),
            (("c1", "site", "eu"), ("h2", "hub", "us"), true, true, false),
            (("c1", "site", "eu"), ("s1", "site", "eu"), true, false, false),
            (("c1", "hub", "eu"), ("c2", "hub", "us"), true, true, true),
        ];
        for ((a, ar, ag), (b, br, bg), want_full, want_hs, want_hy) in table {
            let (a, b) = (id(a), id(b));
            let x = SiteTraits { site: &a, role: ar, region: ag };
            let y = SiteTraits { site: &b, role: br, region: bg };
            for (mode, want) in [(&full, want_full), (&hs, want_hs), (&hy, want_hy)] {
                assert_eq!(should_peer(mode, x, y), want, "{mode:?} {x:?} {y:?}");
                assert_eq!(should_peer(mode, y, x), want, "symmetric: {mode:?} {y:?} {x:?}");
            }
        }
    }
}
