//! From the raw TOML to a [`Document`]: parses every value and checks every
//! name, collecting all problems (not just the first) with their positions.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use weft_path::sla::LossWindow;
use weft_path::{Fallback, SlaClass};
use weft_types::{Diagnostic, IpPrefix, IpProtocol, Ratio, parse_duration};

use crate::model::{
    AclOrigin, AclRule, Action, ClassDef, ClassQos, DEFAULT_PRIORITY, DEFAULT_SEGMENT_PRIORITY,
    Document, Location, Matcher, Member, PREFERENCES, PolicyTest, RouteProfile, RouteRule,
    RuleMatch, Segment, SiteInfo, parse_balance, parse_preference,
};
use crate::raw::{Items, MatchFields, RawDocument};
use crate::space::Span;

pub(crate) struct Checker<'a> {
    pub(crate) file: &'a Path,
    pub(crate) source: &'a str,
    pub(crate) errors: Vec<Diagnostic>,
    /// Byte offset of the start of every line.
    pub(crate) line_starts: Vec<usize>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(file: &'a Path, source: &'a str) -> Self {
        let line_starts =
            std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Self { file, source, errors: Vec::new(), line_starts }
    }

    pub(crate) fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.errors.push(Diagnostic::at(self.file, self.source, Some(span), msg));
    }

    /// The place of `span` (lines found by binary search over `line_starts`:
    /// a policy of thousands of rules asks for thousands of places).
    pub(crate) fn loc(&self, span: &Range<usize>) -> Location {
        let at = span.start.min(self.source.len());
        let line = self.line_starts.partition_point(|s| *s <= at);
        let start = self.line_starts[line - 1];
        let column = self.source.get(start..at).map_or(1, |t| t.chars().count() + 1);
        Location { line, column }
    }

    /// The strings of a one-or-many value (numbers too, when `numbers`).
    pub(crate) fn strings(&mut self, v: &Items, what: &str, numbers: bool) -> Vec<String> {
        let items: Vec<&toml::Value> = match v.get_ref() {
            toml::Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        let mut out = Vec::new();
        for item in items {
            match item {
                toml::Value::String(s) => out.push(s.clone()),
                toml::Value::Integer(n) if numbers => out.push(n.to_string()),
                other => {
                    let expected = if numbers { "a number or a string" } else { "a string" };
                    self.err(
                        v.span(),
                        format!(
                            "{what}: expected {expected} or a list of them, found {}",
                            other.type_str()
                        ),
                    );
                }
            }
        }
        out
    }

    pub(crate) fn list<T>(
        &mut self,
        v: Option<&Items>,
        what: &str,
        numbers: bool,
        parse: impl Fn(&str) -> Result<Option<T>, String>,
    ) -> Vec<T> {
        let Some(v) = v else { return Vec::new() };
        let mut out = Vec::new();
        for s in self.strings(v, what, numbers) {
            match parse(s.trim()) {
                Ok(Some(x)) => out.push(x),
                Ok(None) => {}
                Err(e) => self.err(v.span(), format!("{what}: {e}")),
            }
        }
        out
    }

    fn members(&mut self, v: Option<&Items>, what: &str) -> Vec<Member> {
        self.list(v, what, false, |s| parse_member(s).map(Some))
    }

    fn matcher(&mut self, f: MatchFields<'_>) -> Matcher {
        Matcher {
            protocols: self.list(f.protocol, "protocol", true, parse_protocol),
            from: self.members(f.from, "from"),
            to: self.members(f.to, "to"),
            ports: self.list(f.ports, "ports", true, parse_port_range),
            src_ports: self.list(f.src_ports, "src_ports", true, parse_port_range),
            dscp: self.list(f.dscp, "dscp", true, parse_dscp),
        }
    }

    fn apps(
        &mut self,
        v: Option<&Items>,
        known: &BTreeMap<String, (Matcher, Location)>,
    ) -> Vec<String> {
        let Some(v) = v else { return Vec::new() };
        let names = self.strings(v, "app", false);
        for n in &names {
            if !known.contains_key(n) {
                let list = known.keys().cloned().collect::<Vec<_>>().join(", ");
                self.err(v.span(), format!("unknown app {n:?} (defined: {list})"));
            }
        }
        names
    }

    fn duration(&mut self, v: Option<&Spanned<String>>) -> Option<std::time::Duration> {
        let v = v?;
        match parse_duration(v.get_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(v.span(), e.to_string());
                None
            }
        }
    }

    pub(crate) fn priority(&mut self, v: Option<&Spanned<i64>>, default: i64) -> i64 {
        match v {
            Some(p) if !(0..=1_000_000).contains(p.get_ref()) => {
                self.err(p.span(), "priority must be between 0 and 1000000 (lower runs first)");
                default
            }
            Some(p) => *p.get_ref(),
            None => default,
        }
    }

    fn known_class(&mut self, v: &Spanned<String>, classes: &BTreeMap<String, ClassDef>) -> bool {
        if classes.contains_key(v.get_ref()) {
            return true;
        }
        let list = classes.keys().cloned().collect::<Vec<_>>().join(", ");
        self.err(v.span(), format!("unknown class {:?} (defined: {list})", v.get_ref()));
        false
    }
}

/// Parses `any`, `site:NAME`, `role:NAME`, `region:NAME`, `group:NAME`,
/// `segment:NAME` or a prefix.
pub(crate) fn parse_member(s: &str) -> Result<Member, String> {
    if s == "any" {
        return Ok(Member::Any);
    }
    // An IPv6 prefix (`abcd::/16`, `::/0`) has colons too: addresses first.
    let is_address = s.split('/').next().is_some_and(|a| a.parse::<std::net::IpAddr>().is_ok());
    let kind_and_name = s
        .split_once(':')
        .filter(|(k, _)| !is_address && !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase()));
    if let Some((kind, name)) = kind_and_name {
        if name.is_empty() {
            return Err(format!("{s:?} names no {kind}"));
        }
        let name = name.to_owned();
        return match kind {
            "site" => Ok(Member::Site(name)),
            "role" => Ok(Member::Role(name)),
            "region" => Ok(Member::Region(name)),
            "group" => Ok(Member::Group(name)),
            "segment" => Ok(Member::Segment(name)),
            _ => Err(format!(
                "{s:?}: unknown kind {kind:?} (use site:, role:, region:, group:, segment:, a prefix or any)"
            )),
        };
    }
    IpPrefix::parse_strict(s).map(Member::Prefix).map_err(|e| e.to_string())
}

fn parse_protocol(s: &str) -> Result<Option<Span<u8>>, String> {
    if s == "any" {
        return Ok(None);
    }
    IpProtocol::parse(s)
        .map(|p| Some(Span::one(p.0)))
        .ok_or_else(|| format!("{s:?} is not a protocol (tcp, udp, icmp, icmpv6, any or 0-255)"))
}

/// Parses `443`, `5060-5070` or `any`.
pub(crate) fn parse_port_range(s: &str) -> Result<Option<Span<u16>>, String> {
    if s == "any" {
        return Ok(None);
    }
    let num =
        |t: &str| t.trim().parse::<u16>().map_err(|_| format!("{t:?} is not a port (0-65535)"));
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(s)?, num(s)?),
    };
    Span::new(lo, hi).map(Some).ok_or_else(|| format!("port range {s:?} runs backwards"))
}

/// Parses a DSCP number (0-63) or name (`ef`, `cs0`-`cs7`, `af11`-`af43`, `va`, `le`).
fn parse_dscp(s: &str) -> Result<Option<Span<u8>>, String> {
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "any" => return Ok(None),
        "ef" => 46,
        "va" => 44,
        "le" => 1,
        n if n.starts_with("cs") && n.len() == 3 => n[2..]
            .parse::<u8>()
            .ok()
            .filter(|c| *c <= 7)
            .map(|c| c * 8)
            .ok_or_else(|| bad_dscp(s))?,
        n if n.starts_with("af") && n.len() == 4 => {
            let (x, y) = (n.as_bytes()[2], n.as_bytes()[3]);
            if !(b'1'..=b'4').contains(&x) || !(b'1'..=b'3').contains(&y) {
                return Err(bad_dscp(s));
            }
            (x - b'0') * 8 + (y - b'0') * 2
        }
        n => n.parse::<u8>().ok().filter(|v| *v <= 63).ok_or_else(|| bad_dscp(s))?,
    };
    Ok(Some(Span::one(v)))
}

fn bad_dscp(s: &str) -> String {
    format!("{s:?} is not a DSCP value (0-63, ef, va, le, cs0-cs7, af11-af43)")
}

pub(crate) fn name_or(
    c: &Checker<'_>,
    given: Option<&Spanned<String>>,
    kind: &str,
    i: usize,
) -> String {
    let _ = c;
    given.map_or_else(|| format!("{kind}[{}]", i + 1), |n| n.get_ref().clone())
}

/// Validates a parsed document.
pub(crate) fn validate(c: &mut Checker<'_>, raw: &RawDocument) -> Document {
    let header = raw.policy.get_ref();
    let default_action = match &header.default {
        None => {
            c.err(
                raw.policy.span(),
                "[policy] needs `default = \"allow\"` or `default = \"deny\"`: the verdict for flows no ACL matches is never implicit",
            );
            Action::Deny
        }
        Some(d) => match d.get_ref().as_str() {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            other => {
                c.err(d.span(), format!("default must be \"allow\" or \"deny\", not {other:?}"));
                Action::Deny
            }
        },
    };

    let mut sites = BTreeMap::new();
    for (name, s) in &raw.sites {
        let mut prefixes = Vec::new();
        for p in &s.prefixes {
            match IpPrefix::parse_strict(p.get_ref()) {
                Ok(x) => prefixes.push(x),
                Err(e) => c.err(p.span(), e.to_string()),
            }
        }
        let info = SiteInfo {
            prefixes,
            role: s.role.as_ref().map(|r| r.get_ref().clone()),
            region: s.region.as_ref().map(|r| r.get_ref().clone()),
            uplinks: s.uplinks.iter().map(|u| u.get_ref().clone()).collect(),
        };
        sites.insert(name.get_ref().clone(), info);
    }

    let mut classes: BTreeMap<String, ClassDef> = SlaClass::builtins()
        .into_iter()
        .map(|sla| {
            let probe_interval =
                (sla.name == "realtime").then(|| std::time::Duration::from_millis(20));
            (
                sla.name.clone(),
                ClassDef {
                    qos: ClassQos::default_for(&sla.name),
                    sla,
                    fallback: Fallback::BestOfTheBad,
                    probe_interval,
                    at: None,
                },
            )
        })
        .collect();
    for (name, rc) in &raw.classes {
        let mut def = classes.get(name.get_ref()).cloned().unwrap_or_else(|| ClassDef {
            sla: SlaClass { name: name.get_ref().clone(), ..SlaClass::best_effort() },
            fallback: Fallback::BestOfTheBad,
            probe_interval: None,
            qos: ClassQos::default_for(name.get_ref()),
            at: None,
        });
        def.at = Some(c.loc(&name.span()));
        if rc.max_latency.is_some() {
            def.sla.max_latency = c.duration(rc.max_latency.as_ref());
        }
        if rc.max_jitter.is_some() {
            def.sla.max_jitter = c.duration(rc.max_jitter.as_ref());
        }
        if let Some(l) = &rc.max_loss {
            match Ratio::parse(l.get_ref()) {
                Ok(r) => def.sla.max_loss = Some(r),
                Err(e) => c.err(l.span(), e.to_string()),
            }
        }
        if let Some(w) = &rc.loss_window {
            match w.get_ref().as_str() {
                "short" => def.sla.loss_window = LossWindow::Short,
                "long" => def.sla.loss_window = LossWindow::Long,
                o => {
                    c.err(
                        w.span(),
                        format!("loss_window must be \"short\" or \"long\", not {o:?}"),
                    );
                }
            }
        }
        if let Some(f) = &rc.fallback {
            match f.get_ref().as_str() {
                "best-of-the-bad" => def.fallback = Fallback::BestOfTheBad,
                "strict-drop" => def.fallback = Fallback::StrictDrop,
                o => c.err(
                    f.span(),
                    format!("fallback must be \"best-of-the-bad\" or \"strict-drop\", not {o:?}"),
                ),
            }
        }
        if rc.probe_interval.is_some() {
            def.probe_interval = c.duration(rc.probe_interval.as_ref());
        }
        class_qos(c, rc, &mut def.qos);
        classes.insert(name.get_ref().clone(), def);
    }
    let default_class = match &header.default_class {
        Some(dc) if c.known_class(dc, &classes) => dc.get_ref().clone(),
        _ => "best-effort".to_owned(),
    };

    let mut groups = BTreeMap::new();
    for (name, members) in &raw.groups {
        let mut list = Vec::new();
        for m in members.get_ref() {
            match parse_member(m.get_ref()) {
                Ok(x) => list.push(x),
                Err(e) => c.err(m.span(), e),
            }
        }
        groups.insert(name.get_ref().clone(), (list, c.loc(&name.span())));
    }
    let mut segments = Vec::new();
    for (name, s) in &raw.segments {
        let mut members = Vec::new();
        for m in s.members.get_ref() {
            match parse_member(m.get_ref()) {
                Ok(x) => members.push(x),
                Err(e) => c.err(m.span(), e),
            }
        }
        segments.push(Segment {
            name: name.get_ref().clone(),
            members,
            isolated: s.isolated,
            priority: c.priority(s.priority.as_ref(), DEFAULT_SEGMENT_PRIORITY),
            at: c.loc(&name.span()),
        });
    }

    let mut apps = BTreeMap::new();
    for (name, m) in &raw.apps {
        let matcher = c.matcher(m.get_ref().fields());
        apps.insert(name.get_ref().clone(), (matcher, c.loc(&name.span())));
    }

    let mut routes = Vec::new();
    for (i, r) in raw.route.iter().enumerate() {
        let at = c.loc(&r.span());
        let r = r.get_ref();
        let class = match &r.class {
            Some(cl) if c.known_class(cl, &classes) => cl.get_ref().clone(),
            Some(_) => default_class.clone(),
            None => {
                c.err(raw.route[i].span(), "a route needs `class = ...`");
                default_class.clone()
            }
        };
        let weights = r.weights.as_ref().and_then(|w| {
            let raw = w.get_ref();
            let get = |v: Option<f64>| v.unwrap_or(0.0);
            let weights = weft_path::Weights {
                latency: get(raw.latency),
                jitter: get(raw.jitter),
                loss: get(raw.loss),
                bandwidth: get(raw.bandwidth),
                cost: get(raw.cost),
            };
            let all =
                [weights.latency, weights.jitter, weights.loss, weights.bandwidth, weights.cost];
            if all.iter().any(|x| !x.is_finite() || *x < 0.0) || all.iter().all(|x| *x == 0.0) {
                c.err(w.span(), "weights must be non-negative numbers, at least one above 0");
                return None;
            }
            Some(weights)
        });
        let prefer = r.prefer.as_ref().and_then(|p| {
            if p.get_ref() == "weighted" {
                if r.weights.is_none() {
                    c.err(p.span(), "prefer = \"weighted\" needs a weights table, e.g. weights = { latency = 0.6, cost = 0.4 }");
                }
                return Some(p.get_ref().clone());
            }
            if r.weights.is_some() {
                c.err(p.span(), "a weights table goes with prefer = \"weighted\" (or no prefer at all)");
            }
            if parse_preference(p.get_ref()).is_none() {
                c.err(p.span(), format!("unknown preference {:?} (one of {PREFERENCES})", p.get_ref()));
                return None;
            }
            Some(p.get_ref().clone())
        });
        let balance = r.balance.as_ref().map_or(weft_path::LoadBalance::ActiveBackup, |b| {
            parse_balance(b.get_ref()).unwrap_or_else(|| {
                c.err(
                    b.span(),
                    format!(
                        "unknown balance {:?} (active-backup, weighted, flow-hash, least-loaded)",
                        b.get_ref()
                    ),
                );
                weft_path::LoadBalance::ActiveBackup
            })
        });
        let names = |v: &Option<Vec<Spanned<String>>>| {
            v.iter().flatten().map(|s| s.get_ref().clone()).collect::<Vec<_>>()
        };
        let profile = RouteProfile {
            class,
            prefer,
            weights,
            balance,
            uplinks: names(&r.uplinks),
            exclude_uplinks: names(&r.exclude_uplinks),
            avoid_metered: r.avoid_metered,
        };
        for u in r.uplinks.iter().flatten() {
            if profile.exclude_uplinks.contains(u.get_ref()) {
                c.err(u.span(), format!("uplink {:?} is both preferred and excluded", u.get_ref()));
            }
        }
        let matches =
            RuleMatch { apps: c.apps(r.app.as_ref(), &apps), inline: c.matcher(r.fields()) };
        routes.push(RouteRule {
            name: name_or(c, r.name.as_ref(), "route", i),
            priority: c.priority(r.priority.as_ref(), DEFAULT_PRIORITY),
            matches,
            profile,
            at,
        });
    }

    let mut acls = Vec::new();
    for (i, a) in raw.acl.iter().enumerate() {
        let at = c.loc(&a.span());
        let a = a.get_ref();
        let action = match a.action.get_ref().as_str() {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            o => {
                c.err(a.action.span(), format!("action must be \"allow\" or \"deny\", not {o:?}"));
                Action::Deny
            }
        };
        let matches =
            RuleMatch { apps: c.apps(a.app.as_ref(), &apps), inline: c.matcher(a.fields()) };
        acls.push(AclRule {
            name: name_or(c, a.name.as_ref(), "acl", i),
            action,
            priority: c.priority(a.priority.as_ref(), DEFAULT_PRIORITY),
            matches,
            at,
            origin: AclOrigin::File,
        });
    }
    for s in segments.iter().filter(|s| s.isolated) {
        let me = vec![Member::Segment(s.name.clone())];
        let rule = |name: String, action, priority, from: Vec<Member>, to: Vec<Member>| AclRule {
            name,
            action,
            priority,
            matches: RuleMatch {
                apps: Vec::new(),
                inline: Matcher { from, to, ..Matcher::default() },
            },
            at: s.at,
            origin: AclOrigin::Segment(s.name.clone()),
        };
        let within = s.priority.saturating_sub(1);
        acls.push(rule(
            format!("segment {} (within)", s.name),
            Action::Allow,
            within,
            me.clone(),
            me.clone(),
        ));
        acls.push(rule(
            format!("segment {} (isolation, out)", s.name),
            Action::Deny,
            s.priority,
            me.clone(),
            Vec::new(),
        ));
        acls.push(rule(
            format!("segment {} (isolation, in)", s.name),
            Action::Deny,
            s.priority,
            Vec::new(),
            me,
        ));
    }

    let mut tests = Vec::new();
    for (i, t) in raw.test.iter().enumerate() {
        let at = c.loc(&t.span());
        let span = t.span();
        let t = t.get_ref();
        let expect = t.expect.as_ref().and_then(|e| match e.get_ref().as_str() {
            "allow" => Some(Action::Allow),
            "deny" => Some(Action::Deny),
            o => {
                c.err(e.span(), format!("expect must be \"allow\" or \"deny\", not {o:?}"));
                None
            }
        });
        let class = t
            .class
            .as_ref()
            .filter(|cl| c.known_class(cl, &classes))
            .map(|cl| cl.get_ref().clone());
        let names = |v: &Option<Vec<Spanned<String>>>| {
            v.iter().flatten().map(|s| s.get_ref().clone()).collect::<Vec<_>>()
        };
        if expect.is_none() && class.is_none() && t.via.is_none() && t.never_via.is_none() {
            c.err(span.clone(), "a test needs at least one of expect, class, via, never_via");
        }
        let matches =
            RuleMatch { apps: c.apps(t.app.as_ref(), &apps), inline: c.matcher(t.fields()) };
        tests.push(PolicyTest {
            name: name_or(c, t.name.as_ref(), "test", i),
            matches,
            expect,
            class,
            via: names(&t.via),
            never_via: names(&t.never_via),
            at,
        });
    }

    let (identity, identity_tests) = crate::validate_identity::validate(c, raw);
    check_duplicates(c, raw);
    Document {
        file: c.file.to_owned(),
        name: header.name.as_ref().map_or_else(|| "policy".to_owned(), |n| n.get_ref().clone()),
        description: header.description.clone().unwrap_or_default(),
        default_action,
        default_class,
        sites,
        groups,
        segments,
        classes,
        apps,
        routes,
        acls,
        tests,
        identity,
        identity_tests,
    }
}

/// Names used twice among ACLs, routes or tests, and groups shadowing segments.
fn check_duplicates(c: &mut Checker<'_>, raw: &RawDocument) {
    let mut seen: std::collections::BTreeSet<(&str, String)> = std::collections::BTreeSet::new();
    let names = raw
        .acl
        .iter()
        .filter_map(|a| a.get_ref().name.as_ref().map(|n| ("acl", n)))
        .chain(raw.route.iter().filter_map(|r| r.get_ref().name.as_ref().map(|n| ("route", n))))
        .chain(raw.test.iter().filter_map(|t| t.get_ref().name.as_ref().map(|n| ("test", n))));
    for (kind, n) in names {
        if !seen.insert((kind, n.get_ref().clone())) {
            c.err(n.span(), format!("a second {kind} named {:?}", n.get_ref()));
        }
    }
    for g in raw.groups.keys() {
        if raw.segments.keys().any(|s| s.get_ref() == g.get_ref()) {
            c.err(g.span(), format!("{:?} is both a group and a segment", g.get_ref()));
        }
    }
}

/// The scheduler fields of `[classes.NAME]` over the class's defaults.
fn class_qos(c: &mut Checker<'_>, rc: &crate::raw::RawClass, qos: &mut ClassQos) {
    if let Some(q) = &rc.queue {
        match q.get_ref().as_str() {
            "priority" => qos.priority = true,
            "weighted" => qos.priority = false,
            o => c.err(q.span(), format!("queue must be \"priority\" or \"weighted\", not {o:?}")),
        }
    }
    if let Some(w) = &rc.weight {
        match u32::try_from(*w.get_ref()) {
            Ok(v) if (1..=100).contains(&v) => qos.weight = v,
            _ => c.err(w.span(), "weight must be 1..=100"),
        }
    }
    if let Some(d) = &rc.dscp {
        match u8::try_from(*d.get_ref()) {
            Ok(v) if v <= 63 => qos.dscp = v,
            _ => c.err(d.span(), "dscp must be 0..=63"),
        }
    }
    if let Some(ceiling) = &rc.ceiling {
        match weft_types::Bandwidth::parse(ceiling.get_ref()) {
            Ok(b) if b.bps() > 0 => qos.ceiling_bps = Some(b.bps()),
            Ok(_) => c.err(ceiling.span(), "ceiling must be above 0"),
            Err(e) => c.err(ceiling.span(), e.to_string()),
        }
    }
}
