//! Names into address spans: groups, segments, sites, roles and regions
//! resolved against a [`SiteDirectory`], then matchers into flow boxes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::findings::{Finding, Findings};
use crate::model::{Document, Location, Matcher, Member, RuleMatch, SiteInfo};
use crate::space::{ANY_ADDR, ANY_DSCP, ANY_FAMILY, ANY_PORT, ANY_U8, FlowBox, Span, prefix_span};

/// Most boxes one rule may expand to (the product of its lists).
pub(crate) const MAX_BOXES_PER_RULE: usize = 65_536;

/// Which sites exist, what they serve, their role and region: what `site:`,
/// `role:` and `region:` members resolve against.
///
/// Offline (`weft policy lint`), it is the document's own `[sites]` table; an
/// agent adds the sites it knows (itself, its peers), which take precedence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SiteDirectory {
    /// Sites by name.
    pub sites: BTreeMap<String, SiteInfo>,
}

impl SiteDirectory {
    /// The inventory written in a document.
    pub fn from_document(doc: &Document) -> Self {
        Self { sites: doc.sites.clone() }
    }

    /// Adds or replaces one site.
    pub fn insert(&mut self, name: impl Into<String>, info: SiteInfo) {
        self.sites.insert(name.into(), info);
    }

    /// Adds every site of `other` that is not known yet.
    pub fn fill_from(&mut self, other: &SiteDirectory) {
        for (n, s) in &other.sites {
            self.sites.entry(n.clone()).or_insert_with(|| s.clone());
        }
    }
}

/// An address range of one family (or both, for `any`).
type AddrSpan = (Span<u8>, Span<u128>);

const ANY_ADDRS: AddrSpan = (ANY_FAMILY, ANY_ADDR);

/// Resolves members, remembering group and segment expansions.
pub(crate) struct Resolver<'a> {
    doc: &'a Document,
    dir: &'a SiteDirectory,
    cache: BTreeMap<String, Vec<AddrSpan>>,
    pub(crate) findings: Findings,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(doc: &'a Document, dir: &'a SiteDirectory) -> Self {
        Self { doc, dir, cache: BTreeMap::new(), findings: Findings::new(&doc.file) }
    }

    fn member(&mut self, m: &Member, at: Location, stack: &mut Vec<String>) -> Vec<AddrSpan> {
        let prefixes = |sites: Vec<&SiteInfo>| -> Vec<AddrSpan> {
            sites
                .iter()
                .flat_map(|s| s.prefixes.iter())
                .map(|p| {
                    let (f, s) = prefix_span(p);
                    (Span::one(f), s)
                })
                .collect()
        };
        match m {
            Member::Any => vec![ANY_ADDRS],
            Member::Prefix(p) => {
                let (f, s) = prefix_span(p);
                vec![(Span::one(f), s)]
            }
            Member::Site(n) => {
                if let Some(s) = self.dir.sites.get(n) {
                    prefixes(vec![s])
                } else {
                    self.findings.warn(at, "unknown-site", format!(
                        "site {n:?} is not known (not in [sites] nor joined): site:{n} matches nothing until it is"
                    ));
                    Vec::new()
                }
            }
            Member::Role(r) | Member::Region(r) => {
                let by_role = matches!(m, Member::Role(_));
                let sites: Vec<&SiteInfo> = self
                    .dir
                    .sites
                    .values()
                    .filter(|s| {
                        if by_role {
                            s.role.as_ref() == Some(r)
                        } else {
                            s.region.as_ref() == Some(r)
                        }
                    })
                    .collect();
                if sites.is_empty() {
                    self.findings.warn(
                        at,
                        "empty-member",
                        format!("no known site has {m}: it matches nothing"),
                    );
                }
                prefixes(sites)
            }
            Member::Group(n) | Member::Segment(n) => {
                let is_group = matches!(m, Member::Group(_));
                let key = m.to_string();
                if let Some(v) = self.cache.get(&key) {
                    return v.clone();
                }
                if stack.contains(&key) {
                    self.findings.error(
                        at,
                        "cycle",
                        format!("{key} contains itself: {} -> {key}", stack.join(" -> ")),
                    );
                    return Vec::new();
                }
                let members = if is_group {
                    self.doc.groups.get(n).map(|(g, gat)| (g.clone(), *gat))
                } else {
                    self.doc
                        .segments
                        .iter()
                        .find(|s| &s.name == n)
                        .map(|s| (s.members.clone(), s.at))
                };
                let Some((members, mat)) = members else {
                    let kind = if is_group { "group" } else { "segment" };
                    self.findings.error(at, "unknown-name", format!("unknown {kind} {n:?}"));
                    return Vec::new();
                };
                stack.push(key.clone());
                let mut out = Vec::new();
                for x in &members {
                    out.extend(self.member(x, mat, stack));
                }
                stack.pop();
                self.cache.insert(key, out.clone());
                out
            }
        }
    }

    fn addrs(&mut self, list: &[Member], at: Location) -> Vec<AddrSpan> {
        if list.is_empty() {
            return vec![ANY_ADDRS];
        }
        let mut out = Vec::new();
        for m in list {
            out.extend(self.member(m, at, &mut Vec::new()));
        }
        out
    }

    /// The boxes of one matcher (empty when it matches nothing).
    pub(crate) fn matcher_boxes(&mut self, m: &Matcher, at: Location) -> Vec<FlowBox> {
        let from = self.addrs(&m.from, at);
        let to = self.addrs(&m.to, at);
        let or_any = |v: &[Span<u16>]| if v.is_empty() { vec![ANY_PORT] } else { v.to_vec() };
        let protocols = if m.protocols.is_empty() { vec![ANY_U8] } else { m.protocols.clone() };
        let dscp = if m.dscp.is_empty() { vec![ANY_DSCP] } else { m.dscp.clone() };
        let (ports, src_ports) = (or_any(&m.ports), or_any(&m.src_ports));
        let total =
            from.len() * to.len() * protocols.len() * ports.len() * src_ports.len() * dscp.len();
        if total > MAX_BOXES_PER_RULE {
            self.findings.error(at, "too-complex", format!(
                "this rule expands to {total} boxes (more than {MAX_BOXES_PER_RULE}); split it or use wider prefixes"
            ));
            return Vec::new();
        }
        let mut out = Vec::new();
        for f in &from {
            for t in &to {
                let Some(family) = f.0.intersect(&t.0) else { continue };
                for p in &protocols {
                    for dp in &ports {
                        for sp in &src_ports {
                            for d in &dscp {
                                out.push(FlowBox {
                                    family,
                                    src: f.1,
                                    dst: t.1,
                                    protocol: *p,
                                    src_port: *sp,
                                    dst_port: *dp,
                                    dscp: *d,
                                });
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The boxes of a rule: the union over its apps of (app ∩ inline).
    pub(crate) fn rule_boxes(&mut self, r: &RuleMatch, at: Location) -> Vec<FlowBox> {
        let inline = self.matcher_boxes(&r.inline, at);
        if r.apps.is_empty() {
            return inline;
        }
        let mut out = Vec::new();
        for app in &r.apps {
            let Some((m, app_at)) = self.doc.apps.get(app) else { continue };
            for a in self.matcher_boxes(m, *app_at) {
                out.extend(inline.iter().filter_map(|i| a.intersect(i)));
            }
        }
        out
    }

    pub(crate) fn into_findings(self) -> Vec<Finding> {
        self.findings.into_vec()
    }
}
