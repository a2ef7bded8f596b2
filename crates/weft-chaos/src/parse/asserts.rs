//! `[[assert]]`: one flat table per assertion; `kind` says which keys apply.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use weft_types::SiteId;

use super::check::{Checker, Context};
use super::raw::{DurationText, Poly, RawAssert, Text, When};
use crate::duration::format_duration;
use crate::scenario::{After, Assertion, AssertionKind, Fault, Flow, Reachability};

/// Kind → the keys it takes besides `name` and `kind`.
const KINDS: &[(&str, &[&str])] = &[
    ("max-failover-gap", &["class", "flow", "max"]),
    ("converged-within", &["after", "within"]),
    ("no-false-deaths", &[]),
    ("reachability", &["at", "reachable", "unreachable"]),
    ("relay-iff-direct-down", &["flow", "tolerance"]),
    ("max-path-changes", &["flow", "max", "window"]),
    ("max-leader-gap", &["max"]),
    ("single-leader", &[]),
];

pub(crate) fn assertions(
    c: &mut Checker<'_>,
    cx: &Context<'_>,
    flows: &[Flow],
    faults: &[Fault],
    raw: &[Spanned<RawAssert>],
) -> Vec<Assertion> {
    let mut out: Vec<Assertion> = Vec::new();
    for (i, a) in raw.iter().enumerate() {
        let (table, a) = (a.span(), a.get_ref());
        let kind = a.kind.get_ref().as_str();
        let Some((_, allowed)) = KINDS.iter().find(|(k, _)| *k == kind) else {
            let kinds = KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
            c.err(a.kind.span(), format!("unknown assertion kind {kind:?}: use one of {kinds}"));
            continue;
        };
        c.only(kind, &a.present(), allowed);
        let name = match &a.name {
            Some(n) => c.name(n, "assertion"),
            None => Some(format!("{kind}#{}", i + 1)),
        };
        let k = Check { c: &mut *c, cx, flows, faults, a, table: &table, kind };
        let (Some(name), Some(kind)) = (name, k.check()) else { continue };
        if out.iter().any(|o| o.name == name) {
            let span = a.name.as_ref().map_or(table, Spanned::span);
            c.err(span, format!("an assertion named {name:?} is already defined"));
            continue;
        }
        out.push(Assertion { name, kind });
    }
    out
}

/// One assertion being checked.
struct Check<'c, 'a> {
    c: &'c mut Checker<'a>,
    cx: &'c Context<'c>,
    flows: &'c [Flow],
    faults: &'c [Fault],
    a: &'c RawAssert,
    table: &'c Range<usize>,
    kind: &'c str,
}

impl Check<'_, '_> {
    fn check(self) -> Option<AssertionKind> {
        match self.kind {
            "max-failover-gap" => self.failover_gap(),
            "converged-within" => self.converged(),
            "no-false-deaths" => Some(AssertionKind::NoFalseDeaths),
            "max-leader-gap" | "single-leader" if self.cx.control.is_none() => {
                let msg = format!("{} needs a [control] table (controllers, store)", self.kind);
                self.c.err(self.a.kind.span(), msg);
                None
            }
            "single-leader" => Some(AssertionKind::SingleLeader),
            "max-leader-gap" => self.leader_gap(),
            "reachability" => self.reachability(),
            "relay-iff-direct-down" => {
                let mut s = self;
                let flow = s.flow();
                let tolerance = s.need_duration(s.a.tolerance.as_ref(), "tolerance");
                Some(AssertionKind::RelayIffDirectDown { flow: flow.ok()?, tolerance: tolerance? })
            }
            _ => self.path_changes(),
        }
    }

    fn need_duration(&mut self, t: Option<&When>, key: &str) -> Option<Duration> {
        self.c.need(t, self.table, self.kind, key).and_then(|t| self.c.positive(t, key))
    }

    /// The optional `flow`: `Ok(None)` when absent, `Err` (reported) when
    /// it names no flow.
    fn flow(&mut self) -> Result<Option<String>, ()> {
        let Some(f) = &self.a.flow else { return Ok(None) };
        if self.flows.iter().any(|x| &x.name == f.get_ref()) {
            return Ok(Some(f.get_ref().clone()));
        }
        let known = listing("flows", self.flows.iter().map(|x| x.name.as_str()));
        self.c.err(f.span(), format!("unknown flow {:?} ({known})", f.get_ref()));
        Err(())
    }

    fn leader_gap(self) -> Option<AssertionKind> {
        let m = self.c.need(self.a.max.as_ref(), self.table, self.kind, "max")?;
        let max = if let Poly::Text(s) = m.get_ref() {
            self.c.positive(&DurationText::at(m.span(), s), "max")
        } else {
            self.c.err(m.span(), "`max` is the longest time without a leader, e.g. max = \"3s\"");
            None
        };
        Some(AssertionKind::MaxLeaderGap { max: max? })
    }

    fn failover_gap(mut self) -> Option<AssertionKind> {
        let flow = self.flow();
        let class = self.a.class.as_ref().map(|t| self.c.class(t));
        let max = self.c.need(self.a.max.as_ref(), self.table, self.kind, "max").and_then(|m| {
            if let Poly::Text(s) = m.get_ref() {
                self.c.positive(&DurationText::at(m.span(), s), "max")
            } else {
                self.c.err(m.span(), "`max` is the longest gap allowed, e.g. max = \"1s\"");
                None
            }
        });
        let (flow, max) = (flow.ok()?, max?);
        let class = match class {
            Some(c) => Some(c?),
            None => None,
        };
        match (&flow, class) {
            (None, None) => {
                self.c.err(self.table.clone(), "max-failover-gap needs `class`, `flow`, or both");
                return None;
            }
            (Some(f), Some(class))
                if self.flows.iter().any(|x| &x.name == f && x.class != class) =>
            {
                let span = self.a.class.as_ref().map_or(self.table.clone(), Spanned::span);
                self.c.err(span, format!("flow {f:?} is not of class {class}"));
                return None;
            }
            _ => {}
        }
        Some(AssertionKind::MaxFailoverGap { class, flow, max })
    }

    fn converged(mut self) -> Option<AssertionKind> {
        let after =
            self.c.need(self.a.after.as_ref(), self.table, self.kind, "after").and_then(|t| {
                if let Some(f) = self.faults.iter().find(|f| &f.name == t.get_ref()) {
                    return Some(After {
                        fault: Some(f.name.clone()),
                        at: f.settled_at(self.cx.run_end),
                    });
                }
                if crate::duration::parse_duration(t.get_ref()).is_err() {
                    let known = listing("faults", self.faults.iter().map(|f| f.name.as_str()));
                    let msg = format!(
                        "`after` = {:?} is neither a fault ({known}) nor a time",
                        t.get_ref()
                    );
                    self.c.err(t.span(), msg);
                    return None;
                }
                let at = self.c.time(
                    &DurationText::at(t.span(), t.get_ref()),
                    "after",
                    self.cx.run_end,
                )?;
                Some(After { fault: None, at })
            });
        let within = self.need_duration(self.a.within.as_ref(), "within");
        let (after, within) = (after?, within?);
        if after.at + within > self.cx.run_end {
            let msg = format!(
                "converging by {} leaves no time to check it: the run ends at {}",
                format_duration(after.at + within),
                format_duration(self.cx.run_end)
            );
            self.c.err(self.a.within.as_ref().map_or(self.table.clone(), Spanned::span), msg);
            return None;
        }
        Some(AssertionKind::ConvergedWithin { after, within })
    }

    fn path_changes(mut self) -> Option<AssertionKind> {
        let flow = self.flow();
        let max = self.c.need(self.a.max.as_ref(), self.table, self.kind, "max").and_then(|m| {
            match m.get_ref() {
                Poly::Int(n) if (0..=i64::from(u32::MAX)).contains(n) => Some(*n as u32),
                _ => {
                    self.c.err(
                        m.span(),
                        "`max` is the most path changes allowed per window, e.g. max = 3",
                    );
                    None
                }
            }
        });
        let window = self.need_duration(self.a.window.as_ref(), "window");
        if let (Some(w), Some(raw)) = (window, &self.a.window)
            && w > self.cx.run_end
        {
            self.c.err(raw.span(), "the window is longer than the run");
            return None;
        }
        Some(AssertionKind::MaxPathChanges { flow: flow.ok()?, max: max?, window: window? })
    }

    fn reachability(mut self) -> Option<AssertionKind> {
        let at = self
            .c
            .need(self.a.at.as_ref(), self.table, self.kind, "at")
            .and_then(|t| self.c.time(t, "at", self.cx.run_end));
        if self.a.reachable.is_none() && self.a.unreachable.is_none() {
            self.c
                .err(self.table.clone(), "reachability needs `reachable`, `unreachable`, or both");
            return None;
        }
        let sites = &self.cx.topology.sites;
        let mut expect = BTreeMap::new();
        let mut explicit: BTreeSet<(SiteId, SiteId)> = BTreeSet::new();
        let mut ok = true;
        for (value, reachable) in [(&self.a.reachable, true), (&self.a.unreachable, false)] {
            let Some(v) = value else { continue };
            match v.get_ref() {
                Poly::Text(s) if s == "all" => {
                    for (i, a) in sites.iter().enumerate() {
                        for b in &sites[i + 1..] {
                            // The same key order as explicit pairs (smaller first).
                            let key =
                                if a < b { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) };
                            expect.entry(key).or_insert(reachable);
                        }
                    }
                }
                Poly::List(pairs) => {
                    for p in pairs {
                        ok &= self.pair(p, reachable, &mut expect, &mut explicit).is_some();
                    }
                }
                _ => {
                    self.c.err(v.span(), "expected \"all\" or a list of pairs, e.g. [[\"s0\", \"s1\"], [\"s0-s4\", \"s5-s9\"]]");
                    ok = false;
                }
            }
        }
        if matches!(self.a.reachable.as_ref().map(Spanned::get_ref), Some(Poly::Text(_)))
            && matches!(self.a.unreachable.as_ref().map(Spanned::get_ref), Some(Poly::Text(_)))
        {
            self.c.err(self.table.clone(), "`reachable` and `unreachable` cannot both be \"all\"");
            return None;
        }
        if !ok {
            return None;
        }
        Some(AssertionKind::Reachability(Reachability { at: at?, expect }))
    }

    /// One `[A, B]` pair: every site of A against every site of B. Explicit
    /// pairs override "all"; the same pair may not be listed both ways.
    fn pair(
        &mut self,
        p: &Spanned<Vec<Text>>,
        reachable: bool,
        expect: &mut BTreeMap<(SiteId, SiteId), bool>,
        explicit: &mut BTreeSet<(SiteId, SiteId)>,
    ) -> Option<()> {
        let [a, b] = p.get_ref().as_slice() else {
            self.c.err(
                p.span(),
                "a pair is two sites or site sets: [\"s0\", \"s1\"] or [\"s0-s4\", \"s5-s9\"]",
            );
            return None;
        };
        let (a, b) = (self.c.site_expr(a, self.cx.topology), self.c.site_expr(b, self.cx.topology));
        for x in a? {
            for y in b.as_deref()? {
                if x == *y {
                    continue;
                }
                let key = if x < *y { (x.clone(), y.clone()) } else { (y.clone(), x.clone()) };
                let before = expect.insert(key.clone(), reachable);
                if !explicit.insert(key.clone()) && before != Some(reachable) {
                    let msg = format!(
                        "{} and {} are listed both reachable and unreachable",
                        key.0, key.1
                    );
                    self.c.err(p.span(), msg);
                    return None;
                }
            }
        }
        Some(())
    }
}

/// "flows: a, b" or "no flows are defined".
fn listing<'n>(what: &str, names: impl Iterator<Item = &'n str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        format!("no {what} are defined")
    } else {
        format!("{what}: {}", names.join(", "))
    }
}
