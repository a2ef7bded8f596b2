//! A client's `AllowedIPs` narrowed by the running policy: of the prefixes
//! a site would offer a client (its own, those it reaches), only the parts
//! the policy lets the client's address reach with at least one protocol
//! and port. The site's policy gate enforces the same policy on what the
//! client sends (`agent::rx`); this makes the client's configuration say
//! what it can reach instead of routing denied traffic into the tunnel.
//!
//! Exact for first-match segmentation: the box {client address} × prefix ×
//! every protocol, port and DSCP is cut by each ACL's boxes in precedence
//! order; the pieces an allow rule takes, and those no rule takes when the
//! default is allow, are reachable. The result is the union of their
//! destination ranges as CIDR prefixes.

use std::net::IpAddr;

use weft_policy::partition::subtract;
use weft_policy::space::{addr_value, prefix_span, value_addr};
use weft_policy::{Action, CompiledPolicy, FlowBox, Span};
use weft_types::IpPrefix;

/// Most pieces the cut may hold; past it the prefix is kept whole (the gate
/// still enforces the policy on every packet).
const MAX_PIECES: usize = 20_000;

/// The parts of `prefixes` that `client` may reach under `policy`, each
/// prefix's parts in address order.
pub(crate) fn narrow(
    policy: &CompiledPolicy,
    client: IpAddr,
    prefixes: &[IpPrefix],
) -> Vec<IpPrefix> {
    let mut out: Vec<IpPrefix> = Vec::new();
    for p in prefixes {
        let parts = reachable(policy, client, p).unwrap_or_else(|| vec![*p]);
        for q in parts {
            if !out.contains(&q) {
                out.push(q);
            }
        }
    }
    out
}

/// The reachable parts of one prefix; `None` past [`MAX_PIECES`].
fn reachable(policy: &CompiledPolicy, client: IpAddr, prefix: &IpPrefix) -> Option<Vec<IpPrefix>> {
    let (family, dst) = prefix_span(prefix);
    let (_, src) = addr_value(client);
    let start = FlowBox { family: Span::one(family), src: Span::one(src), dst, ..FlowBox::ALL };
    let mut remaining = vec![start];
    let mut allowed: Vec<Span<u128>> = Vec::new();
    for (pos, boxes) in policy.acls.boxes.iter().enumerate() {
        let action = policy.document.acls[policy.acls.rule_at(pos)].action;
        for b in boxes {
            let mut next = Vec::with_capacity(remaining.len());
            for r in &remaining {
                match r.intersect(b) {
                    Some(hit) => {
                        if action == Action::Allow {
                            allowed.push(hit.dst);
                        }
                        next.extend(subtract(r, b));
                    }
                    None => next.push(*r),
                }
            }
            remaining = next;
            if remaining.len() > MAX_PIECES {
                return None;
            }
        }
        if remaining.is_empty() {
            break;
        }
    }
    if policy.document.default_action == Action::Allow {
        allowed.extend(remaining.iter().map(|r| r.dst));
    }
    Some(to_prefixes(family, merge(allowed)))
}

/// Sorted, overlapping or adjacent ranges joined.
fn merge(mut spans: Vec<Span<u128>>) -> Vec<Span<u128>> {
    spans.sort_by_key(|s| (s.lo, s.hi));
    let mut out: Vec<Span<u128>> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if s.lo <= last.hi.saturating_add(1) => last.hi = last.hi.max(s.hi),
            _ => out.push(s),
        }
    }
    out
}

/// Each range as the fewest CIDR prefixes covering exactly it.
fn to_prefixes(family: u8, spans: Vec<Span<u128>>) -> Vec<IpPrefix> {
    let bits: u32 = if family == weft_policy::space::FAMILY_V4 { 32 } else { 128 };
    let mut out = Vec::new();
    for s in spans {
        let mut lo = s.lo;
        loop {
            // The largest aligned block at `lo` that stays within the range.
            let block = |k: u32| if k >= 128 { u128::MAX } else { (1u128 << k) - 1 };
            let mut k = lo.trailing_zeros().min(bits);
            while k > 0 && lo.checked_add(block(k)).is_none_or(|end| end > s.hi) {
                k -= 1;
            }
            let len = u8::try_from(bits - k).unwrap_or(0);
            if let Ok(p) = IpPrefix::new(value_addr(family, lo), len) {
                out.push(p);
            }
            let size_minus_one = block(k);
            match lo.checked_add(size_minus_one).filter(|end| *end < s.hi) {
                Some(end) => lo = end + 1,
                None => break,
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IpPrefix {
        IpPrefix::parse(s).unwrap()
    }

    fn policy(text: &str) -> CompiledPolicy {
        let doc = weft_policy::parse(std::path::Path::new("test.toml"), text).unwrap();
        let dir = weft_policy::SiteDirectory::from_document(&doc);
        weft_policy::compile(&doc, &dir).unwrap().0
    }

    fn narrowed(text: &str, prefixes: &[&str]) -> Vec<String> {
        let prefixes: Vec<IpPrefix> = prefixes.iter().map(|s| p(s)).collect();
        narrow(&policy(text), "100.96.0.7".parse().unwrap(), &prefixes)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_deny_on_part_of_a_prefix_leaves_the_rest_and_a_denied_prefix_goes() {
        let text = r#"
[policy]
name = "t"
default = "allow"

[[acl]]
name = "no-upper-half"
action = "deny"
from = "100.96.0.0/16"
to = "10.77.1.128/25"

[[acl]]
name = "not-b"
action = "deny"
from = "100.96.0.0/16"
to = "10.77.2.0/24"
"#;
        assert_eq!(
            narrowed(text, &["10.77.1.0/24", "10.77.2.0/24", "10.77.3.0/24"]),
            ["10.77.1.0/25", "10.77.3.0/24"]
        );
    }

    #[test]
    fn under_default_deny_only_what_an_allow_rule_opens_and_one_port_is_enough() {
        let text = r#"
[policy]
name = "t"
default = "deny"

[[acl]]
name = "ssh-to-one-host"
action = "allow"
from = "100.96.0.0/16"
to = "10.77.1.10"
protocol = "tcp"
ports = [22]

[[acl]]
name = "others-not"
action = "allow"
from = "100.97.0.0/16"
to = "10.77.2.0/24"
"#;
        assert_eq!(narrowed(text, &["10.77.1.0/24", "10.77.2.0/24"]), ["10.77.1.10/32"]);
    }

    #[test]
    fn precedence_decides_and_a_policy_allowing_everything_changes_nothing() {
        let deny_first = r#"
[policy]
name = "t"
default = "allow"

[[acl]]
name = "allow-b"
action = "allow"
priority = 200
from = "100.96.0.0/16"
to = "10.77.2.0/24"

[[acl]]
name = "deny-b"
action = "deny"
priority = 100
from = "100.96.0.0/16"
to = "10.77.2.0/24"
"#;
        assert_eq!(narrowed(deny_first, &["10.77.2.0/24"]), Vec::<String>::new());
        let open = "[policy]\nname = \"t\"\ndefault = \"allow\"\n";
        assert_eq!(
            narrowed(open, &["10.77.1.0/24", "10.77.2.0/24"]),
            ["10.77.1.0/24", "10.77.2.0/24"]
        );
    }

    #[test]
    fn ranges_become_the_fewest_prefixes() {
        let v4 = weft_policy::space::FAMILY_V4;
        let span = |lo: u32, hi: u32| Span { lo: u128::from(lo), hi: u128::from(hi) };
        let base = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0));
        let got: Vec<String> =
            to_prefixes(v4, merge(vec![span(base + 1, base + 6), span(base + 7, base + 7)]))
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(got, ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30"]);
        let all: Vec<String> =
            to_prefixes(v4, vec![span(0, u32::MAX)]).iter().map(ToString::to_string).collect();
        assert_eq!(all, ["0.0.0.0/0"]);
    }
}
