//! The `[zerotrust]` section: this site runs zero-trust proxies (an ingress
//! gateway, service-side sidecars) with SPIFFE identities.
//!
//! ```toml
//! [zerotrust]
//! trust_domain = "mesh.test"           # the mesh's SPIFFE trust domain
//! dir = "zt"                           # default STATE_DIR/zt: root.der, intermediate.der, intermediate.key
//! svid_ttl = "1h"                      # SVID lifetime; renewed at half life (10s..=30d)
//! issuer = "local"                     # who signs SVIDs: "local" (the intermediate in dir) or
//!                                      # "control" (the control plane's leader; needs [mesh])
//!
//! [[zerotrust.sidecar]]                # SVID spiffe://TD/svc/SERVICE
//! service = "api"
//! port = 8443                          # the service port identity rules name
//! listen = "10.10.2.1:18443"           # mTLS in (on the overlay address)
//! forward = "127.0.0.1:8080"           # the service itself, plain
//!
//! [[zerotrust.gateway]]                # SVID spiffe://TD/gateway/NAME
//! name = "edge"
//! listen = "0.0.0.0:8443"
//! [[zerotrust.gateway.route]]
//! host = "api.mesh.test"               # TLS server name (SNI)
//! service = "api"
//! port = 8443
//! backends = ["10.10.2.1:18443"]       # the service's sidecars, nearest first; leave out to
//!                                      # take the registry's (`weft registry register --mtls`)
//!
//! [[zerotrust.workload]]               # served by the SPIFFE Workload API
//! id = "spiffe://mesh.test/svc/web"
//! uid = 1000                           # selectors: the caller must match all given
//! gid = 1000
//! path = "/usr/local/bin/web"          # its executable (/proc/PID/exe)
//! ```
//!
//! `workload_socket` (default `STATE_DIR/workload.sock`, relative paths under
//! the state directory) is where the Workload API listens when any workload
//! is configured.
//!
//! Who may call what is the policy's `[[identity]]` rules (docs/policy.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use weft_types::{TrustDomain, parse_duration};

use super::validate::Checker;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZeroTrust {
    trust_domain: Spanned<String>,
    issuer: Option<Spanned<String>>,
    dir: Option<Spanned<String>>,
    svid_ttl: Option<Spanned<String>>,
    workload_socket: Option<Spanned<String>>,
    #[serde(default)]
    sidecar: Vec<RawSidecar>,
    #[serde(default)]
    workload: Vec<Spanned<RawWorkload>>,
    #[serde(default)]
    gateway: Vec<RawGateway>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSidecar {
    service: Spanned<String>,
    port: Spanned<u16>,
    listen: Spanned<String>,
    forward: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    id: Spanned<String>,
    uid: Option<u32>,
    gid: Option<u32>,
    path: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    name: Spanned<String>,
    listen: Spanned<String>,
    #[serde(default)]
    route: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    host: Spanned<String>,
    service: Spanned<String>,
    port: Spanned<u16>,
    #[serde(default)]
    backends: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A validated `[zerotrust]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeroTrustConfig {
    /// The trust domain.
    pub trust_domain: TrustDomain,
    /// Where the identity material is (absolute).
    pub dir: PathBuf,
    /// SVID lifetime.
    pub svid_ttl: Duration,
    /// Sidecars.
    pub sidecars: Vec<SidecarConfig>,
    /// Gateways.
    pub gateways: Vec<GatewayConfig>,
    /// Workloads the Workload API serves.
    pub workloads: Vec<crate::zt::workload::attest::WorkloadRule>,
    /// The Workload API's socket.
    pub workload_socket: PathBuf,
    /// Where SVIDs come from.
    pub issuer: Issuer,
}

/// `[zerotrust] issuer`: who signs the site's SVIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    /// `local` (the default): this agent, with the intermediate in `dir`.
    Local,
    /// `control`: the control plane's leader, which holds the intermediate
    /// (needs `[mesh]`).
    Control,
}

/// One `[[zerotrust.sidecar]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarConfig {
    /// The service it guards.
    pub service: String,
    /// The service port.
    pub port: u16,
    /// mTLS listen address.
    pub listen: SocketAddr,
    /// The service's plain address.
    pub forward: SocketAddr,
}

/// One `[[zerotrust.gateway]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Its name (the last segment of its SPIFFE ID).
    pub name: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// Routes by server name.
    pub routes: Vec<crate::zt::Route>,
}

fn addr(c: &mut Checker<'_>, s: &Spanned<String>) -> Option<SocketAddr> {
    c.parse(s, |v| SocketAddr::from_str(v).map_err(|_| format!("{v:?} is not ADDRESS:PORT")))
}

fn name(c: &mut Checker<'_>, s: &Spanned<String>, what: &str) -> String {
    let v = s.get_ref();
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.');
    if !ok {
        c.err(s, format!("a {what} name is 1 to 63 of a-z, A-Z, 0-9, '.', '-' and '_'"));
    }
    v.clone()
}

/// Checks `[zerotrust]`; relative `dir` is under `state_dir`; `mesh`:
/// whether the site has a `[mesh]` section (what `issuer = "control"` needs).
pub(super) fn zerotrust(
    c: &mut Checker<'_>,
    raw: Option<&RawZeroTrust>,
    state_dir: &Path,
    mesh: bool,
) -> Option<ZeroTrustConfig> {
    let raw = raw?;
    let trust_domain = c.parse(&raw.trust_domain, TrustDomain::parse);
    let issuer = match raw.issuer.as_ref() {
        None => Issuer::Local,
        Some(i) => match i.get_ref().as_str() {
            "local" => Issuer::Local,
            "control" if mesh => Issuer::Control,
            "control" => {
                c.err(i, "issuer = \"control\" takes SVIDs from the control plane: it needs a [mesh] section");
                Issuer::Control
            }
            other => {
                c.err(i, format!("issuer is \"local\" or \"control\", not {other:?}"));
                Issuer::Local
            }
        },
    };
    let dir =
        raw.dir.as_ref().map_or_else(|| state_dir.join("zt"), |d| state_dir.join(d.get_ref()));
    let mut svid_ttl = Duration::from_hours(1);
    if let Some(t) = &raw.svid_ttl
        && let Some(d) = c.parse(t, parse_duration)
    {
        if d < Duration::from_secs(10) || d > Duration::from_hours(30 * 24) {
            c.err(t, "svid_ttl must be 10s..=30d");
        }
        svid_ttl = d;
    }
    let mut sidecars = Vec::new();
    for s in &raw.sidecar {
        let service = name(c, &s.service, "service");
        let (listen, forward) = (addr(c, &s.listen), addr(c, &s.forward));
        if let (Some(listen), Some(forward)) = (listen, forward) {
            sidecars.push(SidecarConfig { service, port: *s.port.get_ref(), listen, forward });
        }
    }
    let mut gateways = Vec::new();
    for g in &raw.gateway {
        let gname = name(c, &g.name, "gateway");
        let listen = addr(c, &g.listen);
        let mut routes = Vec::new();
        for r in &g.route {
            let service = name(c, &r.service, "service");
            let backends: Vec<SocketAddr> = match &r.backends {
                Some(list) if list.get_ref().is_empty() => {
                    c.err(list, "an empty backends list: leave it out to take the service's sidecar from the registry");
                    Vec::new()
                }
                Some(list) => list.get_ref().iter().filter_map(|b| addr(c, b)).collect(),
                None => Vec::new(),
            };
            routes.push(crate::zt::Route {
                host: r.host.get_ref().clone(),
                service,
                port: *r.port.get_ref(),
                backends,
            });
        }
        if let Some(listen) = listen {
            gateways.push(GatewayConfig { name: gname, listen, routes });
        }
    }
    let mut workloads = Vec::new();
    for w in &raw.workload {
        let span = w.span();
        let w = w.get_ref();
        let Some(id) = c.parse(&w.id, weft_types::SpiffeId::parse) else { continue };
        if let Some(td) = &trust_domain
            && id.trust_domain() != td
        {
            c.err(&w.id, format!("{id} is not in the trust domain {td}"));
        }
        if w.uid.is_none() && w.gid.is_none() && w.path.is_none() {
            c.err(
                &Spanned::new(span, ()),
                "a workload needs at least one selector: uid, gid or path",
            );
        }
        workloads.push(crate::zt::workload::attest::WorkloadRule {
            id,
            uid: w.uid,
            gid: w.gid,
            path: w.path.clone(),
        });
    }
    let workload_socket = raw
        .workload_socket
        .as_ref()
        .map_or_else(|| state_dir.join("workload.sock"), |p| state_dir.join(p.get_ref()));
    Some(ZeroTrustConfig {
        trust_domain: trust_domain?,
        dir,
        svid_ttl,
        sidecars,
        gateways,
        workloads,
        workload_socket,
        issuer,
    })
}
