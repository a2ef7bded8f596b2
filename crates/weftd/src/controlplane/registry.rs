//! The registry: sites (with labels, cordoned, drained) and services, kept
//! by the controllers in the store. Changes are requests taken by the
//! leader like policy requests: [`plan`] reads what a change touches and
//! returns the writes, conditional on what it read, for the leader's one
//! fenced transaction.
//!
//! | key | value |
//! |---|---|
//! | `/weft/registry/sites/SITE` | [`SiteRecord`] |
//! | `/weft/registry/services/NAME` | [`ServiceRecord`] |
//! | `/weft/registry/flags` | [`Flags`]: every cordoned and drained site; its mod revision is the registry publication's `seq` |
//!
//! Any syntactically valid site id is accepted, member or not: a site may
//! be down (or not enrolled yet) when an operator cordons it or registers
//! a service on it, and that is exactly when a cordon matters.
//!
//! Cordon: no new relayed traffic through the site. Drain: cordon, and
//! relayed traffic moves off it, its services show unavailable. Uncordon
//! clears both.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use weft_api::{
    HealthCheck, HealthCheckKind, RegistryService, ServiceProtocol, ServiceRegistration,
    SiteRegistration,
};
use weft_control::CallError;
use weft_etcd::{Compare, Kv};
use weft_types::SiteId;

use super::leader::json;
use super::records::{AuditEntry, Planned, PolicyRequest, audit_key};
use super::selector::{check_key, check_value};

/// Every registry key starts with it (the watch polls it).
pub(crate) const PREFIX: &str = "/weft/registry/";
/// Sites' records.
pub(crate) const SITES: &str = "/weft/registry/sites/";
/// Services.
pub(crate) const SERVICES: &str = "/weft/registry/services/";
/// The aggregate of cordoned and drained sites, published to every site.
pub(crate) const FLAGS: &str = "/weft/registry/flags";

/// Most labels on a site or service.
const MAX_LABELS: usize = 64;

pub(crate) fn site_key(site: &str) -> String {
    format!("{SITES}{site}")
}

pub(crate) fn service_key(name: &str) -> String {
    format!("{SERVICES}{name}")
}

/// A site's registry record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SiteRecord {
    pub(crate) site: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) cordoned: bool,
    pub(crate) drained: bool,
    pub(crate) changed_by: String,
    pub(crate) at_unix_ms: i64,
}

impl SiteRecord {
    pub(crate) fn view(&self) -> SiteRegistration {
        SiteRegistration {
            site: self.site.clone(),
            labels: self.labels.clone(),
            cordoned: self.cordoned,
            drained: self.drained,
            changed_by: self.changed_by.clone(),
            changed_unix_ms: self.at_unix_ms,
        }
    }
}

/// A registered service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServiceRecord {
    pub(crate) name: String,
    pub(crate) site: String,
    pub(crate) protocol: ServiceProtocol,
    pub(crate) port: u16,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) health_check: Option<HealthCheck>,
    /// Its mTLS endpoint (sidecar), for zero-trust gateways.
    #[serde(default)]
    pub(crate) mtls: Option<SocketAddr>,
    pub(crate) registered_by: String,
    pub(crate) at_unix_ms: i64,
}

impl ServiceRecord {
    /// As the API shows it; unavailable while its site is drained.
    pub(crate) fn view(&self, drained: bool) -> RegistryService {
        RegistryService {
            name: self.name.clone(),
            site: self.site.clone(),
            protocol: self.protocol,
            port: self.port,
            labels: self.labels.clone(),
            health_check: self.health_check.clone(),
            mtls: self.mtls.map(|a| a.to_string()),
            available: !drained,
            registered_by: self.registered_by.clone(),
            registered_unix_ms: self.at_unix_ms,
        }
    }
}

/// Every cordoned and every drained site (what the sites' relay planners
/// need), and the services with an mTLS endpoint (what zero-trust
/// gateways route to).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Flags {
    pub(crate) cordoned: BTreeSet<String>,
    pub(crate) drained: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) services: BTreeMap<String, RoutedService>,
}

/// A registered service as gateways see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RoutedService {
    pub(crate) site: String,
    pub(crate) mtls: SocketAddr,
}

impl Flags {
    /// These flags with service `name` routed as `record` says (removed
    /// when it has no mTLS endpoint or is gone).
    fn with_service(&self, name: &str, record: Option<&ServiceRecord>) -> Self {
        let mut f = self.clone();
        match record.and_then(|r| r.mtls.map(|mtls| RoutedService { site: r.site.clone(), mtls })) {
            Some(routed) => f.services.insert(name.to_owned(), routed),
            None => f.services.remove(name),
        };
        f
    }

    /// The mTLS endpoints of service `name` gateways may use (none while
    /// its site is drained).
    pub(crate) fn backends(&self, name: &str) -> Vec<SocketAddr> {
        self.services
            .get(name)
            .filter(|s| !self.drained.contains(&s.site))
            .map(|s| s.mtls)
            .into_iter()
            .collect()
    }
}

impl Flags {
    /// These flags with site `r`'s.
    fn with(&self, r: &SiteRecord) -> Self {
        let mut f = self.clone();
        let set = |s: &mut BTreeSet<String>, on: bool| {
            if on { s.insert(r.site.clone()) } else { s.remove(&r.site) }
        };
        set(&mut f.cordoned, r.cordoned);
        set(&mut f.drained, r.drained);
        f
    }
}

/// The publication of the relay limits stored in `flags` (the key
/// [`FLAGS`]): its mod revision is the sequence and the version.
pub(crate) fn publication(epoch: u64, flags: &Kv) -> super::Publication {
    let f: Flags = serde_json::from_str(&flags.value).unwrap_or_default();
    super::Publication {
        kind: weft_mesh::identity::BundleKind::Registry,
        epoch,
        seq: flags.mod_revision,
        stable: (flags.mod_revision, json(&f)),
        canary: None,
    }
}

/// The registry as stored, with the sites' acknowledgements.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// Every registry key: (mod revision, value).
    pub(crate) keys: BTreeMap<String, (u64, String)>,
    /// Every site's last acknowledgement of a policy publication.
    pub(crate) acks: Vec<super::records::SiteAck>,
}

impl Snapshot {
    /// The sites' records.
    pub(crate) fn sites(&self) -> BTreeMap<String, SiteRecord> {
        self.keys
            .range(SITES.to_owned()..)
            .take_while(|(k, _)| k.starts_with(SITES))
            .filter_map(|(_, (_, v))| serde_json::from_str::<SiteRecord>(v).ok())
            .map(|r| (r.site.clone(), r))
            .collect()
    }

    /// The services.
    pub(crate) fn services(&self) -> Vec<ServiceRecord> {
        self.keys
            .range(SERVICES.to_owned()..)
            .take_while(|(k, _)| k.starts_with(SERVICES))
            .filter_map(|(_, (_, v))| serde_json::from_str::<ServiceRecord>(v).ok())
            .collect()
    }
}

/// Reads the registry and the acknowledgements through `range`.
pub(crate) fn snapshot(
    range: &mut dyn FnMut(&str) -> Result<Vec<Kv>, CallError>,
) -> Result<Snapshot, CallError> {
    let keys = range(PREFIX)?.into_iter().map(|kv| (kv.key, (kv.mod_revision, kv.value))).collect();
    let acks = range(super::records::STATUS)?
        .iter()
        .filter_map(|kv| serde_json::from_str(&kv.value).ok())
        .collect();
    Ok(Snapshot { keys, acks })
}

/// A change of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub(crate) enum RegistryAsk {
    /// No new relayed traffic through the site.
    Cordon { site: String },
    /// Relayed traffic through the site again (clears cordon and drain).
    Uncordon { site: String },
    /// Cordon, move relayed traffic off, services unavailable.
    Drain { site: String },
    /// Set labels (`None` removes one).
    Label { site: String, set: BTreeMap<String, Option<String>> },
    /// Register a service (or replace the one of that name).
    RegisterService(ServiceRegistration),
    /// Remove a service.
    DeregisterService { name: String },
}

impl RegistryAsk {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Cordon { .. } => "cordon",
            Self::Uncordon { .. } => "uncordon",
            Self::Drain { .. } => "drain",
            Self::Label { .. } => "label",
            Self::RegisterService(_) => "register_service",
            Self::DeregisterService { .. } => "deregister_service",
        }
    }

    /// The site a site change is about (none for a service change).
    fn site(&self) -> Option<&String> {
        match self {
            Self::Cordon { site }
            | Self::Uncordon { site }
            | Self::Drain { site }
            | Self::Label { site, .. } => Some(site),
            Self::RegisterService(_) | Self::DeregisterService { .. } => None,
        }
    }

    /// What it changes: `site/ID` or `service/NAME`.
    fn target(&self) -> String {
        match self {
            Self::Cordon { site }
            | Self::Uncordon { site }
            | Self::Drain { site }
            | Self::Label { site, .. } => format!("site/{site}"),
            Self::RegisterService(s) => format!("service/{}", s.name),
            Self::DeregisterService { name } => format!("service/{name}"),
        }
    }
}

/// The leader's answer to a registry request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RegistryResult {
    pub(crate) kind: String,
    /// `None` when done; else why not (`code`, message).
    pub(crate) refused: Option<(String, String)>,
    pub(crate) site: Option<SiteRecord>,
    pub(crate) service: Option<ServiceRecord>,
    /// Whether the service's site is drained (its service unavailable).
    #[serde(default)]
    pub(crate) service_site_drained: bool,
    pub(crate) epoch: u64,
}

/// A registry request's answer from the leader's result record.
pub(crate) fn answer_of(
    id: &str,
    kv: &Kv,
) -> Result<weft_api::RegistryChange, super::PlaneRefusal> {
    let r: RegistryResult = serde_json::from_str(&kv.value).map_err(|e| {
        super::PlaneRefusal::new(500, "internal", format!("the result record: {e}"))
    })?;
    if let Some((code, message)) = r.refused {
        let status = match code.as_str() {
            "not_found" => 404,
            "invalid_request" => 400,
            _ => 409,
        };
        return Err(super::PlaneRefusal::new(status, &code, message));
    }
    Ok(weft_api::RegistryChange {
        request: id.to_owned(),
        kind: r.kind,
        epoch: r.epoch,
        revision: kv.mod_revision,
        site: r.site.as_ref().map(SiteRecord::view),
        service: r.service.as_ref().map(|s| s.view(r.service_site_drained)),
    })
}

/// A refusal: (code, message). `not_found` is 404, `invalid_request` 400,
/// anything else 409.
pub(crate) type Refusal = (&'static str, String);

fn invalid(m: impl Into<String>) -> Refusal {
    ("invalid_request", m.into())
}

/// Why `labels` are not valid.
pub(crate) fn check_labels<'a>(
    labels: impl Iterator<Item = (&'a String, Option<&'a String>)>,
) -> Result<(), Refusal> {
    for (k, v) in labels {
        check_key(k).map_err(invalid)?;
        if let Some(v) = v {
            check_value(v).map_err(invalid)?;
        }
    }
    Ok(())
}

/// Why `name` is not a service name: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, 1 to 63.
pub(crate) fn check_service_name(name: &str) -> Result<(), Refusal> {
    let b = name.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = !b.is_empty()
        && b.len() <= 63
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter().all(|c| edge(c) || *c == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "service name {name:?} must be 1 to 63 of a-z 0-9 -, starting and ending with a-z 0-9"
        )))
    }
}

/// Adds to `planned` the flags with service `name` routed as `record`
/// says, when that changes them; `None` when the store could not be read.
fn route_service(
    planned: &mut Planned,
    name: &str,
    record: Option<&ServiceRecord>,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<()> {
    let (flags, flags_rev) = decode::<Flags>(read(FLAGS).ok()?);
    let flags = flags.unwrap_or_default();
    let next = flags.with_service(name, record);
    if next != flags {
        planned.compares.push(Compare::ModRevision(FLAGS.to_owned(), flags_rev));
        planned.puts.push((FLAGS.to_owned(), json(&next)));
    }
    Some(())
}

/// Why a registration is not valid.
pub(crate) fn check_service(s: &ServiceRegistration) -> Result<(), Refusal> {
    check_service_name(&s.name)?;
    SiteId::new(&s.site).map_err(|e| invalid(format!("site {:?}: {e}", s.site)))?;
    if s.port == 0 {
        return Err(invalid("port must be 1 to 65535"));
    }
    if s.labels.len() > MAX_LABELS {
        return Err(invalid(format!("at most {MAX_LABELS} labels")));
    }
    if let Some(a) = &s.mtls {
        let addr: SocketAddr = a
            .parse()
            .map_err(|_| invalid(format!("mtls {a:?} must be ADDRESS:PORT (its sidecar)")))?;
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return Err(invalid(format!("mtls {a:?} needs a port and a specific address")));
        }
    }
    check_labels(s.labels.iter().map(|(k, v)| (k, Some(v))))?;
    if let Some(h) = &s.health_check {
        if !(1000..=3_600_000).contains(&h.interval_ms) {
            return Err(invalid("health_check.interval_ms must be 1000 to 3600000"));
        }
        match (h.kind, h.path.as_deref()) {
            (HealthCheckKind::Tcp, None) => {}
            (HealthCheckKind::Tcp, Some(_)) => {
                return Err(invalid("a tcp health check has no path"));
            }
            (HealthCheckKind::Http, Some(p))
                if p.starts_with('/')
                    && p.len() <= 256
                    && p.bytes().all(|c| c.is_ascii_graphic()) => {}
            (HealthCheckKind::Http, _) => {
                return Err(invalid(
                    "an http health check needs a path: / then up to 255 printable characters",
                ));
            }
        }
    }
    Ok(())
}

/// A site's record after `ask` (a site change) on `current`.
pub(crate) fn change_site(
    current: Option<&SiteRecord>,
    ask: &RegistryAsk,
    actor: &str,
    at_unix_ms: i64,
) -> Result<SiteRecord, Refusal> {
    let Some(site) = ask.site() else {
        return Err(("internal", "not a site change".into()));
    };
    SiteId::new(site).map_err(|e| invalid(format!("site {site:?}: {e}")))?;
    let mut r = current
        .cloned()
        .unwrap_or_else(|| SiteRecord { site: site.clone(), ..SiteRecord::default() });
    match ask {
        RegistryAsk::Cordon { .. } => r.cordoned = true,
        RegistryAsk::Drain { .. } => (r.cordoned, r.drained) = (true, true),
        RegistryAsk::Uncordon { .. } => (r.cordoned, r.drained) = (false, false),
        RegistryAsk::Label { set, .. } => {
            if set.is_empty() {
                return Err(invalid("set names no label"));
            }
            check_labels(set.iter().map(|(k, v)| (k, v.as_ref())))?;
            for (k, v) in set {
                match v {
                    Some(v) => r.labels.insert(k.clone(), v.clone()),
                    None => r.labels.remove(k),
                };
            }
            if r.labels.len() > MAX_LABELS {
                return Err(invalid(format!("a site has at most {MAX_LABELS} labels")));
            }
        }
        _ => {}
    }
    actor.clone_into(&mut r.changed_by);
    r.at_unix_ms = at_unix_ms;
    Ok(r)
}

fn decode<T: serde::de::DeserializeOwned>(kv: Option<Kv>) -> (Option<T>, u64) {
    match kv {
        Some(kv) => (serde_json::from_str(&kv.value).ok(), kv.mod_revision),
        None => (None, 0),
    }
}

/// The writes of a registry request; `None` when the store could not be read.
pub(crate) fn plan(
    id: &str,
    req: &PolicyRequest,
    ask: &RegistryAsk,
    epoch: u64,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let mut result = RegistryResult {
        kind: ask.kind().to_owned(),
        refused: None,
        site: None,
        service: None,
        service_site_drained: false,
        epoch,
    };
    let audit = |before: u64| AuditEntry {
        request: id.to_owned(),
        actor: req.actor.clone(),
        action: format!("registry.{} {}", ask.kind(), ask.target()),
        before,
        after: 0,
        epoch,
        at_unix_ms: req.at_unix_ms,
    };
    let audit_at = audit_key(super::super::api::unix_ms(), id);
    let refuse = |mut result: RegistryResult, (code, message): Refusal| {
        result.refused = Some((code.to_owned(), message));
        Some(Planned::answer(json(&result)))
    };
    let mut planned = Planned::answer(String::new());
    match ask {
        RegistryAsk::RegisterService(s) => {
            if let Err(r) = check_service(s) {
                return refuse(result, r);
            }
            let key = service_key(&s.name);
            let (_, rev) = decode::<ServiceRecord>(read(&key).ok()?);
            let record = ServiceRecord {
                name: s.name.clone(),
                site: s.site.clone(),
                protocol: s.protocol,
                port: s.port,
                labels: s.labels.clone(),
                health_check: s.health_check.clone(),
                mtls: s.mtls.as_deref().and_then(|a| a.parse().ok()),
                registered_by: req.actor.clone(),
                at_unix_ms: req.at_unix_ms,
            };
            let (at, _) = decode::<SiteRecord>(read(&site_key(&s.site)).ok()?);
            result.service_site_drained = at.is_some_and(|r| r.drained);
            planned.compares.push(Compare::ModRevision(key.clone(), rev));
            planned.puts.push((key, json(&record)));
            route_service(&mut planned, &s.name, Some(&record), read)?;
            planned.puts.push((audit_at, json(&audit(rev))));
            result.service = Some(record);
        }
        RegistryAsk::DeregisterService { name } => {
            let key = service_key(name);
            let (current, rev) = decode::<ServiceRecord>(read(&key).ok()?);
            let Some(current) = current else {
                return refuse(result, ("not_found", format!("no service {name:?}")));
            };
            planned.compares.push(Compare::ModRevision(key.clone(), rev));
            planned.deletes.push(key);
            route_service(&mut planned, name, None, read)?;
            planned.puts.push((audit_at, json(&audit(rev))));
            result.service = Some(current);
        }
        _ => {
            let Some(site) = ask.site() else {
                return refuse(result, ("internal", "not a site change".into()));
            };
            if let Err(e) = SiteId::new(site) {
                return refuse(result, invalid(format!("site {site:?}: {e}")));
            }
            let key = site_key(site);
            let (current, rev) = decode::<SiteRecord>(read(&key).ok()?);
            let record = match change_site(current.as_ref(), ask, &req.actor, req.at_unix_ms) {
                Ok(r) => r,
                Err(r) => return refuse(result, r),
            };
            let (flags, flags_rev) = decode::<Flags>(read(FLAGS).ok()?);
            let flags = flags.unwrap_or_default();
            let next = flags.with(&record);
            planned.compares.push(Compare::ModRevision(key.clone(), rev));
            planned.puts.push((key, json(&record)));
            if next != flags || flags_rev == 0 {
                planned.compares.push(Compare::ModRevision(FLAGS.to_owned(), flags_rev));
                planned.puts.push((FLAGS.to_owned(), json(&next)));
            }
            planned.puts.push((audit_at, json(&audit(rev))));
            result.site = Some(record);
        }
    }
    planned.result = json(&result);
    Some(planned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controlplane::records::Ask;

    fn req(ask: RegistryAsk) -> PolicyRequest {
        PolicyRequest {
            id: "r1".into(),
            ask: Ask::Registry(ask),
            actor: "ops".into(),
            at_unix_ms: 5,
        }
    }

    fn site(s: &str) -> String {
        s.to_owned()
    }

    /// A store of one map: plans against it, applies the puts and deletes.
    struct Mem(BTreeMap<String, (String, u64)>, u64);

    impl Mem {
        fn run(&mut self, ask: RegistryAsk) -> RegistryResult {
            let r = req(ask);
            let Ask::Registry(ask) = &r.ask else { unreachable!() };
            let map = self.0.clone();
            let mut read = |k: &str| {
                Ok(map.get(k).map(|(v, rev)| Kv {
                    key: k.to_owned(),
                    value: v.clone(),
                    create_revision: *rev,
                    mod_revision: *rev,
                }))
            };
            let p = plan("r1", &r, ask, 7, &mut read).unwrap();
            for c in &p.compares {
                if let Compare::ModRevision(k, rev) = c {
                    assert_eq!(self.0.get(k).map_or(0, |x| x.1), *rev, "compare on {k}");
                }
            }
            self.1 += 1;
            for (k, v) in p.puts {
                self.0.insert(k, (v, self.1));
            }
            for k in p.deletes {
                self.0.remove(&k);
            }
            serde_json::from_str(&p.result).unwrap()
        }

        fn flags(&self) -> Flags {
            serde_json::from_str(&self.0[FLAGS].0).unwrap()
        }
    }

    fn svc(name: &str, at: &str) -> ServiceRegistration {
        ServiceRegistration {
            name: name.into(),
            site: at.into(),
            protocol: ServiceProtocol::Tcp,
            port: 443,
            labels: BTreeMap::new(),
            health_check: Some(HealthCheck {
                kind: HealthCheckKind::Http,
                path: Some("/healthz".into()),
                interval_ms: 5000,
            }),
            mtls: None,
        }
    }

    #[test]
    fn a_service_with_an_mtls_endpoint_is_routed_until_its_site_drains_or_it_goes() {
        let mut m = Mem(BTreeMap::new(), 0);
        m.run(RegistryAsk::RegisterService(svc("plain", "b")));
        assert!(!m.0.contains_key(FLAGS), "a service gateways do not reach changes no flags");
        let mut api = svc("api", "b");
        api.mtls = Some("10.77.2.1:18443".into());
        assert!(m.run(RegistryAsk::RegisterService(api.clone())).refused.is_none());
        let sidecar: SocketAddr = "10.77.2.1:18443".parse().unwrap();
        assert_eq!(m.flags().backends("api"), vec![sidecar]);
        assert!(m.flags().backends("plain").is_empty());
        m.run(RegistryAsk::Drain { site: site("b") });
        assert!(m.flags().backends("api").is_empty(), "a drained site's service is not routed");
        m.run(RegistryAsk::Uncordon { site: site("b") });
        assert_eq!(m.flags().backends("api"), vec![sidecar], "the route survives site changes");
        m.run(RegistryAsk::DeregisterService { name: "api".into() });
        assert!(m.flags().services.is_empty());
        for bad in ["10.77.2.1", "0.0.0.0:443", "10.77.2.1:0", "api:443"] {
            api.mtls = Some(bad.into());
            assert!(check_service(&api).is_err(), "{bad}");
        }
    }

    #[test]
    fn drain_cordons_too_and_uncordon_clears_both() {
        let a = RegistryAsk::Drain { site: site("b") };
        let r = change_site(None, &a, "ops", 9).unwrap();
        assert_eq!(
            (r.cordoned, r.drained, r.changed_by.as_str(), r.at_unix_ms),
            (true, true, "ops", 9)
        );
        let r = change_site(Some(&r), &RegistryAsk::Uncordon { site: site("b") }, "x", 10).unwrap();
        assert!(!r.cordoned && !r.drained);
        let r = change_site(Some(&r), &RegistryAsk::Cordon { site: site("b") }, "x", 11).unwrap();
        assert!(r.cordoned && !r.drained);
    }

    #[test]
    fn labels_are_set_and_removed_and_bad_ones_refused_without_change() {
        let set = |kv: &[(&str, Option<&str>)]| RegistryAsk::Label {
            site: site("b"),
            set: kv.iter().map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned))).collect(),
        };
        let r = change_site(None, &set(&[("env", Some("prod")), ("tier", Some("web"))]), "o", 1);
        let r = r.unwrap();
        let r = change_site(Some(&r), &set(&[("tier", None), ("gone", None)]), "o", 2).unwrap();
        assert_eq!(r.labels.into_iter().collect::<Vec<_>>(), vec![("env".into(), "prod".into())]);
        for bad in [set(&[("Env", Some("x"))]), set(&[("env", Some("-x"))]), set(&[])] {
            assert_eq!(change_site(None, &bad, "o", 1).unwrap_err().0, "invalid_request");
        }
    }

    #[test]
    fn any_valid_site_id_is_accepted_member_or_not_but_not_an_invalid_one() {
        assert!(
            change_site(None, &RegistryAsk::Cordon { site: site("not-enrolled-yet") }, "o", 1)
                .is_ok()
        );
        let e = change_site(None, &RegistryAsk::Cordon { site: site("no such/site") }, "o", 1);
        assert_eq!(e.unwrap_err().0, "invalid_request");
    }

    #[test]
    fn services_are_checked_before_they_are_registered() {
        assert!(check_service(&svc("web", "b")).is_ok());
        let mut s = svc("Web", "b");
        assert!(check_service(&s).is_err());
        s = svc("web", "b");
        s.port = 0;
        assert!(check_service(&s).is_err());
        s = svc("web", "b");
        s.health_check.as_mut().unwrap().path = None;
        assert!(check_service(&s).is_err(), "http needs a path");
        s = svc("web", "b");
        s.health_check = Some(HealthCheck {
            kind: HealthCheckKind::Tcp,
            path: Some("/".into()),
            interval_ms: 5000,
        });
        assert!(check_service(&s).is_err(), "tcp has none");
        s.health_check =
            Some(HealthCheck { kind: HealthCheckKind::Tcp, path: None, interval_ms: 10 });
        assert!(check_service(&s).is_err(), "interval too short");
    }

    #[test]
    fn site_changes_write_the_record_and_the_flags_conditional_on_what_was_read() {
        let mut m = Mem(BTreeMap::new(), 0);
        let r = m.run(RegistryAsk::Cordon { site: site("b") });
        assert!(r.refused.is_none() && r.site.unwrap().cordoned);
        assert_eq!(m.flags().cordoned.into_iter().collect::<Vec<_>>(), vec!["b".to_owned()]);
        let flags_rev = m.0[FLAGS].1;
        m.run(RegistryAsk::Label {
            site: site("b"),
            set: [("env".into(), Some("prod".into()))].into(),
        });
        assert_eq!(m.0[FLAGS].1, flags_rev, "a label change leaves the published flags alone");
        m.run(RegistryAsk::Drain { site: site("c") });
        let f = m.flags();
        assert_eq!((f.cordoned.len(), f.drained.len()), (2, 1));
        m.run(RegistryAsk::Uncordon { site: site("b") });
        assert!(!m.flags().cordoned.contains("b"));
        assert!(m.0.keys().filter(|k| k.starts_with("/weft/audit/")).count() >= 1);
    }

    #[test]
    fn a_service_is_registered_replaced_and_removed_and_an_unknown_one_is_not_found() {
        let mut m = Mem(BTreeMap::new(), 0);
        assert!(m.run(RegistryAsk::RegisterService(svc("web", "b"))).refused.is_none());
        let mut again = svc("web", "c");
        again.port = 8443;
        let r = m.run(RegistryAsk::RegisterService(again));
        assert_eq!(r.service.map(|s| (s.site, s.port)), Some(("c".into(), 8443)));
        let r = m.run(RegistryAsk::DeregisterService { name: "web".into() });
        assert_eq!(r.service.map(|s| s.name), Some("web".into()));
        assert!(!m.0.contains_key(&service_key("web")));
        let r = m.run(RegistryAsk::DeregisterService { name: "web".into() });
        assert_eq!(r.refused.map(|r| r.0), Some("not_found".into()));
        let r = m.run(RegistryAsk::RegisterService(svc("-bad", "b")));
        assert_eq!(r.refused.map(|r| r.0), Some("invalid_request".into()));
    }
}
