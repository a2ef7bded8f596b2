//! `[[fault]]`: one flat table per fault; `kind` says which keys apply.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use weft_types::{Ratio, SiteId};

use super::check::{Checker, Context};
use super::raw::{DurationText, Poly, RawFault};
use crate::duration::{format_duration, parse_duration};
use crate::scenario::{Fault, FaultKind, RandomLinkFailures};

/// Kind → the keys it takes besides `name`, `at` and `kind`.
const KINDS: &[(&str, &[&str])] = &[
    ("uplink-down", &["for", "site", "uplink"]),
    ("brownout", &["for", "site", "uplink", "loss", "delay", "jitter"]),
    ("flap", &["for", "site", "uplink", "down", "every"]),
    ("partition", &["for", "groups"]),
    ("crash", &["for", "site"]),
    ("crash-leader", &["for"]),
    ("delay", &["for", "site", "uplink", "delay"]),
    ("random-link-failures", &["count", "over", "lasting", "sites"]),
];

pub(crate) fn faults(
    c: &mut Checker<'_>,
    cx: &Context<'_>,
    raw: &[Spanned<RawFault>],
) -> Vec<Fault> {
    let mut out: Vec<Fault> = Vec::new();
    for (i, f) in raw.iter().enumerate() {
        let Some(fault) = fault(c, cx, f, i + 1) else { continue };
        if out.iter().any(|o| o.name == fault.name) {
            let span = f.get_ref().name.as_ref().map_or(f.span(), Spanned::span);
            c.err(span, format!("a fault named {:?} is already defined", fault.name));
            continue;
        }
        out.push(fault);
    }
    out
}

fn fault(
    c: &mut Checker<'_>,
    cx: &Context<'_>,
    f: &Spanned<RawFault>,
    position: usize,
) -> Option<Fault> {
    let (table, f) = (f.span(), f.get_ref());
    let kind = f.kind.get_ref().as_str();
    let Some((_, allowed)) = KINDS.iter().find(|(k, _)| *k == kind) else {
        let kinds = KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
        c.err(f.kind.span(), format!("unknown fault kind {kind:?}: use one of {kinds}"));
        return None;
    };
    c.only(kind, &f.present(), allowed);
    let name = match &f.name {
        Some(n) => {
            let name = c.name(n, "fault")?;
            if parse_duration(&name).is_ok() {
                c.err(n.span(), "a fault name must not read as a time (`after` takes either)");
                return None;
            }
            Some(name)
        }
        None => Some(format!("{kind}#{position}")),
    };
    let at = c.time(&f.at, "at", cx.run_end)?;
    if at >= cx.run_end {
        c.err(f.at.span(), "a fault must start before the end of the run");
        return None;
    }
    let duration = match &f.for_ {
        Some(d) => {
            let d = c.positive(d, "for")?;
            if at + d > cx.run_end {
                let msg = format!(
                    "the fault would end at {}, after the end of the run ({}): shorten `for`",
                    format_duration(at + d),
                    format_duration(cx.run_end)
                );
                c.err(f.for_.as_ref().map_or(table.clone(), Spanned::span), msg);
                return None;
            }
            Some(d)
        }
        None => None,
    };
    let kind = kind_of(c, cx, f, &table, kind, at)?;
    Some(Fault { name: name?, at, duration, kind })
}

fn kind_of(
    c: &mut Checker<'_>,
    cx: &Context<'_>,
    f: &RawFault,
    table: &Range<usize>,
    kind: &str,
    at: Duration,
) -> Option<FaultKind> {
    let t = cx.topology;
    let mut site = || -> Option<SiteId> {
        c.need(f.site.as_ref(), table, kind, "site").and_then(|s| c.site(s, t))
    };
    Some(match kind {
        "uplink-down" => {
            let site = site();
            FaultKind::UplinkDown { site: site?, uplinks: c.uplinks(f.uplink.as_ref(), t)? }
        }
        "crash" => FaultKind::Crash { site: site()? },
        "crash-leader" => {
            if cx.control.is_none() {
                c.err(f.kind.span(), "crash-leader needs a [control] table (controllers, store)");
                return None;
            }
            FaultKind::CrashLeader
        }
        "brownout" => {
            let site = site();
            let uplinks = c.uplinks(f.uplink.as_ref(), t);
            let loss = f.loss.as_ref().map_or(Some(Ratio::ZERO), |l| c.percent(l, "loss"));
            let delay = f.delay.as_ref().map_or(Some(Duration::ZERO), |d| c.duration(d));
            let jitter = f.jitter.as_ref().map_or(Some(Duration::ZERO), |d| c.duration(d));
            if f.loss.is_none() && f.delay.is_none() && f.jitter.is_none() {
                c.err(table.clone(), "a brownout needs `loss`, `delay` or `jitter`");
                return None;
            }
            if let (Some(l), Some(raw)) = (loss, &f.loss)
                && l == Ratio::ONE
            {
                c.err(raw.span(), "100% loss is an outage: use kind = \"uplink-down\"");
                return None;
            }
            FaultKind::Brownout {
                site: site?,
                uplinks: uplinks?,
                loss: loss?,
                delay: delay?,
                jitter: jitter?,
            }
        }
        "flap" => {
            let site = site();
            let uplinks = c.uplinks(f.uplink.as_ref(), t);
            let down =
                c.need(f.down.as_ref(), table, kind, "down").and_then(|d| c.positive(d, "down"));
            let every =
                c.need(f.every.as_ref(), table, kind, "every").and_then(|d| c.positive(d, "every"));
            if let (Some(d), Some(e)) = (down, every)
                && d >= e
            {
                let msg =
                    "`down` must be shorter than `every` (the uplink comes back between outages)";
                c.err(f.down.as_ref().map_or(table.clone(), Spanned::span), msg);
                return None;
            }
            FaultKind::Flap { site: site?, uplinks: uplinks?, down: down?, every: every? }
        }
        "delay" => {
            let site = site();
            let uplinks = c.uplinks(f.uplink.as_ref(), t);
            let delay =
                c.need(f.delay.as_ref(), table, kind, "delay").and_then(|d| c.positive(d, "delay"));
            FaultKind::Delay { site: site?, uplinks: uplinks?, delay: delay? }
        }
        "partition" => partition(c, cx, f, table)?,
        _ => random(c, cx, f, table, at)?,
    })
}

fn partition(
    c: &mut Checker<'_>,
    cx: &Context<'_>,
    f: &RawFault,
    table: &Range<usize>,
) -> Option<FaultKind> {
    let raw = c.need(f.groups.as_ref(), table, "partition", "groups")?;
    let mut groups: Vec<Vec<SiteId>> = Vec::new();
    let mut ok = true;
    for g in raw.get_ref() {
        let Some(group) = c.site_set(g, cx.topology) else {
            ok = false;
            continue;
        };
        if let Some(twice) = group.iter().find(|s| groups.iter().any(|o| o.contains(s))) {
            c.err(g.span(), format!("site {twice} is in two groups"));
            ok = false;
        }
        groups.push(group);
    }
    if !ok {
        return None;
    }
    let rest: Vec<SiteId> = cx
        .topology
        .sites
        .iter()
        .filter(|s| !groups.iter().any(|g| g.contains(s)))
        .cloned()
        .collect();
    if !rest.is_empty() {
        groups.push(rest);
    }
    if groups.len() < 2 {
        c.err(raw.span(), "a partition needs two sides: these groups hold every site together");
        return None;
    }
    Some(FaultKind::Partition { groups })
}

fn random(
    c: &mut Checker<'_>,
    cx: &Context<'_>,
    f: &RawFault,
    table: &Range<usize>,
    at: Duration,
) -> Option<FaultKind> {
    let kind = "random-link-failures";
    let count =
        c.need(f.count.as_ref(), table, kind, "count").and_then(|n| c.int(n, 1..=100_000, "count"));
    let over = c.need(f.over.as_ref(), table, kind, "over").and_then(|d| c.positive(d, "over"));
    if let (Some(over), Some(raw)) = (over, &f.over)
        && at + over > cx.run_end
    {
        let msg = format!(
            "the window ends at {}, after the end of the run ({})",
            format_duration(at + over),
            format_duration(cx.run_end)
        );
        c.err(raw.span(), msg);
        return None;
    }
    let lasting = c.need(f.lasting.as_ref(), table, kind, "lasting").and_then(|l| lasting(c, l));
    let sites = match &f.sites {
        Some(s) => c.site_set(s, cx.topology),
        None => Some(cx.topology.sites.clone()),
    };
    let (min_lasting, max_lasting) = lasting?;
    Some(FaultKind::RandomLinkFailures(RandomLinkFailures {
        count: count? as u32,
        over: over?,
        min_lasting,
        max_lasting,
        sites: sites?,
    }))
}

/// `lasting = "5s"` or `["1s", "20s"]` (shortest, longest).
fn lasting(c: &mut Checker<'_>, l: &Spanned<Poly<String>>) -> Option<(Duration, Duration)> {
    match l.get_ref() {
        Poly::Text(s) => {
            let d = c.positive(&DurationText::at(l.span(), s), "lasting")?;
            Some((d, d))
        }
        Poly::List(v) if v.len() == 2 => {
            let [lo, hi] = [&v[0], &v[1]].map(|t| DurationText::at(t.span(), t.get_ref()));
            let (lo, hi) = (c.positive(&lo, "lasting"), c.positive(&hi, "lasting"));
            let (lo, hi) = (lo?, hi?);
            if lo > hi {
                c.err(l.span(), "`lasting` is [shortest, longest]: the first is longer");
                return None;
            }
            Some((lo, hi))
        }
        _ => {
            c.err(l.span(), "`lasting` is a duration (\"5s\") or a range [\"1s\", \"20s\"]");
            None
        }
    }
}
