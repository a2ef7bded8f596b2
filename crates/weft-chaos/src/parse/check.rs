//! The checker: collects diagnostics and parses the small value types
//! (durations, times, percentages, counts, names, uplinks) with their spans.

use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use weft_types::{Bandwidth, Diagnostic, Ratio, SiteId, UplinkId};

use super::raw::{Poly, Text, When};
use super::sites;
use crate::duration::{format_duration, parse_duration};
use crate::scenario::{Control, Topology, TrafficClass};

/// What the later sections are checked against.
pub(crate) struct Context<'a> {
    pub(crate) topology: &'a Topology,
    /// The run's duration: every time must fall within it.
    pub(crate) run_end: Duration,
    /// The `[control]` table, if the file has a valid one.
    pub(crate) control: Option<&'a Control>,
}

pub(crate) struct Checker<'a> {
    file: &'a Path,
    source: &'a str,
    errors: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(file: &'a Path, source: &'a str) -> Self {
        Self { file, source, errors: Vec::new() }
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub(crate) fn into_errors(self) -> Vec<Diagnostic> {
        self.errors
    }

    /// Records a problem at byte `span` of the file.
    pub(crate) fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.errors.push(Diagnostic::at(self.file, self.source, Some(span), msg));
    }

    /// Records a problem at bytes `inner` of a string value: exactly there when
    /// the string is written without escapes, else at the string.
    pub(crate) fn err_in(&mut self, text: &Text, inner: Range<usize>, msg: impl Into<String>) {
        let span = text.span();
        let written = self.source.get(span.clone()).unwrap_or_default();
        let plain = written.len() == text.get_ref().len() + 2
            && written.get(1..written.len() - 1) == Some(text.get_ref().as_str());
        let at =
            if plain { span.start + 1 + inner.start..span.start + 1 + inner.end } else { span };
        self.err(at, msg);
    }

    pub(crate) fn duration(&mut self, t: &When) -> Option<Duration> {
        parse_duration(t.get_ref().as_str()).map_err(|e| self.err(t.span(), e.to_string())).ok()
    }

    /// A duration that must be more than zero.
    pub(crate) fn positive(&mut self, t: &When, key: &str) -> Option<Duration> {
        let d = self.duration(t)?;
        if d.is_zero() {
            self.err(t.span(), format!("`{key}` must be longer than zero"));
            return None;
        }
        Some(d)
    }

    /// A time within the run: `at`, `start`, `stop`.
    pub(crate) fn time(&mut self, t: &When, key: &str, run_end: Duration) -> Option<Duration> {
        let d = self.duration(t)?;
        if d > run_end {
            let msg = format!(
                "`{key}` = {:?} is after the end of the run ({})",
                t.get_ref().as_str(),
                format_duration(run_end)
            );
            self.err(t.span(), msg);
            return None;
        }
        Some(d)
    }

    pub(crate) fn int(
        &mut self,
        v: &Spanned<i64>,
        range: RangeInclusive<i64>,
        key: &str,
    ) -> Option<i64> {
        let n = *v.get_ref();
        if range.contains(&n) {
            Some(n)
        } else {
            let msg =
                format!("`{key}` = {n} is out of range ({}..={})", range.start(), range.end());
            self.err(v.span(), msg);
            None
        }
    }

    /// A percentage in 0–100: `30`, `0.5` or `"30%"`.
    pub(crate) fn percent(&mut self, v: &Spanned<Poly<String>>, key: &str) -> Option<Ratio> {
        let p = match v.get_ref() {
            Poly::Int(n) => Some(*n as f64),
            Poly::Float(x) => Some(*x),
            Poly::Text(s) => s.strip_suffix('%').and_then(|n| n.trim().parse::<f64>().ok()),
            Poly::List(_) => None,
        };
        match p {
            Some(p) if (0.0..=100.0).contains(&p) => Some(Ratio::from_percent(p)),
            Some(p) => {
                self.err(v.span(), format!("`{key}` = {p}% is not a percentage from 0 to 100"));
                None
            }
            None => {
                let msg =
                    format!("`{key}` is a percentage from 0 to 100, e.g. {key} = 30 or \"30%\"");
                self.err(v.span(), msg);
                None
            }
        }
    }

    pub(crate) fn rate(&mut self, t: &Text) -> Option<Bandwidth> {
        Bandwidth::parse(t.get_ref()).map_err(|e| self.err(t.span(), e.to_string())).ok()
    }

    /// A name of a flow, fault or assertion: not blank, no control characters.
    pub(crate) fn name(&mut self, t: &Text, what: &str) -> Option<String> {
        let s = t.get_ref();
        if s.trim().is_empty() || s.chars().any(char::is_control) {
            self.err(
                t.span(),
                format!("a {what} name must be non-blank, without control characters"),
            );
            return None;
        }
        Some(s.clone())
    }

    /// A site of the topology.
    pub(crate) fn site(&mut self, t: &Text, topology: &Topology) -> Option<SiteId> {
        let found = topology.sites.iter().find(|s| s.as_str() == t.get_ref()).cloned();
        if found.is_none() {
            let sites = sites::describe(&topology.sites);
            self.err(t.span(), format!("unknown site {:?} ({sites})", t.get_ref()));
        }
        found
    }

    /// A traffic class.
    pub(crate) fn class(&mut self, t: &Text) -> Option<TrafficClass> {
        let class = TrafficClass::from_name(t.get_ref());
        if class.is_none() {
            let msg = format!(
                "unknown class {:?}: use realtime, interactive, bulk or best-effort",
                t.get_ref()
            );
            self.err(t.span(), msg);
        }
        class
    }

    /// A set of sites: `"s0-s14"`, `"s0-s4, s9"`, or a list of such strings.
    pub(crate) fn site_set(
        &mut self,
        v: &Spanned<Poly<String>>,
        topology: &Topology,
    ) -> Option<Vec<SiteId>> {
        let texts: Vec<Text> = match v.get_ref() {
            Poly::Text(s) => vec![Spanned::new(v.span(), s.clone())],
            Poly::List(items) => items.clone(),
            Poly::Int(_) | Poly::Float(_) => {
                self.err(v.span(), "expected sites: \"s0-s14\", \"s1, s3\" or [\"s1\", \"s5-s9\"]");
                return None;
            }
        };
        let mut out: Vec<SiteId> = Vec::new();
        let mut ok = true;
        for t in &texts {
            match self.site_expr(t, topology) {
                Some(set) => out.extend(set),
                None => ok = false,
            }
        }
        out.sort();
        out.dedup();
        if ok && out.is_empty() {
            self.err(v.span(), "this set names no site");
            return None;
        }
        ok.then_some(out)
    }

    /// One site-set string (see [`Checker::site_set`]).
    pub(crate) fn site_expr(&mut self, t: &Text, topology: &Topology) -> Option<Vec<SiteId>> {
        sites::resolve(t.get_ref(), &topology.sites)
            .map_err(|(inner, msg)| self.err_in(t, inner, msg))
            .ok()
    }

    /// `uplink = 1`, `[0, 1]` or `"all"` (also when absent).
    pub(crate) fn uplinks(
        &mut self,
        v: Option<&Spanned<Poly<i64>>>,
        topology: &Topology,
    ) -> Option<Vec<UplinkId>> {
        let n = i64::from(topology.uplinks);
        let Some(v) = v else { return Some(topology.uplink_ids().collect()) };
        let expected =
            format!("`uplink` is an uplink number (0..={}), a list of them, or \"all\"", n - 1);
        let mut out = Vec::new();
        match v.get_ref() {
            Poly::Text(s) if s == "all" => return Some(topology.uplink_ids().collect()),
            Poly::Int(i) => out.push(Spanned::new(v.span(), *i)),
            Poly::List(items) if !items.is_empty() => out.clone_from(items),
            _ => {
                self.err(v.span(), expected);
                return None;
            }
        }
        let mut ids = Vec::new();
        let mut bad = false;
        for i in &out {
            if (0..n).contains(i.get_ref()) {
                ids.push(UplinkId(*i.get_ref() as u16));
            } else {
                let msg = format!(
                    "uplink {} does not exist: sites have uplinks 0..={}",
                    i.get_ref(),
                    n - 1
                );
                self.err(i.span(), msg);
                bad = true;
            }
        }
        ids.sort();
        ids.dedup();
        (!bad).then_some(ids)
    }

    /// Refuses the keys in `present` that are not in `allowed` for `kind`.
    pub(crate) fn only(
        &mut self,
        kind: &str,
        present: &[(&'static str, Range<usize>)],
        allowed: &[&str],
    ) {
        for (key, span) in present {
            if !allowed.contains(key) {
                let takes = if allowed.is_empty() {
                    "no other keys".to_owned()
                } else {
                    allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                };
                self.err(
                    span.clone(),
                    format!("`{key}` does not apply to kind {kind:?} (it takes {takes})"),
                );
            }
        }
    }

    /// Records "missing `key`" at `span` (the table) when `v` is `None`.
    pub(crate) fn need<'v, T>(
        &mut self,
        v: Option<&'v T>,
        span: &Range<usize>,
        kind: &str,
        key: &str,
    ) -> Option<&'v T> {
        if v.is_none() {
            self.err(span.clone(), format!("kind {kind:?} needs `{key}`"));
        }
        v
    }
}
