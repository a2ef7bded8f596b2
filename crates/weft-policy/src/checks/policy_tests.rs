//! A policy's `[[test]]` tables, checked over every flow they describe.

use serde::{Deserialize, Serialize};

use crate::compiled::CompiledPolicy;
use crate::model::{Action, PolicyTest};
use crate::resolve::Resolver;
use crate::space::{FlowBox, FlowPoint, value_addr};

use super::pieces;

/// The result of one policy test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// Test name.
    pub name: String,
    /// Line of the test in the file.
    pub line: usize,
    /// Whether every flow it describes behaves as it says.
    pub passed: bool,
    /// Why not: the first counterexample flow and what happened to it.
    pub failure: Option<String>,
}

/// Runs every test of the policy.
/// Identity tests (`[[identity_test]]`) follow the flow tests.
pub fn run_tests(policy: &CompiledPolicy) -> Vec<TestOutcome> {
    let doc = &policy.document;
    doc.tests
        .iter()
        .map(|t| run_one(policy, t))
        .chain(doc.identity_tests.iter().map(|t| run_identity(doc, t)))
        .collect()
}

fn run_identity(doc: &crate::model::Document, t: &crate::identity::IdentityTest) -> TestOutcome {
    let d = doc.identity.decide(t.from.as_ref(), &t.to, t.port);
    let failure = (d.action != t.expect).then(|| {
        let caller = t.from.as_ref().map_or_else(|| "anonymous".to_owned(), ToString::to_string);
        let by = d.rule.map_or_else(
            || "no identity rule matches".to_owned(),
            |r| format!("by identity rule {r:?}"),
        );
        format!(
            "{caller} -> {}:{} is {} ({by}), expected {}",
            t.to,
            t.port,
            past(d.action),
            t.expect.as_str()
        )
    });
    TestOutcome { name: t.name.clone(), line: t.at.line, passed: failure.is_none(), failure }
}

fn run_one(policy: &CompiledPolicy, t: &PolicyTest) -> TestOutcome {
    let mut resolver = Resolver::new(&policy.document, &policy.directory);
    let boxes = resolver.rule_boxes(&t.matches, t.at);
    let failure = if boxes.is_empty() {
        Some("the test describes no flow (its addresses, groups or apps match nothing)".to_owned())
    } else {
        boxes.iter().find_map(|b| check_box(policy, t, b))
    };
    TestOutcome { name: t.name.clone(), line: t.at.line, passed: failure.is_none(), failure }
}

/// The first violation of `t` within `b`, if any.
fn check_box(policy: &CompiledPolicy, t: &PolicyTest, b: &FlowBox) -> Option<String> {
    let doc = &policy.document;
    if let Some(expect) = t.expect {
        let parts = match pieces(&policy.acls.boxes, b) {
            Ok(p) => p,
            Err(e) => return Some(format!("cannot check exhaustively: {e}")),
        };
        for (label, piece) in parts {
            let (action, rule) = match label {
                Some(pos) => {
                    let acl = &doc.acls[policy.acls.rule_at(pos)];
                    (acl.action, format!("rule {:?} (line {})", acl.name, acl.at.line))
                }
                None => (doc.default_action, "the default".to_owned()),
            };
            if action != expect {
                return Some(format!(
                    "{} is {} by {rule}, expected {}",
                    describe(&piece.low_corner()),
                    past(action),
                    expect.as_str()
                ));
            }
        }
    }
    if t.class.is_none() && t.via.is_empty() && t.never_via.is_empty() {
        return None;
    }
    let parts = match pieces(&policy.routes.boxes, b) {
        Ok(p) => p,
        Err(e) => return Some(format!("cannot check exhaustively: {e}")),
    };
    for (label, piece) in parts {
        let (profile, route) = match label {
            Some(pos) => {
                let i = policy.routes.rule_at(pos);
                let r = &doc.routes[i];
                (
                    &policy.profiles[policy.route_profile[i] as usize],
                    format!("route {:?} (line {})", r.name, r.at.line),
                )
            }
            None => (&policy.profiles[0], "the default route".to_owned()),
        };
        let flow = describe(&piece.low_corner());
        if let Some(class) = &t.class
            && profile.class != *class
        {
            return Some(format!(
                "{flow} gets class {} from {route}, expected {class}",
                profile.class
            ));
        }
        if let Some(u) = t.via.iter().find(|u| !profile.uplinks.contains(u)) {
            return Some(format!(
                "{flow} does not prefer uplink {u} ({route} prefers [{}])",
                profile.uplinks.join(", ")
            ));
        }
        if let Some(u) = t.never_via.iter().find(|u| !profile.exclude_uplinks.contains(u)) {
            return Some(format!(
                "{flow} may use uplink {u} ({route} excludes [{}])",
                profile.exclude_uplinks.join(", ")
            ));
        }
    }
    None
}

fn past(a: Action) -> &'static str {
    match a {
        Action::Allow => "allowed",
        Action::Deny => "denied",
    }
}

/// `tcp 10.1.0.5:40000 -> 10.2.0.9:5060` (with ` dscp N` when not 0).
pub(crate) fn describe(p: &FlowPoint) -> String {
    let proto = weft_types::IpProtocol(p.protocol);
    let (s, d) = (value_addr(p.family, p.src), value_addr(p.family, p.dst));
    let addr = |a: std::net::IpAddr, port: u16| match a {
        std::net::IpAddr::V6(_) => format!("[{a}]:{port}"),
        std::net::IpAddr::V4(_) => format!("{a}:{port}"),
    };
    let dscp = if p.dscp == 0 { String::new() } else { format!(" dscp {}", p.dscp) };
    format!("{proto} {} -> {}{dscp}", addr(s, p.src_port), addr(d, p.dst_port))
}
