//! The compiled policy: rules in precedence order, expanded into flow boxes,
//! behind two first-match classifiers (segmentation and routing), and the
//! distinct route profiles the path engine is configured with.

use std::collections::BTreeMap;

use serde::Serialize;
use weft_path::{PathPreference, SelectionPolicy};
use weft_types::UplinkId;

use crate::classifier::Classifier;
use crate::findings::{Finding, Severity};
use crate::model::{Action, Document, RouteProfile, parse_preference};
use crate::resolve::{Resolver, SiteDirectory};
use crate::space::{FlowBox, FlowPoint};

/// How a flow is treated: the segmentation verdict and its routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Classification {
    /// Allow or deny.
    pub action: Action,
    /// Index into [`Document::acls`] of the deciding rule (`None`: the default).
    pub acl: Option<u32>,
    /// Index into [`Document::routes`] of the matching route (`None`: the default).
    pub route: Option<u32>,
    /// Index into [`CompiledPolicy::profiles`].
    pub profile: u32,
}

/// A rule set in precedence order with its boxes.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Boxes of each rule, in precedence order.
    pub boxes: Vec<Vec<FlowBox>>,
    /// Precedence position → index in the document's list.
    pub order: Vec<usize>,
}

impl RuleSet {
    fn new(boxes_by_index: &[Vec<FlowBox>], order: Vec<usize>) -> Self {
        let boxes: Vec<Vec<FlowBox>> = order.iter().map(|i| boxes_by_index[*i].clone()).collect();
        Self { boxes, order }
    }

    /// Document index of the rule at precedence position `pos`.
    pub fn rule_at(&self, pos: usize) -> usize {
        self.order[pos]
    }
}

/// A policy ready for the data plane.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    /// The document it came from.
    pub document: Document,
    /// The directory it was resolved against.
    pub directory: SiteDirectory,
    /// Segmentation rules.
    pub acls: RuleSet,
    /// Routing rules.
    pub routes: RuleSet,
    /// Distinct route profiles; index 0 is the default (unmatched flows).
    pub profiles: Vec<RouteProfile>,
    /// Profile index of each route, by document index.
    pub route_profile: Vec<u32>,
    /// One classifier over both rule sets (ACLs first, routes second).
    index: Classifier,
}

/// Most boxes a whole policy may expand to: the classifier's index grows with
/// the square of the box count (about 31 MiB at 10 000, 125 MiB at 20 000).
pub const MAX_TOTAL_BOXES: usize = 20_000;

/// The policy could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct CompileError(pub Vec<Finding>);

/// Compiles a document against a directory. Warnings come back with the
/// policy; any error refuses it (with the warnings too).
pub fn compile(
    doc: &Document,
    dir: &SiteDirectory,
) -> Result<(CompiledPolicy, Vec<Finding>), CompileError> {
    let mut r = Resolver::new(doc, dir);
    let acl_boxes: Vec<Vec<FlowBox>> =
        doc.acls.iter().map(|a| r.rule_boxes(&a.matches, a.at)).collect();
    let route_boxes: Vec<Vec<FlowBox>> =
        doc.routes.iter().map(|x| r.rule_boxes(&x.matches, x.at)).collect();
    let mut findings = r.into_findings();
    let total: usize = acl_boxes.iter().chain(&route_boxes).map(Vec::len).sum();
    if total > MAX_TOTAL_BOXES {
        findings.push(Finding {
            severity: Severity::Error,
            code: "too-complex",
            file: doc.file.clone(),
            at: crate::model::Location::default(),
            message: format!(
                "the policy expands to {total} boxes (more than {MAX_TOTAL_BOXES}): the classifier's memory grows with the square of that; use fewer, wider rules or groups of wider prefixes"
            ),
        });
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        return Err(CompileError(findings));
    }
    let mut acl_order: Vec<usize> = (0..doc.acls.len()).collect();
    // Lower priority first; deny before allow at equal priority; file order last.
    acl_order.sort_by_key(|i| (doc.acls[*i].priority, doc.acls[*i].action != Action::Deny, *i));
    let mut route_order: Vec<usize> = (0..doc.routes.len()).collect();
    route_order.sort_by_key(|i| (doc.routes[*i].priority, *i));

    let mut profiles = vec![RouteProfile::default_for(&doc.default_class)];
    let mut route_profile = Vec::new();
    for route in &doc.routes {
        let idx = profiles.iter().position(|p| *p == route.profile).unwrap_or_else(|| {
            profiles.push(route.profile.clone());
            profiles.len() - 1
        });
        route_profile.push(idx as u32);
    }
    let acls = RuleSet::new(&acl_boxes, acl_order);
    let routes = RuleSet::new(&route_boxes, route_order);
    let index = Classifier::build_sets(&[&acls.boxes, &routes.boxes]);
    let policy = CompiledPolicy {
        document: doc.clone(),
        directory: dir.clone(),
        acls,
        routes,
        profiles,
        route_profile,
        index,
    };
    Ok((policy, findings))
}

impl CompiledPolicy {
    /// How a new flow is treated. Call once per flow and pin the answer.
    #[inline]
    pub fn classify(&self, p: &FlowPoint) -> Classification {
        let mut first = [None; 2];
        self.index.first_matches(p, &mut first);
        let acl = first[0].map(|pos| self.acls.order[pos]);
        let action = acl.map_or(self.document.default_action, |i| self.document.acls[i].action);
        let route = first[1].map(|pos| self.routes.order[pos]);
        let profile = route.map_or(0, |i| self.route_profile[i]);
        Classification {
            action,
            acl: acl.map(|i| i as u32),
            route: route.map(|i| i as u32),
            profile,
        }
    }

    /// Name of the ACL that decided `c` (`default` when none matched).
    pub fn acl_name(&self, c: &Classification) -> &str {
        c.acl.map_or("default", |i| self.document.acls[i as usize].name.as_str())
    }

    /// Name of the route that matched `c` (`default` when none did).
    pub fn route_name(&self, c: &Classification) -> &str {
        c.route.map_or("default", |i| self.document.routes[i as usize].name.as_str())
    }

    /// What the path engine should do for flows of profile `index`, with
    /// uplink names mapped by `uplink` (names a site does not have are left
    /// out: preferring or excluding an uplink that is not there is a no-op).
    pub fn selection_policy(
        &self,
        index: usize,
        uplink: impl Fn(&str) -> Option<UplinkId>,
    ) -> SelectionPolicy {
        let profile = &self.profiles[index];
        let class = &self.document.classes[&profile.class];
        let mut policy = SelectionPolicy::for_class(class.sla.clone());
        if let Some(w) = profile.weights {
            policy.preference = PathPreference::Weighted(w);
        } else if let Some(p) = profile.prefer.as_deref().and_then(parse_preference) {
            policy.preference = p;
        }
        policy.name = profile_name(profile, index, &policy.preference);
        policy.balance = profile.balance;
        policy.fallback = class.fallback;
        policy.probe_interval = class.probe_interval;
        policy.prefer_uplinks = profile.uplinks.iter().filter_map(|u| uplink(u)).collect();
        policy.exclude_uplinks = profile.exclude_uplinks.iter().filter_map(|u| uplink(u)).collect();
        policy.avoid_metered = profile.avoid_metered;
        policy
    }

    /// Bytes held by the compiled classifier.
    pub fn classifier_bytes(&self) -> usize {
        self.index.memory_bytes()
    }

    /// Rule counts by kind, for status output.
    pub fn summary(&self) -> BTreeMap<&'static str, usize> {
        BTreeMap::from([
            ("acls", self.document.acls.len()),
            ("routes", self.document.routes.len()),
            ("profiles", self.profiles.len()),
            ("tests", self.document.tests.len()),
        ])
    }
}

fn profile_name(p: &RouteProfile, index: usize, pref: &PathPreference) -> String {
    if index == 0 { p.class.clone() } else { format!("{}/{}#{index}", p.class, pref.name()) }
}
