//! From which sites a service's anycast prefix is announced.
//!
//! A site announces the prefix while at least one of its endpoints of the
//! service would be answered by DNS at all: healthy, of a version taking
//! traffic (the serving version, or either side of a running split with a
//! share above zero), and with weight after drains. So a drain or a
//! canary acts on anycast routes exactly as on DNS answers. As with DNS, a
//! drain never withdraws the last site with a healthy endpoint (the floor).
//! The BGP speaker that carries the decision is the hybrid-edges work; this
//! is the decision it will be wired to.

use std::collections::BTreeMap;

use weft_types::IpPrefix;

use crate::effect::Effect;
use crate::model::GlobalService;

/// One site's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The site.
    pub site: String,
    /// The service's prefix.
    pub prefix: IpPrefix,
    /// Announce (true) or withdraw.
    pub announce: bool,
    /// Why.
    pub why: String,
}

/// The decision for every site with an endpoint of `svc`; empty when it
/// has no anycast prefix. `healthy[i]` is endpoint `i`'s health.
pub fn announcements(svc: &GlobalService, eff: &Effect, healthy: &[bool]) -> Vec<Announcement> {
    let Some(prefix) = svc.anycast else { return Vec::new() };
    let takes_traffic = |v: &str| match &eff.split {
        Some(s) => {
            (v == s.next && s.next_permille > 0) || (v == s.stable && s.next_permille < 1000)
        }
        None => eff.serving.as_deref().is_none_or(|sv| sv == v),
    };
    // site -> (any healthy, any serving with weight, any healthy of a serving version)
    let mut sites: BTreeMap<&str, (bool, bool, bool)> = BTreeMap::new();
    for (i, e) in svc.endpoints.iter().enumerate() {
        let h = healthy.get(i).copied().unwrap_or(false);
        let serving = takes_traffic(&e.version);
        let w = eff.weights.get(i).copied().unwrap_or(0) > 0;
        let s = sites.entry(e.site.as_str()).or_default();
        s.0 |= h;
        s.1 |= h && serving && w;
        s.2 |= h && serving;
    }
    let any_weighted = sites.values().any(|s| s.1);
    sites
        .into_iter()
        .map(|(site, (healthy, weighted, serving))| {
            let (announce, why) = if weighted {
                (true, "a healthy endpoint takes traffic here")
            } else if !healthy {
                (false, "no healthy endpoint here")
            } else if !serving {
                (false, "its endpoints here run a version taking no traffic")
            } else if any_weighted {
                (false, "drained")
            } else {
                (true, "drain floor: the last healthy site")
            };
            Announcement { site: site.to_owned(), prefix, announce, why: why.to_owned() }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::VersionSplit;
    use crate::model::Endpoint;

    fn svc() -> GlobalService {
        let ep = |id: &str, site: &str, version: &str| Endpoint {
            id: id.into(),
            site: site.into(),
            region: "r".into(),
            address: "10.0.0.1".parse().unwrap(),
            port: 80,
            weight: 100,
            capacity_qps: 0,
            version: version.into(),
        };
        GlobalService {
            name: "app".into(),
            endpoints: vec![ep("a", "a", "v1"), ep("b", "b", "v1"), ep("c", "c", "v2")],
            ttl: None,
            serving: Some("v1".into()),
            check: None,
            anycast: Some(IpPrefix::parse("192.0.2.0/24").unwrap()),
        }
    }

    fn eff(weights: Vec<u32>) -> Effect {
        Effect {
            drained_by: vec![None; weights.len()],
            weights,
            split: None,
            serving: Some("v1".into()),
        }
    }

    fn announced(v: &[Announcement]) -> Vec<&str> {
        v.iter().filter(|a| a.announce).map(|a| a.site.as_str()).collect()
    }

    #[test]
    fn healthy_serving_sites_announce_and_others_withdraw() {
        let s = svc();
        assert_eq!(
            announced(&announcements(&s, &eff(vec![1, 1, 1]), &[true, true, true])),
            ["a", "b"]
        );
        assert_eq!(announced(&announcements(&s, &eff(vec![1, 1, 1]), &[false, true, true])), ["b"]);
    }

    #[test]
    fn a_drained_site_withdraws_but_the_last_healthy_one_stays() {
        let s = svc();
        assert_eq!(announced(&announcements(&s, &eff(vec![0, 1, 1]), &[true, true, true])), ["b"]);
        let v = announcements(&s, &eff(vec![0, 1, 1]), &[true, false, false]);
        assert_eq!(announced(&v), ["a"]);
        assert!(v[0].why.contains("floor"));
    }

    #[test]
    fn a_canary_announces_from_its_sites_while_it_has_a_share() {
        let s = svc();
        let mut e = eff(vec![1, 1, 1]);
        e.split = Some(VersionSplit {
            stable: "v1".into(),
            next: "v2".into(),
            next_permille: 50,
            shift: "s1".into(),
        });
        assert_eq!(announced(&announcements(&s, &e, &[true, true, true])), ["a", "b", "c"]);
        e.split = None;
        assert_eq!(announced(&announcements(&s, &e, &[true, true, true])), ["a", "b"]);
    }
}
