//! The zero-trust proxy: an L4 TLS proxy that decides every connection by
//! the caller's SPIFFE identity.
//!
//! Two modes of one proxy:
//! - **gateway** (ingress): accepts TLS on its listener, the caller's SVID
//!   optional; routes by SNI to a registered service; asks the identity rules
//!   whether the caller (or `anonymous`) may call that service on that port;
//!   then connects to the first backend that answers (nearest healthy site
//!   first, [`super::backends`]) over mTLS with the gateway's own SVID, accepting only a
//!   backend whose SVID is the service's SPIFFE ID, and splices the streams.
//! - **sidecar** (service side, for services that cannot do mTLS): requires
//!   the caller's SVID, asks the rules whether it may call the local service,
//!   and forwards the plain stream to the service's local address.
//!
//! Credentials and rules are swapped while it runs ([`Proxy::set_credentials`],
//! [`Proxy::set_rules`]): new connections use the new ones, established
//! connections keep the session they were made with, so a rotation drops
//! nothing. A revoked identity ([`Proxy::revoke`]) is refused from the next
//! connection on. Every decision is counted per service; every deny goes to
//! the audit callback with both identities.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use rustls_pki_types::ServerName;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::{ClientConfig, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use weft_identity::{SpiffeId, Svid, TrustDomain, service_id};
use weft_policy::{Action, IdentityRules};

use super::tls;

/// How long a backend may take to accept a connection before the next one is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A gateway route: connections whose SNI is `host` go to `service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The TLS server name callers ask for.
    pub host: String,
    /// The registered service it reaches.
    pub service: String,
    /// The service port (what identity rules name).
    pub port: u16,
    /// Where the service's sidecars listen, nearest healthy first; empty:
    /// from the registry (see [`Proxy::set_resolver`]).
    pub backends: Vec<SocketAddr>,
}

/// What the proxy does with a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Ingress gateway with these routes.
    Gateway(Vec<Route>),
    /// Service-side sidecar of `service` on `port`, forwarding to `local`.
    Sidecar {
        /// The service it guards.
        service: String,
        /// The service port.
        port: u16,
        /// The service's plain address.
        local: SocketAddr,
    },
}

/// A refused connection, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The caller's SPIFFE ID; None when it presented no SVID.
    pub caller: Option<SpiffeId>,
    /// The proxy's own identity (the gateway's or the sidecar's SVID).
    pub proxy: SpiffeId,
    /// The service called (empty when no route matched).
    pub service: String,
    /// The port called.
    pub port: u16,
    /// Why: the deciding rule, `no identity rule`, `revoked` or `no route`.
    pub reason: String,
    /// The caller's address.
    pub peer: SocketAddr,
}

/// Allow and deny counts of one service.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections allowed.
    pub allowed: AtomicU64,
    /// Connections denied by policy, revocation or a missing route.
    pub denied: AtomicU64,
}

/// Called with every denial (the agent appends it to the audit log).
pub type AuditFn = Box<dyn Fn(&Denial) + Send + Sync>;

/// Orders a route's backends for one connection (see [`super::backends`]).
pub type Ranker = Arc<dyn Fn(&[SocketAddr]) -> Vec<SocketAddr> + Send + Sync>;

/// The backends of a route configured without any: the mTLS endpoints the
/// control plane's registry publishes for the named service, now.
pub type Resolver = Arc<dyn Fn(&str) -> Vec<SocketAddr> + Send + Sync>;

struct Creds {
    id: SpiffeId,
    server: Arc<ServerConfig>,
    /// Per service (gateway routes): a client that expects that service's SVID.
    clients: BTreeMap<String, Arc<ClientConfig>>,
}

/// One running proxy (see the module docs).
pub struct Proxy {
    td: TrustDomain,
    mode: Mode,
    /// None until the proxy has an SVID (handshakes are refused).
    creds: RwLock<Option<Arc<Creds>>>,
    rules: RwLock<Arc<IdentityRules>>,
    revoked: RwLock<BTreeSet<SpiffeId>>,
    counters: BTreeMap<String, Counters>,
    handshake_failures: AtomicU64,
    audit: AuditFn,
    ranker: RwLock<Option<Ranker>>,
    resolver: RwLock<Option<Resolver>>,
}

/// The key unroutable connections are counted under.
pub const NO_ROUTE: &str = "(no route)";

impl Proxy {
    /// A proxy in `mode` for trust domain `td`, presenting `svid` (none
    /// yet: it refuses handshakes until [`Proxy::set_credentials`]),
    /// trusting `bundle`, deciding by `rules`.
    pub fn new(
        td: TrustDomain,
        mode: Mode,
        svid: Option<&Svid>,
        bundle: &[Vec<u8>],
        rules: IdentityRules,
        audit: AuditFn,
    ) -> Result<Arc<Self>> {
        let mut counters = BTreeMap::new();
        match &mode {
            Mode::Gateway(routes) => {
                for r in routes {
                    counters.insert(r.service.clone(), Counters::default());
                }
                counters.insert(NO_ROUTE.to_owned(), Counters::default());
            }
            Mode::Sidecar { service, .. } => {
                counters.insert(service.clone(), Counters::default());
            }
        }
        let creds = svid.map(|svid| build_creds(&td, &mode, svid, bundle)).transpose()?;
        Ok(Arc::new(Self {
            td,
            mode,
            creds: RwLock::new(creds.map(Arc::new)),
            rules: RwLock::new(Arc::new(rules)),
            revoked: RwLock::new(BTreeSet::new()),
            counters,
            handshake_failures: AtomicU64::new(0),
            audit,
            ranker: RwLock::new(None),
            resolver: RwLock::new(None),
        }))
    }

    /// Replaces the SVID and trust bundle for new connections.
    pub fn set_credentials(&self, svid: &Svid, bundle: &[Vec<u8>]) -> Result<()> {
        let creds = build_creds(&self.td, &self.mode, svid, bundle)?;
        *self.creds.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Arc::new(creds));
        Ok(())
    }

    /// Replaces the identity rules for new connections.
    pub fn set_rules(&self, rules: IdentityRules) {
        *self.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(rules);
    }

    /// Orders a gateway's backends with `ranker` (health and RTT of their
    /// sites) from the next connection on; without one, the configured order.
    pub fn set_ranker(&self, ranker: Ranker) {
        *self.ranker.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ranker);
    }

    /// Takes the backends of routes configured without any from `resolver`
    /// (the registry), asked on every connection.
    pub fn set_resolver(&self, resolver: Resolver) {
        *self.resolver.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(resolver);
    }

    /// Refuses `id` from the next connection on.
    pub fn revoke(&self, id: SpiffeId) {
        self.revoked.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id);
    }

    /// `(service, allowed, denied)` for every service this proxy serves.
    pub fn counts(&self) -> Vec<(String, u64, u64)> {
        self.counters
            .iter()
            .map(|(s, c)| {
                (s.clone(), c.allowed.load(Ordering::Relaxed), c.denied.load(Ordering::Relaxed))
            })
            .collect()
    }

    /// TLS handshakes that failed (no or untrusted SVID where one is required).
    pub fn handshake_failures(&self) -> u64 {
        self.handshake_failures.load(Ordering::Relaxed)
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { continue };
            let me = Arc::clone(&self);
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                if let Err(e) = me.handle(stream, peer).await {
                    crate::log_warn!(Zt, "zt proxy: {peer}: {e:#}");
                }
            });
        }
    }

    fn creds(&self) -> Option<Arc<Creds>> {
        self.creds.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    async fn handle(&self, stream: TcpStream, peer: SocketAddr) -> Result<()> {
        let Some(creds) = self.creds() else {
            self.handshake_failures.fetch_add(1, Ordering::Relaxed);
            anyhow::bail!("no SVID yet: the control plane has not issued one");
        };
        let accept = TlsAcceptor::from(Arc::clone(&creds.server)).accept(stream);
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                self.handshake_failures.fetch_add(1, Ordering::Relaxed);
                return Err(e).context("TLS handshake");
            }
            Err(_) => {
                self.handshake_failures.fetch_add(1, Ordering::Relaxed);
                anyhow::bail!("TLS handshake timed out");
            }
        };
        let (_, conn) = tls.get_ref();
        let caller = match conn.peer_certificates().and_then(|c| c.first()) {
            Some(leaf) => Some(weft_identity::san::spiffe_id(leaf).context("caller SVID")?),
            None => None,
        };
        let sni = conn.server_name().map(str::to_owned);
        let (service, port, target) = match &self.mode {
            Mode::Sidecar { service, port, local } => {
                (service.clone(), *port, Target::Plain(*local))
            }
            Mode::Gateway(routes) => {
                let Some(r) = routes.iter().find(|r| Some(&r.host) == sni.as_ref()) else {
                    self.deny(&creds, caller, NO_ROUTE, 0, NO_ROUTE.to_owned(), peer);
                    anyhow::bail!("no route for server name {sni:?}");
                };
                (r.service.clone(), r.port, Target::Mesh(r.backends.clone()))
            }
        };
        let revoked = caller.as_ref().is_some_and(|c| {
            self.revoked.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(c)
        });
        let decision = if revoked {
            (Action::Deny, "revoked".to_owned())
        } else {
            let rules =
                Arc::clone(&self.rules.read().unwrap_or_else(std::sync::PoisonError::into_inner));
            let d = rules.decide(caller.as_ref(), &service, port);
            (
                d.action,
                d.rule.map_or_else(|| "no identity rule".to_owned(), |r| format!("rule {r:?}")),
            )
        };
        if decision.0 == Action::Deny {
            self.deny(&creds, caller, &service, port, decision.1, peer);
            return Ok(());
        }
        if let Some(c) = self.counters.get(&service) {
            c.allowed.fetch_add(1, Ordering::Relaxed);
        }
        let mut tls = tls;
        match target {
            Target::Plain(addr) => {
                let mut up =
                    TcpStream::connect(addr).await.with_context(|| format!("connecting {addr}"))?;
                up.set_nodelay(true)?;
                ended(copy_bidirectional(&mut tls, &mut up).await)
            }
            Target::Mesh(backends) => {
                let client = creds.clients.get(&service).context("no client for the route")?;
                let backends = if backends.is_empty() {
                    let resolver = self.resolver.read();
                    let resolver = resolver.unwrap_or_else(std::sync::PoisonError::into_inner);
                    resolver.as_ref().map_or_else(Vec::new, |r| r(&service))
                } else {
                    backends
                };
                let ranker =
                    self.ranker.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                let backends = ranker.map_or(backends.clone(), |r| r(&backends));
                let mut up = connect_backend(client, &backends).await?;
                ended(copy_bidirectional(&mut tls, &mut up).await)
            }
        }
    }

    fn deny(
        &self,
        creds: &Creds,
        caller: Option<SpiffeId>,
        service: &str,
        port: u16,
        reason: String,
        peer: SocketAddr,
    ) {
        if let Some(c) = self.counters.get(service) {
            c.denied.fetch_add(1, Ordering::Relaxed);
        }
        (self.audit)(&Denial {
            caller,
            proxy: creds.id.clone(),
            service: service.to_owned(),
            port,
            reason,
            peer,
        });
    }
}

/// A splice's end: a peer closing without TLS `close_notify` (most clients
/// do) is an ordinary end, not an error.
fn ended(r: std::io::Result<(u64, u64)>) -> Result<()> {
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => Err(e.into()),
        _ => Ok(()),
    }
}

enum Target {
    Plain(SocketAddr),
    Mesh(Vec<SocketAddr>),
}

/// The first backend that completes an mTLS handshake, in list order.
async fn connect_backend(
    client: &Arc<ClientConfig>,
    backends: &[SocketAddr],
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut last =
        anyhow::anyhow!("the route has no backends (none registered, or its site drained)");
    for addr in backends {
        let attempt = async {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::IpAddress(addr.ip().into());
            Ok::<_, anyhow::Error>(TlsConnector::from(Arc::clone(client)).connect(name, tcp).await?)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = e.context(format!("backend {addr}")),
            Err(_) => last = anyhow::anyhow!("backend {addr}: timed out"),
        }
    }
    Err(last)
}

fn build_creds(td: &TrustDomain, mode: &Mode, svid: &Svid, bundle: &[Vec<u8>]) -> Result<Creds> {
    let (require_client, services): (bool, Vec<&str>) = match mode {
        Mode::Gateway(routes) => (false, routes.iter().map(|r| r.service.as_str()).collect()),
        Mode::Sidecar { .. } => (true, Vec::new()),
    };
    let mut clients = BTreeMap::new();
    for s in services {
        let expect = service_id(td, s).with_context(|| format!("service name {s:?}"))?;
        clients.insert(s.to_owned(), tls::client_config(svid, bundle, expect)?);
    }
    Ok(Creds {
        id: svid.id.clone(),
        server: tls::server_config(svid, bundle, require_client)?,
        clients,
    })
}
