//! A naive evaluator of what a document *means*, written from the rules in
//! the docs rather than from the compiler: ACLs sorted by priority with deny
//! first at equal priority, every member list checked address by address.
//! The randomised test compares it with the compiled classifier.

// Test-only generator code: building TOML text with push_str(&format!()) reads best.
#![allow(clippy::format_push_string)]

use proptest::prelude::*;
use weft_types::{IpPrefix, IpProtocol};

use crate::model::{AclRule, Action, Member, RouteRule};
use crate::space::{FlowPoint, value_addr};
use crate::{CompiledPolicy, Document};

fn member_has(doc: &Document, m: &Member, ip: std::net::IpAddr, depth: usize) -> bool {
    if depth > 16 {
        return false;
    }
    match m {
        Member::Any => true,
        Member::Prefix(p) => p.contains(ip),
        Member::Site(s) => {
            doc.sites.get(s).is_some_and(|i| i.prefixes.iter().any(|p| p.contains(ip)))
        }
        Member::Role(r) => doc
            .sites
            .values()
            .any(|i| i.role.as_ref() == Some(r) && i.prefixes.iter().any(|p| p.contains(ip))),
        Member::Region(r) => doc
            .sites
            .values()
            .any(|i| i.region.as_ref() == Some(r) && i.prefixes.iter().any(|p| p.contains(ip))),
        Member::Group(g) => doc
            .groups
            .get(g)
            .is_some_and(|(ms, _)| ms.iter().any(|x| member_has(doc, x, ip, depth + 1))),
        Member::Segment(g) => doc
            .segments
            .iter()
            .filter(|s| &s.name == g)
            .any(|s| s.members.iter().any(|x| member_has(doc, x, ip, depth + 1))),
    }
}

fn matcher_has(doc: &Document, m: &crate::model::Matcher, f: &FlowPoint) -> bool {
    let (src, dst) = (value_addr(f.family, f.src), value_addr(f.family, f.dst));
    let list = |l: &[Member], ip| l.is_empty() || l.iter().any(|x| member_has(doc, x, ip, 0));
    let spans8 = |l: &[crate::space::Span<u8>], v| l.is_empty() || l.iter().any(|s| s.contains(v));
    let spans16 =
        |l: &[crate::space::Span<u16>], v| l.is_empty() || l.iter().any(|s| s.contains(v));
    list(&m.from, src)
        && list(&m.to, dst)
        && spans8(&m.protocols, f.protocol)
        && spans16(&m.ports, f.dst_port)
        && spans16(&m.src_ports, f.src_port)
        && spans8(&m.dscp, f.dscp)
}

fn rule_has(doc: &Document, r: &crate::model::RuleMatch, f: &FlowPoint) -> bool {
    if !matcher_has(doc, &r.inline, f) {
        return false;
    }
    r.apps.is_empty()
        || r.apps.iter().any(|a| doc.apps.get(a).is_some_and(|(m, _)| matcher_has(doc, m, f)))
}

/// (verdict, deciding ACL name, route name) by reading the document directly.
pub(crate) fn evaluate(doc: &Document, f: &FlowPoint) -> (Action, String, String) {
    let mut acls: Vec<&AclRule> = doc.acls.iter().collect();
    acls.sort_by_key(|a| (a.priority, a.action != Action::Deny));
    let (action, acl) = acls
        .iter()
        .find(|a| rule_has(doc, &a.matches, f))
        .map_or((doc.default_action, "default".to_owned()), |a| (a.action, a.name.clone()));
    let mut routes: Vec<&RouteRule> = doc.routes.iter().collect();
    routes.sort_by_key(|r| r.priority);
    let route = routes
        .iter()
        .find(|r| rule_has(doc, &r.matches, f))
        .map_or("default".to_owned(), |r| r.name.clone());
    (action, acl, route)
}

fn compiled_view(p: &CompiledPolicy, f: &FlowPoint) -> (Action, String, String) {
    let c = p.classify(f);
    (c.action, p.acl_name(&c).to_owned(), p.route_name(&c).to_owned())
}

const PREFIXES: [&str; 10] = [
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.3/32",
    "0.0.0.0/0",
    "192.168.0.0/16",
    "fd00::/8",
    "fd00:1::/32",
    "::/0",
    "fd00:1::5/128",
];
const ADDRS: [&str; 10] = [
    "10.1.2.3",
    "10.1.2.4",
    "10.1.255.255",
    "10.2.0.0",
    "192.168.1.1",
    "8.8.8.8",
    "fd00:1::5",
    "fd00:1::6",
    "fd00:2::1",
    "2001:db8::1",
];

fn member_text(i: usize) -> String {
    match i {
        0..=9 => PREFIXES[i].to_owned(),
        10 => "group:g1".to_owned(),
        11 => "group:g2".to_owned(),
        12 => "site:s1".to_owned(),
        13 => "role:branch".to_owned(),
        14 => "segment:seg".to_owned(),
        _ => "any".to_owned(),
    }
}

fn list(items: &[usize], f: impl Fn(usize) -> String) -> String {
    let v: Vec<String> = items.iter().map(|i| format!("\"{}\"", f(*i))).collect();
    format!("[{}]", v.join(", "))
}

/// (deny, priority slot, from, to, protocols, port ranges, app) of one generated rule.
type RawRule = (bool, usize, Vec<usize>, Vec<usize>, Vec<usize>, Vec<(u16, u16)>, usize);

/// A random but valid policy document.
fn document() -> impl Strategy<Value = String> {
    let rule = (
        any::<bool>(),
        0usize..4,
        proptest::collection::vec(0usize..16, 0..3),
        proptest::collection::vec(0usize..16, 0..3),
        proptest::collection::vec(0usize..4, 0..3),
        proptest::collection::vec((0u16..70, 0u16..30), 0..3),
        0usize..3,
    );
    (any::<bool>(), proptest::collection::vec(rule.clone(), 0..10), proptest::collection::vec(rule, 0..6))
        .prop_map(|(default_allow, acls, routes)| {
            let mut s = format!(
                "[policy]\nname = \"r\"\ndefault = \"{}\"\n\
                 [sites.s1]\nprefixes = [\"10.1.0.0/16\"]\nrole = \"branch\"\n\
                 [sites.s2]\nprefixes = [\"fd00:1::/32\"]\nrole = \"branch\"\n\
                 [groups]\ng1 = [\"10.1.2.0/24\", \"fd00::/8\"]\ng2 = [\"group:g1\", \"192.168.0.0/16\"]\n\
                 [segments.seg]\nmembers = [\"10.2.0.0/16\"]\nisolated = true\n\
                 [apps.a0]\nprotocol = \"udp\"\nports = [\"50-60\"]\n",
                if default_allow { "allow" } else { "deny" }
            );
            let protos = ["tcp", "udp", "icmp", "any"];
            let body = |s: &mut String, (deny, prio, from, to, proto, ports, app): RawRule, acl: bool| {
                if acl {
                    s.push_str(&format!("action = \"{}\"\n", if deny { "deny" } else { "allow" }));
                } else {
                    s.push_str("class = \"bulk\"\n");
                }
                s.push_str(&format!("priority = {}\n", [10, 1000, 1000, 5000][prio]));
                if !from.is_empty() { s.push_str(&format!("from = {}\n", list(&from, member_text))); }
                if !to.is_empty() { s.push_str(&format!("to = {}\n", list(&to, member_text))); }
                if !proto.is_empty() { s.push_str(&format!("protocol = {}\n", list(&proto, |i| protos[i].to_owned()))); }
                if !ports.is_empty() {
                    let v: Vec<String> = ports.iter().map(|(a, w)| format!("\"{a}-{}\"", a + w)).collect();
                    s.push_str(&format!("ports = [{}]\n", v.join(", ")));
                }
                if app == 1 { s.push_str("app = \"a0\"\n"); }
            };
            for (i, r) in acls.into_iter().enumerate() {
                s.push_str(&format!("[[acl]]\nname = \"acl{i}\"\n"));
                body(&mut s, r, true);
            }
            for (i, r) in routes.into_iter().enumerate() {
                s.push_str(&format!("[[route]]\nname = \"route{i}\"\n"));
                body(&mut s, r, false);
            }
            s
        })
}

fn flow_point() -> impl Strategy<Value = FlowPoint> {
    (0usize..10, 0usize..10, prop_oneof![Just(6u8), Just(17u8), Just(1u8), Just(58u8)], 0u16..100)
        .prop_filter_map("families match", |(s, d, proto, port)| {
            let (src, dst): (std::net::IpAddr, std::net::IpAddr) =
                (ADDRS[s].parse().ok()?, ADDRS[d].parse().ok()?);
            (src.is_ipv4() == dst.is_ipv4()).then(|| {
                let key = weft_types::FlowKey {
                    src,
                    dst,
                    protocol: IpProtocol(proto),
                    src_port: 1,
                    dst_port: port,
                };
                FlowPoint::new(&key, 0)
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_compiled_policy_agrees_with_the_naive_evaluator(text in document(), flows in proptest::collection::vec(flow_point(), 1..40)) {
        let p = super::compiled(&text);
        for f in &flows {
            let want = evaluate(&p.document, f);
            let got = compiled_view(&p, f);
            // Names may differ only when two rules of equal priority and action both match first.
            prop_assert_eq!(&want.0, &got.0, "verdict for {:?}\n{}", f, text);
            prop_assert_eq!(&want.2, &got.2, "route for {:?}\n{}", f, text);
            prop_assert_eq!(&want.1, &got.1, "deciding rule for {:?}\n{}", f, text);
        }
    }
}

#[test]
fn the_reference_reads_prefixes_like_the_compiler() {
    let p: IpPrefix = "10.1.0.0/16".parse().unwrap();
    assert!(p.contains("10.1.255.255".parse().unwrap()));
}
