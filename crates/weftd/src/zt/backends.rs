//! Which backend a gateway tries first: the service's sidecars ordered by
//! what the path engine knows of the sites that own their addresses. A pure
//! function of the backends and a view of the sites (the agent hands in its
//! latest status every connection; tests hand in a table).
//!
//! Order: the local site's backends; then those of sites that are up, lowest
//! smoothed RTT first; then degraded sites by RTT; then addresses no known
//! site owns (configured order); then sites that are down or removed. Ties keep
//! the configured order, so an operator's "nearest first" list still breaks
//! them.

use std::net::SocketAddr;

use weft_types::IpPrefix;

/// What a gateway needs to know about one site.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteView {
    /// The overlay prefixes it serves.
    pub prefixes: Vec<IpPrefix>,
    /// Its health.
    pub health: Health,
    /// Lowest smoothed RTT over its live paths, milliseconds.
    pub rtt_ms: Option<f64>,
}

/// A site's health as the path engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// The gateway's own site.
    Local,
    /// At least one path up.
    Up,
    /// Reachable over degraded paths only.
    Degraded,
    /// No path alive, or removed by an operator.
    Down,
}

/// `backends` in the order a gateway should try them.
pub fn rank(backends: &[SocketAddr], sites: &[SiteView]) -> Vec<SocketAddr> {
    let mut keyed: Vec<((u8, u64), usize, SocketAddr)> = backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let owner = sites.iter().find(|s| s.prefixes.iter().any(|p| p.contains(b.ip())));
            let rtt = |s: &SiteView| s.rtt_ms.map_or(u64::MAX, |r| (r * 1000.0) as u64);
            let key = match owner {
                Some(s) if s.health == Health::Local => (0, 0),
                Some(s) if s.health == Health::Up => (1, rtt(s)),
                Some(s) if s.health == Health::Degraded => (2, rtt(s)),
                None => (3, 0),
                Some(_) => (4, 0),
            };
            (key, i, *b)
        })
        .collect();
    keyed.sort_by_key(|(key, i, _)| (*key, *i));
    keyed.into_iter().map(|(_, _, b)| b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(prefix: &str, health: Health, rtt_ms: Option<f64>) -> SiteView {
        SiteView { prefixes: vec![IpPrefix::parse(prefix).unwrap()], health, rtt_ms }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nearest_healthy_first_down_last_unknown_between() {
        let sites = [
            site("10.77.1.0/24", Health::Local, None),
            site("10.77.2.0/24", Health::Up, Some(30.0)),
            site("10.77.3.0/24", Health::Up, Some(5.0)),
            site("10.77.4.0/24", Health::Down, None),
            site("10.77.5.0/24", Health::Degraded, Some(1.0)),
        ];
        let backends = [
            addr("10.77.4.1:1"),
            addr("192.0.2.1:1"),
            addr("10.77.2.1:1"),
            addr("10.77.5.1:1"),
            addr("10.77.3.1:1"),
            addr("10.77.1.1:1"),
        ];
        assert_eq!(
            rank(&backends, &sites),
            [
                addr("10.77.1.1:1"),
                addr("10.77.3.1:1"),
                addr("10.77.2.1:1"),
                addr("10.77.5.1:1"),
                addr("192.0.2.1:1"),
                addr("10.77.4.1:1"),
            ]
        );
    }

    #[test]
    fn without_a_view_the_configured_order_stands() {
        let backends = [addr("10.0.0.2:1"), addr("10.0.0.1:1")];
        assert_eq!(rank(&backends, &[]), backends);
    }
}
