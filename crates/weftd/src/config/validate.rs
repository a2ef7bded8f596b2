//! Semantic checks of a parsed configuration, collecting every problem with
//! its position.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use toml::Spanned;
use weft_path::{EngineConfig, IntervalMode};
use weft_types::{Bandwidth, IpPrefix, IpProtocol, PublicKey, SiteId, parse_duration};

use super::classes::{ClassMap, ClassRule, parse_ports};
use super::raw::{RawConfig, RawPeer, RawProbe, RawUplink};
use super::{
    DEFAULT_API, DEFAULT_INTERFACE, DEFAULT_MTU, DEFAULT_STATE_DIR, Diagnostic, PeerConfig,
    SiteConfig, UplinkConfig,
};

pub(super) struct Checker<'a> {
    path: &'a Path,
    source: &'a str,
    errors: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub(super) fn err<T>(&mut self, at: &Spanned<T>, msg: impl Into<String>) {
        self.errors.push(Diagnostic::at(self.path, self.source, Some(at.span()), msg));
    }

    /// Parses a spanned string with `f`, recording `what` on failure.
    pub(super) fn parse<T, E: std::fmt::Display>(
        &mut self,
        s: &Spanned<String>,
        f: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match f(s.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(s, e.to_string());
                None
            }
        }
    }
}

pub(super) fn validate(
    path: &Path,
    source: &str,
    raw: &RawConfig,
) -> Result<SiteConfig, Vec<Diagnostic>> {
    let mut c = Checker { path, source, errors: Vec::new() };
    let site = &raw.site;
    let name = c.parse(&site.name, SiteId::new);
    let address = c.parse(&site.address, |s| {
        let (addr, _) =
            s.split_once('/').ok_or("address needs a prefix length, e.g. 10.10.1.1/24")?;
        let addr = addr.parse().map_err(|_| format!("{addr:?} is not an IP address"))?;
        let prefix = IpPrefix::parse(s).map_err(|e| e.to_string())?;
        Ok::<_, String>((addr, prefix))
    });
    let prefixes: Vec<IpPrefix> =
        site.prefixes.iter().filter_map(|p| c.parse(p, IpPrefix::parse)).collect();
    let interface = site.interface.as_ref().map_or(DEFAULT_INTERFACE.to_owned(), |i| {
        if i.get_ref().is_empty() || i.get_ref().len() > 15 {
            c.err(i, "interface names are 1 to 15 bytes long");
        }
        i.get_ref().clone()
    });
    let mtu = site.mtu.as_ref().map_or(DEFAULT_MTU, |m| {
        if !(576..=9000).contains(m.get_ref()) {
            c.err(m, format!("mtu {} is out of range (576..=9000)", m.get_ref()));
        }
        *m.get_ref()
    });
    let base = path.parent().unwrap_or(Path::new("."));
    let private_key_file = base.join(site.private_key_file.get_ref());

    if raw.uplink.is_empty() {
        c.errors.push(Diagnostic::at(
            path,
            source,
            Some(site.name.span()),
            "at least one [[uplink]] is needed",
        ));
    }
    let uplinks = uplinks(&mut c, &raw.uplink);
    let peers = peers(&mut c, &raw.peer, &prefixes);
    let classes = classes(&mut c, raw);
    let engine = engine(&mut c, raw.probe.as_ref());
    let mesh = super::mesh::mesh(&mut c, raw.mesh.as_ref(), &uplinks);
    let controller =
        super::controller::controller(&mut c, raw.controller.as_ref(), site.name.get_ref());
    let dns = super::dns::dns(&mut c, raw.dns.as_ref(), site.name.get_ref());
    let api_listen = match raw.api.as_ref().and_then(|a| a.listen.as_ref()) {
        Some(l) => c.parse(l, SocketAddr::from_str),
        None => SocketAddr::from_str(DEFAULT_API).ok(),
    };

    let api_tls = match raw.api.as_ref().map(|a| (&a.tls_cert, &a.tls_key)) {
        Some((Some(cert), Some(key))) => {
            Some((base.join(cert.get_ref()), base.join(key.get_ref())))
        }
        Some((Some(at), None)) => {
            c.err(at, "tls_cert needs tls_key (the certificate's private key, PEM)");
            None
        }
        Some((None, Some(at))) => {
            c.err(at, "tls_key needs tls_cert (the certificate chain, PEM)");
            None
        }
        _ => None,
    };
    let state_dir =
        site.state_dir.as_ref().map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), |d| base.join(d));
    let policy_file =
        raw.policy.as_ref().and_then(|p| p.file.as_ref()).map(|f| base.join(f.get_ref()));
    let bgp = super::bgp::bgp(&mut c, raw.bgp.as_ref(), &state_dir);
    let audit_retention = super::retention::retention(&mut c, raw.retention.as_ref(), &state_dir);
    let zerotrust =
        super::zerotrust::zerotrust(&mut c, raw.zerotrust.as_ref(), &state_dir, raw.mesh.is_some());
    let flood = super::flood::flood(&mut c, raw.flood.as_ref());
    let qos = super::qos::qos(&mut c, raw.qos.as_ref());
    let log = super::log::log(&mut c, raw.log.as_ref());
    let taken: Vec<IpPrefix> = address
        .iter()
        .map(|(_, p)| *p)
        .chain(prefixes.iter().copied())
        .chain(peers.iter().flat_map(|p| p.prefixes.iter().copied()))
        .collect();
    let profiles = super::profiles::profiles(&mut c, raw.profiles.as_ref(), &taken, &site.name);
    let ipsec_cx = super::ipsec::Context {
        prefixes: &prefixes,
        address: address.as_ref().map(|(a, _)| *a),
        uplinks: &uplinks,
        peers: &peers,
        mesh: raw.mesh.is_some(),
        base,
    };
    let ipsec = super::ipsec::ipsec(&mut c, &raw.ipsec, &ipsec_cx);

    match (name, address, api_listen) {
        (Some(name), Some((address, address_prefix)), Some(api_listen)) if c.errors.is_empty() => {
            Ok(SiteConfig {
                name,
                private_key_file,
                address,
                address_prefix,
                prefixes,
                interface,
                mtu,
                offload: site.offload.unwrap_or(true),
                uplinks,
                peers,
                classes,
                engine,
                api_listen,
                api_tls,
                role: site.role.clone(),
                region: site.region.clone(),
                state_dir,
                policy_file,
                dns,
                bgp,
                audit_retention,
                mesh,
                controller,
                zerotrust,
                flood,
                qos,
                log,
                profiles,
                ipsec,
            })
        }
        _ => Err(c.errors),
    }
}

fn uplinks(c: &mut Checker<'_>, raw: &[RawUplink]) -> Vec<UplinkConfig> {
    let mut names = BTreeSet::new();
    let mut binds = BTreeSet::new();
    let mut out = Vec::new();
    for u in raw {
        if !names.insert(u.name.get_ref().clone()) {
            c.err(&u.name, format!("uplink name {:?} is used twice", u.name.get_ref()));
        }
        let bind = c.parse(&u.bind, |s| {
            SocketAddr::from_str(s).map_err(|_| format!("{s:?} is not ADDRESS:PORT"))
        });
        if let Some(b) = bind
            && !binds.insert(b)
        {
            c.err(&u.bind, format!("{b} is bound by another uplink"));
        }
        let capacity = u
            .capacity
            .as_ref()
            .map_or(Some(Bandwidth(100_000_000)), |s| c.parse(s, Bandwidth::parse));
        let cost = u.cost_per_gb.as_ref().map_or(0.0, |v| {
            if !v.get_ref().is_finite() || *v.get_ref() < 0.0 {
                c.err(v, "cost_per_gb must be a non-negative number");
            }
            *v.get_ref()
        });
        if let (Some(bind), Some(capacity)) = (bind, capacity) {
            out.push(UplinkConfig {
                name: u.name.get_ref().clone(),
                bind,
                device: u.device.as_ref().map(|d| d.get_ref().clone()),
                cost_per_gb: cost,
                metered: u.metered,
                priority: u.priority.unwrap_or(100),
                capacity,
                capacity_given: u.capacity.is_some(),
            });
        }
    }
    out
}

fn peers(c: &mut Checker<'_>, raw: &[RawPeer], local: &[IpPrefix]) -> Vec<PeerConfig> {
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut taken: Vec<IpPrefix> = local.to_vec();
    let mut out = Vec::new();
    for p in raw {
        let name = c.parse(&p.name, SiteId::new);
        if !names.insert(p.name.get_ref().clone()) {
            c.err(&p.name, format!("peer {:?} is listed twice", p.name.get_ref()));
        }
        let key = c.parse(&p.public_key, PublicKey::from_base64);
        if let Some(k) = key
            && !keys.insert(k)
        {
            c.err(&p.public_key, "this public key belongs to another peer too");
        }
        let mut prefixes = Vec::new();
        for s in &p.prefixes {
            let Some(pre) = c.parse(s, IpPrefix::parse) else { continue };
            if let Some(other) = taken.iter().find(|t| t.overlaps(&pre)) {
                c.err(
                    s,
                    format!("{pre} overlaps {other}, already served by this site or another peer"),
                );
            }
            taken.push(pre);
            prefixes.push(pre);
        }
        if p.endpoints.is_empty() {
            c.err(&p.name, format!("peer {:?} needs at least one endpoint", p.name.get_ref()));
        }
        let endpoints: Vec<SocketAddr> = p
            .endpoints
            .iter()
            .filter_map(|e| {
                c.parse(e, |s| {
                    SocketAddr::from_str(s).map_err(|_| format!("{s:?} is not ADDRESS:PORT"))
                })
            })
            .collect();
        let keepalive = p.keepalive.as_ref().and_then(|k| c.parse(k, parse_duration));
        let keepalive = keepalive.or(p.stock.then_some(Duration::from_secs(1)));
        if let (Some(name), Some(public_key)) = (name, key) {
            out.push(PeerConfig {
                name,
                public_key,
                prefixes,
                endpoints,
                stock: p.stock,
                keepalive,
                role: p.role.clone(),
                region: p.region.clone(),
            });
        }
    }
    out
}

fn classes(c: &mut Checker<'_>, raw: &RawConfig) -> ClassMap {
    let mut rules = Vec::new();
    for r in &raw.class {
        let protocol =
            c.parse(&r.protocol, |s| IpProtocol::parse(s).ok_or(format!("unknown protocol {s:?}")));
        let ports = match &r.ports {
            Some(p) => c.parse(p, |s| {
                parse_ports(s).ok_or(format!("{s:?} is not a port or LOW-HIGH range"))
            }),
            None => Some(0..=u16::MAX),
        };
        if weft_path::SlaClass::builtin(r.class.get_ref()).is_none() {
            c.err(
                &r.class,
                format!(
                    "unknown class {:?}: use realtime, interactive, bulk or best-effort",
                    r.class.get_ref()
                ),
            );
        }
        if let (Some(protocol), Some(ports)) = (protocol, ports) {
            rules.push(ClassRule { protocol, ports, class: r.class.get_ref().clone() });
        }
    }
    ClassMap { rules }
}

fn engine(c: &mut Checker<'_>, raw: Option<&RawProbe>) -> EngineConfig {
    let Some(p) = raw else { return EngineConfig::default() };
    let mut cfg = match &p.interval {
        None => EngineConfig::default(),
        Some(s) => match s.get_ref().as_str() {
            "adaptive" => EngineConfig::default(),
            "fast" => EngineConfig::fast(),
            _ => match c.parse(s, parse_duration) {
                Some(d) => {
                    let mut cfg = EngineConfig::default();
                    cfg.probe.interval =
                        IntervalMode::Adaptive { active: d, idle: d.max(Duration::from_secs(1)) };
                    cfg.probe.min_interval = cfg.probe.min_interval.min(d);
                    cfg
                }
                None => EngineConfig::default(),
            },
        },
    };
    if let Some(m) = &p.detect_multiplier {
        match std::num::NonZeroU8::new(*m.get_ref()) {
            Some(n) => cfg.probe.detect_multiplier = n,
            None => c.err(m, "detect_multiplier must be at least 1"),
        }
    }
    if let Some(h) = &p.hold_down
        && let Some(d) = c.parse(h, parse_duration)
    {
        cfg.hold_down = d;
    }
    if let Err(e) = cfg.validate() {
        let at = p.interval.as_ref().map(Spanned::span);
        c.errors.push(Diagnostic::at(c.path, c.source, at, format!("probe settings: {e}")));
    }
    cfg
}
