//! `[scenario]`, `[topology]` and `[[flow]]`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use toml::Spanned;
use weft_types::{SiteId, UplinkId};

use super::Header;
use super::check::{Checker, Context};
use super::raw::{Poly, RawFlow, RawLinkOverride, RawScenario, RawTopology, Text, When};
use crate::scenario::{DEFAULT_PPS, DEFAULT_SEEDS, Flow, LinkProfile, Mode, Topology};

const MAX_SITES: i64 = 10_000;
const MAX_UPLINKS: i64 = 16;

pub(crate) fn header(c: &mut Checker<'_>, raw: &RawScenario) -> Option<Header> {
    let name = raw.name.get_ref();
    let slug = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !slug {
        let msg = "the scenario name is 1 to 100 letters, digits, '-', '_' or '.' \
                   (it names reports and test cases)";
        c.err(raw.name.span(), msg);
    }
    let duration = c.positive(&raw.duration, "duration");
    let seeds = match &raw.seeds {
        Some(s) => c.int(s, 1..=1_000_000, "seeds").map(|n| n as u32),
        None => Some(DEFAULT_SEEDS),
    };
    let (duration, seeds) = (duration?, seeds?);
    slug.then(|| Header {
        name: name.clone(),
        description: raw.description.clone(),
        duration,
        seeds,
    })
}

pub(crate) fn topology(c: &mut Checker<'_>, raw: &RawTopology) -> Option<Topology> {
    let sites = site_names(c, &raw.sites)?;
    let uplinks = match &raw.uplinks {
        Some(u) => c.int(u, 1..=MAX_UPLINKS, "uplinks")? as u16,
        None => 1,
    };
    let mode = match &raw.mode {
        None => Mode::FullMesh,
        Some(m) => match m.get_ref().as_str() {
            "full-mesh" => Mode::FullMesh,
            "hub-spoke" => Mode::HubSpoke,
            other => {
                c.err(
                    m.span(),
                    format!("unknown mode {other:?}: use \"full-mesh\" or \"hub-spoke\""),
                );
                return None;
            }
        },
    };
    let mut topology = Topology {
        sites,
        uplinks,
        mode,
        hubs: Vec::new(),
        default_link: LinkProfile::default(),
        overrides: BTreeMap::new(),
    };
    topology.hubs = hubs(c, raw, &topology)?;
    let d = raw.default_link.as_ref();
    topology.default_link = profile(
        c,
        LinkProfile::default(),
        [d.and_then(|d| d.delay.as_ref()), d.and_then(|d| d.jitter.as_ref())],
        d.and_then(|d| d.loss.as_ref()),
        d.and_then(|d| d.rate.as_ref()),
    )?;
    let mut ok = true;
    for o in &raw.link {
        ok &= link_override(c, &mut topology, o).is_some();
    }
    ok.then_some(topology)
}

fn site_names(c: &mut Checker<'_>, v: &Spanned<Poly<String>>) -> Option<Vec<SiteId>> {
    let expected = "`sites` is a count (sites = 20 makes s0 to s19) or a list of names";
    let names = match v.get_ref() {
        Poly::Int(n) if (2..=MAX_SITES).contains(n) => {
            return Some((0..*n).map(|i| SiteId::new(&format!("s{i}")).expect("valid")).collect());
        }
        Poly::Int(n) => {
            c.err(v.span(), format!("`sites` = {n} is out of range (2..={MAX_SITES})"));
            return None;
        }
        Poly::List(names) if names.len() >= 2 => names,
        Poly::List(_) => {
            c.err(v.span(), "a mesh needs at least two sites");
            return None;
        }
        Poly::Float(_) | Poly::Text(_) => {
            c.err(v.span(), expected);
            return None;
        }
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for n in names {
        match SiteId::new(n.get_ref()) {
            Ok(id) if seen.insert(id.clone()) => out.push(id),
            Ok(id) => c.err(n.span(), format!("site {id} is listed twice")),
            Err(e) => c.err(n.span(), e.to_string()),
        }
    }
    (out.len() == names.len()).then_some(out)
}

fn hubs(c: &mut Checker<'_>, raw: &RawTopology, t: &Topology) -> Option<Vec<SiteId>> {
    if t.mode == Mode::FullMesh {
        for span in
            [raw.hubs.as_ref().map(Spanned::span), raw.hub_count.as_ref().map(Spanned::span)]
                .into_iter()
                .flatten()
        {
            c.err(span, "hubs only apply to mode = \"hub-spoke\"");
        }
        return (raw.hubs.is_none() && raw.hub_count.is_none()).then(Vec::new);
    }
    let max = i64::try_from(t.sites.len()).unwrap_or(i64::MAX) - 1;
    match (&raw.hubs, &raw.hub_count) {
        (Some(_), Some(n)) => {
            c.err(n.span(), "give `hubs` or `hub_count`, not both");
            None
        }
        (None, None) => Some(t.sites[..1].to_vec()),
        (None, Some(n)) => {
            let n = c.int(n, 1..=max, "hub_count")?;
            Some(t.sites[..n as usize].to_vec())
        }
        (Some(list), None) => {
            let mut out: Vec<SiteId> = Vec::new();
            let mut ok = true;
            for h in list.get_ref() {
                match c.site(h, t) {
                    Some(s) if out.contains(&s) => {
                        c.err(h.span(), format!("hub {s} is listed twice"));
                        ok = false;
                    }
                    Some(s) => out.push(s),
                    None => ok = false,
                }
            }
            if ok && (out.is_empty() || out.len() >= t.sites.len()) {
                c.err(
                    list.span(),
                    format!("list 1 to {max} hubs: a hub-spoke mesh needs a hub and a spoke"),
                );
                ok = false;
            }
            ok.then_some(out)
        }
    }
}

/// `base` with the fields given (`[delay, jitter]`, loss, rate) replaced.
fn profile(
    c: &mut Checker<'_>,
    base: LinkProfile,
    [delay, jitter]: [Option<&When>; 2],
    loss: Option<&Spanned<Poly<String>>>,
    rate: Option<&Text>,
) -> Option<LinkProfile> {
    let mut p = base;
    let mut ok = true;
    if let Some(d) = delay {
        ok &= c.duration(d).map(|d| p.delay = d).is_some();
    }
    if let Some(j) = jitter {
        ok &= c.duration(j).map(|j| p.jitter = j).is_some();
    }
    if let Some(l) = loss {
        ok &= c.percent(l, "loss").map(|l| p.loss = l).is_some();
    }
    if let Some(r) = rate {
        ok &= c.rate(r).map(|r| p.rate = Some(r)).is_some();
    }
    ok.then_some(p)
}

fn link_override(
    c: &mut Checker<'_>,
    t: &mut Topology,
    o: &Spanned<RawLinkOverride>,
) -> Option<()> {
    let raw = o.get_ref();
    let site = c.site(&raw.site, t);
    let uplink =
        c.int(&raw.uplink, 0..=i64::from(t.uplinks) - 1, "uplink").map(|u| UplinkId(u as u16));
    let p = profile(
        c,
        t.default_link,
        [raw.delay.as_ref(), raw.jitter.as_ref()],
        raw.loss.as_ref(),
        raw.rate.as_ref(),
    )?;
    let key = (site?, uplink?);
    if t.overrides.contains_key(&key) {
        c.err(o.span(), format!("{} uplink {} is overridden twice", key.0, key.1.0));
        return None;
    }
    t.overrides.insert(key, p);
    Some(())
}

pub(crate) fn flows(c: &mut Checker<'_>, cx: &Context<'_>, raw: &[Spanned<RawFlow>]) -> Vec<Flow> {
    let mut out: Vec<Flow> = Vec::new();
    for f in raw {
        let f = f.get_ref();
        let name = c.name(&f.name, "flow");
        if let Some(n) = &name
            && out.iter().any(|o| &o.name == n)
        {
            c.err(f.name.span(), format!("a flow named {n:?} is already defined"));
        }
        let from = c.site(&f.from, cx.topology);
        let to = c.site(&f.to, cx.topology);
        if from.is_some() && from == to {
            c.err(f.to.span(), "a flow goes from one site to another: `to` equals `from`");
        }
        let class = c.class(&f.class);
        let pps =
            f.pps.as_ref().map_or(Some(i64::from(DEFAULT_PPS)), |p| c.int(p, 1..=1_000_000, "pps"));
        let start =
            f.start.as_ref().map_or(Some(Duration::ZERO), |s| c.time(s, "start", cx.run_end));
        let stop = f.stop.as_ref().map_or(Some(cx.run_end), |s| c.time(s, "stop", cx.run_end));
        if let (Some(a), Some(b)) = (start, stop)
            && a >= b
        {
            c.err(
                f.stop.as_ref().map_or(f.name.span(), Spanned::span),
                "`stop` must come after `start`",
            );
        }
        if let (Some(name), Some(from), Some(to), Some(class), Some(pps), Some(start), Some(stop)) =
            (name, from, to, class, pps, start, stop)
        {
            out.push(Flow { name, from, to, class, pps: pps as u32, start, stop });
        }
    }
    out
}
