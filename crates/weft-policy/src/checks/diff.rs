//! What changes between the running policy and a candidate: rules added,
//! removed or changed, and a sample of flows whose verdict or routing changes.
//!
//! Behaviour can only change inside the flow space of a changed rule (or
//! everywhere, when a default changed), so only those boxes are split and
//! compared: the comparison is exact there, and the sample is drawn from it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::compiled::{CompiledPolicy, RuleSet};
use crate::model::RouteProfile;
use crate::space::FlowBox;

use super::pieces;
use super::policy_tests::describe;

/// One flow that would be treated differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowChange {
    /// The flow (`tcp 10.1.0.5:40000 -> 10.2.0.9:5060`).
    pub flow: String,
    /// What happens to it now.
    pub before: String,
    /// What would happen with the candidate.
    pub after: String,
}

/// The difference between two policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffReport {
    /// Rule changes, one line each (`+ acl "x"`, `- route "y"`, `~ acl "z": priority 10 -> 20`).
    pub rules: Vec<String>,
    /// Flows whose verdict changes.
    pub verdicts: Vec<FlowChange>,
    /// Flows whose route (class, preference, uplinks) changes.
    pub routing: Vec<FlowChange>,
    /// The comparison stopped early (too complex, or enough samples).
    pub truncated: bool,
}

impl DiffReport {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.verdicts.is_empty() && self.routing.is_empty()
    }
}

/// Compares `old` (running) with `new` (candidate), sampling at most
/// `max_samples` changed flows of each kind.
pub fn diff(old: &CompiledPolicy, new: &CompiledPolicy, max_samples: usize) -> DiffReport {
    let mut report = DiffReport::default();
    let (od, nd) = (&old.document, &new.document);
    if od.default_action != nd.default_action {
        report.rules.push(format!(
            "~ default: {} -> {}",
            od.default_action.as_str(),
            nd.default_action.as_str()
        ));
    }
    if od.default_class != nd.default_class {
        report.rules.push(format!("~ default_class: {} -> {}", od.default_class, nd.default_class));
    }
    let acl_desc = |p: &CompiledPolicy, i: usize| {
        let a = &p.document.acls[i];
        let boxes = &p.acls.boxes[p.acls.order.iter().position(|x| *x == i).unwrap_or(0)];
        (format!("{} priority {}", a.action.as_str(), a.priority), boxes.clone())
    };
    let route_desc = |p: &CompiledPolicy, i: usize| {
        let r = &p.document.routes[i];
        let boxes = &p.routes.boxes[p.routes.order.iter().position(|x| *x == i).unwrap_or(0)];
        (format!("priority {} {}", r.priority, profile_text(&r.profile)), boxes.clone())
    };
    let mut regions = Vec::new();
    let olds: BTreeMap<&str, usize> =
        od.acls.iter().enumerate().map(|(i, a)| (a.name.as_str(), i)).collect();
    let news: BTreeMap<&str, usize> =
        nd.acls.iter().enumerate().map(|(i, a)| (a.name.as_str(), i)).collect();
    compare(
        &mut report,
        &mut regions,
        "acl",
        &olds,
        &news,
        |i| acl_desc(old, i),
        |i| acl_desc(new, i),
    );
    let olds: BTreeMap<&str, usize> =
        od.routes.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect();
    let news: BTreeMap<&str, usize> =
        nd.routes.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect();
    compare(
        &mut report,
        &mut regions,
        "route",
        &olds,
        &news,
        |i| route_desc(old, i),
        |i| route_desc(new, i),
    );
    if od.default_action != nd.default_action || od.default_class != nd.default_class {
        regions = vec![FlowBox::ALL];
    }
    for region in &regions {
        if report.verdicts.len() >= max_samples && report.routing.len() >= max_samples {
            report.truncated = true;
            break;
        }
        let acl_text = |p: &CompiledPolicy, label: Option<usize>| match label {
            Some(pos) => {
                let a = &p.document.acls[p.acls.rule_at(pos)];
                format!("{} by {:?}", a.action.as_str(), a.name)
            }
            None => format!("{} by default", p.document.default_action.as_str()),
        };
        let route_text = |p: &CompiledPolicy, label: Option<usize>| {
            let profile = route_profile(p, &p.routes, label);
            profile_text(profile)
        };
        let same_route = |a: Option<usize>, b: Option<usize>| {
            route_profile(old, &old.routes, a) == route_profile(new, &new.routes, b)
        };
        let same_acl = |a: Option<usize>, b: Option<usize>| {
            let act = |p: &CompiledPolicy, l: Option<usize>| {
                l.map_or(p.document.default_action, |pos| {
                    p.document.acls[p.acls.rule_at(pos)].action
                })
            };
            act(old, a) == act(new, b)
        };
        report.truncated |= sample(
            &mut report.verdicts,
            max_samples,
            &old.acls.boxes,
            &new.acls.boxes,
            region,
            same_acl,
            |l| acl_text(old, l),
            |l| acl_text(new, l),
        );
        report.truncated |= sample(
            &mut report.routing,
            max_samples,
            &old.routes.boxes,
            &new.routes.boxes,
            region,
            same_route,
            |l| route_text(old, l),
            |l| route_text(new, l),
        );
    }
    report
}

fn route_profile<'a>(
    p: &'a CompiledPolicy,
    set: &RuleSet,
    label: Option<usize>,
) -> &'a RouteProfile {
    let idx = label.map_or(0, |pos| p.route_profile[set.rule_at(pos)] as usize);
    &p.profiles[idx]
}

fn profile_text(p: &RouteProfile) -> String {
    let mut s = format!("class {}", p.class);
    if let Some(pref) = &p.prefer {
        let _ = write!(s, " prefer {pref}");
    }
    if let Some(w) = &p.weights {
        let _ = write!(
            s,
            " weights latency {} jitter {} loss {} bandwidth {} cost {}",
            w.latency, w.jitter, w.loss, w.bandwidth, w.cost
        );
    }
    if !p.uplinks.is_empty() {
        let _ = write!(s, " via [{}]", p.uplinks.join(", "));
    }
    if !p.exclude_uplinks.is_empty() {
        let _ = write!(s, " never [{}]", p.exclude_uplinks.join(", "));
    }
    s
}

/// Records rule-level changes and the boxes where behaviour may change.
fn compare(
    report: &mut DiffReport,
    regions: &mut Vec<FlowBox>,
    kind: &str,
    olds: &BTreeMap<&str, usize>,
    news: &BTreeMap<&str, usize>,
    old_desc: impl Fn(usize) -> (String, Vec<FlowBox>),
    new_desc: impl Fn(usize) -> (String, Vec<FlowBox>),
) {
    for (name, i) in olds {
        let (od, ob) = old_desc(*i);
        match news.get(name) {
            None => {
                report.rules.push(format!("- {kind} {name:?} ({od})"));
                regions.extend(ob);
            }
            Some(j) => {
                let (nd, nb) = new_desc(*j);
                if od != nd || ob != nb {
                    let what = if od == nd {
                        "matches different flows".to_owned()
                    } else {
                        format!("{od} -> {nd}")
                    };
                    report.rules.push(format!("~ {kind} {name:?}: {what}"));
                    regions.extend(ob);
                    regions.extend(nb);
                }
            }
        }
    }
    for (name, j) in news {
        if !olds.contains_key(name) {
            let (nd, nb) = new_desc(*j);
            report.rules.push(format!("+ {kind} {name:?} ({nd})"));
            regions.extend(nb);
        }
    }
}

/// Adds flows of `region` treated differently by the two rule sets; true when it stopped early.
#[allow(clippy::too_many_arguments)]
fn sample(
    out: &mut Vec<FlowChange>,
    max: usize,
    old: &[Vec<FlowBox>],
    new: &[Vec<FlowBox>],
    region: &FlowBox,
    same: impl Fn(Option<usize>, Option<usize>) -> bool,
    before: impl Fn(Option<usize>) -> String,
    after: impl Fn(Option<usize>) -> String,
) -> bool {
    let Ok(old_parts) = pieces(old, region) else { return true };
    for (ol, piece) in old_parts {
        let Ok(new_parts) = pieces(new, &piece) else { return true };
        for (nl, sub) in new_parts {
            if same(ol, nl) {
                continue;
            }
            if out.len() >= max {
                return true;
            }
            let change = FlowChange {
                flow: describe(&sub.low_corner()),
                before: before(ol),
                after: after(nl),
            };
            if !out.contains(&change) {
                out.push(change);
            }
        }
    }
    false
}
