//! The minimal class mapping: protocol + destination port range → SLA class.
//!
//! Until policy files exist, a site config maps flows to the built-in SLA
//! classes with rules like `{ protocol = "udp", ports = "5060-5061", class =
//! "realtime" }`. The first matching rule wins; unmatched flows are
//! `best-effort`.

use std::ops::RangeInclusive;

use weft_types::{FlowKey, IpProtocol};

/// One mapping rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRule {
    /// Protocol to match.
    pub protocol: IpProtocol,
    /// Destination ports to match (all ports when the protocol has none).
    pub ports: RangeInclusive<u16>,
    /// Built-in class name.
    pub class: String,
}

/// The ordered rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassMap {
    /// Rules in file order.
    pub rules: Vec<ClassRule>,
}

impl ClassMap {
    /// The class of a flow: the first rule that matches, else `best-effort`.
    pub fn classify(&self, flow: &FlowKey) -> &str {
        self.rules
            .iter()
            .find(|r| {
                r.protocol == flow.protocol
                    && (!flow.protocol.has_ports() || r.ports.contains(&flow.dst_port))
            })
            .map_or("best-effort", |r| r.class.as_str())
    }
}

/// Parses `5060` or `5060-5070`.
pub(crate) fn parse_ports(s: &str) -> Option<RangeInclusive<u16>> {
    let (lo, hi) = if let Some((a, b)) = s.trim().split_once('-') {
        (a.trim().parse().ok()?, b.trim().parse().ok()?)
    } else {
        let p = s.trim().parse().ok()?;
        (p, p)
    };
    (lo <= hi).then_some(lo..=hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(proto: IpProtocol, port: u16) -> FlowKey {
        FlowKey {
            src: "10.1.0.1".parse().unwrap(),
            dst: "10.2.0.1".parse().unwrap(),
            protocol: proto,
            src_port: 40000,
            dst_port: port,
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_rest_is_best_effort() {
        let map = ClassMap {
            rules: vec![
                ClassRule {
                    protocol: IpProtocol::UDP,
                    ports: 5060..=5061,
                    class: "realtime".into(),
                },
                ClassRule { protocol: IpProtocol::UDP, ports: 0..=65535, class: "bulk".into() },
                ClassRule { protocol: IpProtocol::ICMP, ports: 0..=0, class: "interactive".into() },
            ],
        };
        assert_eq!(map.classify(&flow(IpProtocol::UDP, 5061)), "realtime");
        assert_eq!(map.classify(&flow(IpProtocol::UDP, 53)), "bulk");
        assert_eq!(map.classify(&flow(IpProtocol::ICMP, 0)), "interactive");
        assert_eq!(map.classify(&flow(IpProtocol::TCP, 22)), "best-effort");
    }

    #[test]
    fn port_ranges_parse_and_refuse_nonsense() {
        assert_eq!(parse_ports("5060"), Some(5060..=5060));
        assert_eq!(parse_ports("1000-2000"), Some(1000..=2000));
        assert_eq!(parse_ports("2000-1000"), None);
        assert_eq!(parse_ports("70000"), None);
        assert_eq!(parse_ports("a-b"), None);
    }
}
