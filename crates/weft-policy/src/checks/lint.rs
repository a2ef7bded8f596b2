//! The lint: rules that can never match, allow/deny overlaps resolved only by
//! the deny-wins tie-break, names defined and never used, uplinks no site has,
//! ports on protocols without ports.

use std::collections::BTreeSet;

use crate::compiled::{CompiledPolicy, RuleSet};
use crate::findings::{Finding, Findings};
use crate::model::{Action, Location, Matcher, Member, RuleMatch};

use super::pieces;

/// Analyses a compiled policy; the findings are sorted by position.
pub fn lint(policy: &CompiledPolicy) -> Vec<Finding> {
    let doc = &policy.document;
    let mut f = Findings::new(&doc.file);
    let acl_names: Vec<(String, Location)> =
        doc.acls.iter().map(|a| (a.name.clone(), a.at)).collect();
    let route_names: Vec<(String, Location)> =
        doc.routes.iter().map(|r| (r.name.clone(), r.at)).collect();
    shadowing(&mut f, "ACL", &policy.acls, &acl_names);
    shadowing(&mut f, "route", &policy.routes, &route_names);
    overlaps(&mut f, policy);
    unused(&mut f, policy);
    uplinks(&mut f, policy);
    let matchers = doc
        .apps
        .values()
        .map(|(m, at)| (m, *at))
        .chain(doc.acls.iter().map(|a| (&a.matches.inline, a.at)))
        .chain(doc.routes.iter().map(|r| (&r.matches.inline, r.at)));
    for (m, at) in matchers {
        portless(&mut f, m, at);
    }
    f.into_vec()
}

/// Rules every flow of which an earlier rule decides, and rules matching nothing.
fn shadowing(f: &mut Findings, kind: &str, set: &RuleSet, names: &[(String, Location)]) {
    for (pos, boxes) in set.boxes.iter().enumerate() {
        let (name, at) = &names[set.rule_at(pos)];
        if boxes.is_empty() {
            f.warn(*at, "matches-nothing", format!("{kind} {name:?} matches no flow (empty groups, unknown sites, or IPv4 mixed with IPv6)"));
            continue;
        }
        let earlier = &set.boxes[..pos];
        let mut by = BTreeSet::new();
        let mut reachable = false;
        for b in boxes {
            match pieces(earlier, b) {
                Ok(parts) => {
                    for (label, _) in parts {
                        match label {
                            Some(p) => {
                                by.insert(set.rule_at(p));
                            }
                            None => reachable = true,
                        }
                    }
                }
                Err(_) => reachable = true,
            }
            if reachable {
                break;
            }
        }
        if !reachable {
            let list: Vec<String> = by
                .iter()
                .map(|i| format!("{:?} (line {})", names[*i].0, names[*i].1.line))
                .collect();
            f.warn(
                *at,
                "shadowed",
                format!(
                    "{kind} {name:?} is unreachable: every flow it matches is decided first by {}",
                    list.join(", ")
                ),
            );
        }
    }
}

/// Allow and deny rules of equal priority that share flows.
fn overlaps(f: &mut Findings, policy: &CompiledPolicy) {
    let doc = &policy.document;
    let acls = &policy.acls;
    for (i, bi) in acls.boxes.iter().enumerate() {
        let a = &doc.acls[acls.rule_at(i)];
        if a.action != Action::Allow {
            continue;
        }
        for (j, bj) in acls.boxes.iter().enumerate() {
            let d = &doc.acls[acls.rule_at(j)];
            if d.action != Action::Deny || d.priority != a.priority {
                continue;
            }
            if bi.iter().any(|x| bj.iter().any(|y| x.intersect(y).is_some())) {
                f.warn(a.at, "allow-deny-overlap", format!(
                    "allow {:?} and deny {:?} (line {}) share flows at priority {}: deny wins there; give one a different priority to make the intent explicit",
                    a.name, d.name, d.at.line, a.priority
                ));
            }
        }
    }
}

fn members_used(m: &Matcher, out: &mut BTreeSet<String>) {
    for x in m.from.iter().chain(&m.to) {
        if let Member::Group(g) | Member::Segment(g) = x {
            out.insert(g.clone());
        }
    }
}

/// Apps, groups and classes defined and never used.
fn unused(f: &mut Findings, policy: &CompiledPolicy) {
    let doc = &policy.document;
    let rules: Vec<&RuleMatch> = doc
        .acls
        .iter()
        .map(|a| &a.matches)
        .chain(doc.routes.iter().map(|r| &r.matches))
        .chain(doc.tests.iter().map(|t| &t.matches))
        .collect();
    let apps: BTreeSet<&String> = rules.iter().flat_map(|r| r.apps.iter()).collect();
    for (name, (_, at)) in &doc.apps {
        if !apps.contains(name) {
            f.warn(*at, "unused", format!("app {name:?} is defined but no rule or test uses it"));
        }
    }
    let mut groups = BTreeSet::new();
    for r in &rules {
        members_used(&r.inline, &mut groups);
    }
    for (m, _) in doc.apps.values() {
        members_used(m, &mut groups);
    }
    for (members, _) in doc.groups.values() {
        members_used(&Matcher { from: members.clone(), ..Matcher::default() }, &mut groups);
    }
    for s in &doc.segments {
        members_used(&Matcher { from: s.members.clone(), ..Matcher::default() }, &mut groups);
    }
    for (name, (_, at)) in &doc.groups {
        if !groups.contains(name) {
            f.warn(*at, "unused", format!("group {name:?} is defined but never referenced"));
        }
    }
    let classes: BTreeSet<&String> = doc
        .routes
        .iter()
        .map(|r| &r.profile.class)
        .chain(std::iter::once(&doc.default_class))
        .collect();
    for (name, c) in &doc.classes {
        if let Some(at) = c.at
            && !classes.contains(name)
        {
            f.warn(at, "unused", format!("class {name:?} is defined but no route uses it"));
        }
    }
}

/// Uplink names that no site in the directory has (when any site lists its uplinks).
fn uplinks(f: &mut Findings, policy: &CompiledPolicy) {
    let known: BTreeSet<&String> =
        policy.directory.sites.values().flat_map(|s| s.uplinks.iter()).collect();
    if known.is_empty() {
        return;
    }
    let doc = &policy.document;
    let used = doc
        .routes
        .iter()
        .flat_map(|r| {
            r.profile.uplinks.iter().chain(&r.profile.exclude_uplinks).map(move |u| (u, r.at))
        })
        .chain(
            doc.tests.iter().flat_map(|t| t.via.iter().chain(&t.never_via).map(move |u| (u, t.at))),
        );
    for (u, at) in used {
        // IPsec gateways (`ipsec:NAME`) are the agents' own, not the inventory's
        if !known.contains(u) && !u.starts_with("ipsec:") {
            let list: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
            f.warn(
                at,
                "unknown-uplink",
                format!("no known site has an uplink named {u:?} (known: {})", list.join(", ")),
            );
        }
    }
}

/// Ports given for protocols that carry none (ICMP): such a matcher never matches.
fn portless(f: &mut Findings, m: &Matcher, at: Location) {
    if (m.ports.is_empty() && m.src_ports.is_empty()) || m.protocols.is_empty() {
        return;
    }
    let any_with_ports =
        m.protocols.iter().any(|p| (p.lo..=p.hi).any(|n| weft_types::IpProtocol(n).has_ports()));
    if !any_with_ports {
        f.warn(at, "ports-without-ports", "ports are given for a protocol that has none (e.g. icmp): flows carry port 0, so this matches only port 0".to_owned());
    }
}
