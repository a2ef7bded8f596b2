//! IPsec gateways as paths (`[[ipsec]]`): `weftd` runs its own strongSwan
//! charon (like BIRD for `[bgp]`), loads one IKEv2 connection per gateway
//! over VICI (`weft-vici`), watches the SAs every second, and probes each
//! tunnel with ICMP echo every [`choice::PROBE_INTERVAL`] (RTT, jitter,
//! loss). Each tunnel is then a path beside the WireGuard paths to the site
//! `via`: for every route profile of the running policy,
//! [`choice::choose_for_class`] picks IPsec or WireGuard by the class's SLA,
//! the route's preference and the gateway's `prefer`, and the data plane
//! steers each flow by its class ([`steer`]).
//!
//! - [`charon`]: the daemon's directory, configuration and process.
//! - [`clients`]: the IPsec clients of connection profiles, answered by
//!   the same charon (started for them alone when there is no gateway).
//! - [`vici`]: the control thread: supervise charon, load and unload the
//!   connections, initiate, read `list-sas`.
//! - [`engine`]: ESP in the kernel (XFRM) or in userspace (kernel-libipsec),
//!   chosen by what the kernel can do.
//! - [`creds`]: the certificate files of `auth = "cert"` gateways.
//! - [`icmp`]: the echo socket pinned to charon's TUN device.
//! - [`choice`]: liveness and quality from the probes, the choice (pure).
//! - [`pathview`]: what the running policy and the path engine say.
//! - [`steer`]: the table the send thread steers by, and its raw socket.
//! - [`route`]: `ip route replace` of the remote prefixes: into weft's
//!   interface when there is a `via` (the data plane steers), else into
//!   charon's tunnel.
//!
//! Two threads: `weft-ipsec` (charon and VICI, may block on charon) and
//! `weft-ipsec-probe` (probes and the choice, never blocks on charon),
//! sharing one [`Shared`] snapshot.

mod charon;
mod choice;
pub(crate) mod clients;
mod creds;
mod engine;
mod icmp;
mod pathview;
mod route;
mod steer;
mod vici;

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use weft_api::{Event, EventKind};

use crate::config::{IpsecAuth, IpsecConfig, SiteConfig};
pub(crate) use choice::Route as SteerRoute;
use choice::{Candidate, ClassRule, Liveness, Route};
use pathview::Engine;
pub(crate) use pathview::{EngineNow, EngineView};
pub(crate) use steer::SteerTable;
use steer::{RawOut, Steer};

/// One gateway as the API shows it (`GET /api/v1/ipsec`).
pub(crate) type GatewayStatus = weft_api::IpsecGateway;

/// The gateways' state, written by the two threads, read by the API and
/// the metrics.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    gateways: RwLock<Vec<GatewayStatus>>,
    charon_starts: std::sync::atomic::AtomicU64,
    /// What the send thread steers by, and what it handed to charon.
    pub(crate) steer: Steer,
    /// The ESP engine's name, once chosen.
    esp_engine: std::sync::OnceLock<&'static str>,
}

impl Shared {
    /// A copy of every gateway's state, in configuration order, with the
    /// data plane's counters.
    pub(crate) fn gateways(&self) -> Vec<GatewayStatus> {
        let mut g = self.gateways.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        for (i, g) in g.iter_mut().enumerate() {
            (g.steered_packets, g.steered_bytes, g.steer_dropped) = self.steer.counts(i);
        }
        g
    }

    /// How often charon was started (1 + restarts).
    pub(crate) fn charon_starts(&self) -> u64 {
        self.charon_starts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The API's view.
    pub(crate) fn view(&self) -> weft_api::IpsecStatus {
        weft_api::IpsecStatus {
            charon_starts: self.charon_starts(),
            esp_engine: self.esp_engine.get().copied().unwrap_or_default().to_owned(),
            gateways: self.gateways(),
        }
    }

    fn update(&self, i: usize, f: impl FnOnce(&mut GatewayStatus)) {
        let mut g = self.gateways.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(g) = g.get_mut(i) {
            f(g);
        }
    }
}

/// Starts the thread that has charon answer the site's IPsec clients
/// ([`clients`]); `wanted` reads them. Runs always: charon starts when the
/// first client is registered (here, unless `[[ipsec]]` gateways run it).
pub(crate) fn start_clients(cfg: &SiteConfig, wanted: clients::Wanted) -> Result<()> {
    let dir = charon::Dir(cfg.state_dir.join("ipsec"));
    clients::start(dir, cfg.ipsec.is_empty(), cfg.name.to_string(), cfg.address, wanted)
}

/// charon's connection (and child) name of a gateway.
pub(crate) fn conn_name(g: &IpsecConfig) -> String {
    format!("weft-{}", g.name)
}

impl Shared {
    /// The state of the site's gateways before anything ran; `None` without
    /// `[[ipsec]]`.
    pub(crate) fn for_config(cfg: &SiteConfig) -> Option<Arc<Shared>> {
        (!cfg.ipsec.is_empty()).then(|| {
            Arc::new(Shared::with_gateways(
                cfg.ipsec
                    .iter()
                    .map(|g| GatewayStatus {
                        name: g.name.clone(),
                        remote: g.remote.to_string(),
                        auth: match g.auth {
                            IpsecAuth::Psk { .. } => "psk".to_owned(),
                            IpsecAuth::Cert(_) => "cert".to_owned(),
                        },
                        via: g.via.clone(),
                        ..GatewayStatus::default()
                    })
                    .collect(),
            ))
        })
    }

    /// A state holding `gateways` (the metrics' tests build one).
    pub(crate) fn with_gateways(gateways: Vec<GatewayStatus>) -> Shared {
        let steer = Steer::new(gateways.len());
        Shared { gateways: RwLock::new(gateways), steer, ..Shared::default() }
    }
}

/// Starts charon and the two threads for the site's `[[ipsec]]` gateways,
/// publishing into `shared` (from [`Shared::for_config`]); `view` reads
/// the running policy and the path engine's view, `events` takes
/// `ipsec_path_changed`.
pub(crate) fn start(
    cfg: &SiteConfig,
    shared: &Arc<Shared>,
    view: EngineNow,
    events: std::sync::mpsc::Sender<Event>,
) -> Result<()> {
    let dir = charon::Dir(cfg.state_dir.join("ipsec"));
    let kernel = engine::probe();
    let esp = engine::choose(kernel);
    let _ = shared.esp_engine.set(esp.name());
    crate::log_info!(
        Agent,
        "ipsec: ESP in {} (kernel ESP: {}, XFRM interfaces: {})",
        esp.name(),
        kernel.esp,
        kernel.xfrm_interface
    );
    vici::start(dir, esp, cfg.ipsec.clone(), Arc::clone(shared))
        .context("starting charon ([[ipsec]])")?;
    let prober = Prober {
        gateways: cfg.ipsec.clone(),
        source: cfg.address,
        weft_if: cfg.interface.clone(),
        site: cfg.name.to_string(),
        shared: Arc::clone(shared),
        view,
        events,
    };
    std::thread::Builder::new()
        .name("weft-ipsec-probe".into())
        .spawn(move || prober.run())
        .context("starting the IPsec probe thread")?;
    Ok(())
}

/// The probe and choice loop.
struct Prober {
    gateways: Vec<IpsecConfig>,
    source: IpAddr,
    weft_if: String,
    site: String,
    shared: Arc<Shared>,
    view: EngineNow,
    events: std::sync::mpsc::Sender<Event>,
}

/// One gateway's probing state in the loop.
#[derive(Default)]
struct Probing {
    echo: Option<icmp::Echo>,
    live: Liveness,
    seq: u16,
    /// Per route profile, the choice last published (empty: none yet).
    classes: Vec<Route>,
    /// The choice for traffic of no known profile (best-effort).
    fallback: Option<Route>,
    /// Whether the kernel route of the remote prefixes is in place.
    routed: bool,
    /// The last routing error, logged once until it changes.
    error: Option<String>,
}

impl Prober {
    fn run(self) {
        let mut state: Vec<Probing> = self.gateways.iter().map(|_| Probing::default()).collect();
        let mut out: Option<Arc<RawOut>> = None;
        let base = std::process::id() as u16;
        let mut next = Instant::now();
        loop {
            let now = Instant::now();
            let installed: Vec<bool> = self.shared.gateways().iter().map(|g| g.installed).collect();
            for (i, (g, p)) in self.gateways.iter().zip(&mut state).enumerate() {
                if !installed.get(i).copied().unwrap_or(false) {
                    if p.echo.is_some() {
                        // charon's TUN device may be gone, and its routes
                        // and our socket on it with it
                        p.routed &= g.via.is_some();
                        out = None;
                    }
                    p.echo = None;
                    p.live.reset();
                    continue;
                }
                if p.echo.is_none() {
                    let ident = base.wrapping_add(i as u16);
                    p.echo = icmp::Echo::open(charon::DEVICE, self.source, g.probe, ident)
                        .map_err(|e| {
                            crate::log_warn!(Agent, "ipsec {}: probe socket: {e:#}", g.name);
                        })
                        .ok();
                }
                if let Some(echo) = &p.echo {
                    p.seq = p.seq.wrapping_add(1);
                    if echo.send(p.seq).is_err() {
                        p.echo = None;
                    } else {
                        p.live.handle_sent(p.seq, now);
                    }
                }
            }
            if out.is_none() && installed.iter().any(|i| *i) {
                out = RawOut::open(charon::DEVICE)
                    .map_err(|e| crate::log_warn!(Agent, "ipsec: steering socket: {e:#}"))
                    .ok()
                    .map(Arc::new);
            }
            next += choice::PROBE_INTERVAL;
            // read answers until the next round
            while Instant::now() < next {
                std::thread::sleep(Duration::from_millis(5));
                let now = Instant::now();
                for p in &mut state {
                    if let Some(echo) = &p.echo {
                        for seq in echo.replies() {
                            p.live.handle_reply(seq, now);
                        }
                    }
                    p.live.handle_timeout(now);
                }
            }
            if next + choice::PROBE_INTERVAL < Instant::now() {
                next = Instant::now();
            }
            self.route(&mut state);
            self.decide(&mut state, out.clone());
        }
    }

    /// Puts the remote prefixes' kernel routes in place: into weft's
    /// interface when the gateway has a `via` (the send thread steers each
    /// class), else into charon's tunnel (the only path).
    fn route(&self, state: &mut [Probing]) {
        for (g, p) in self.gateways.iter().zip(state.iter_mut()) {
            if p.routed || (g.via.is_none() && !p.live.alive()) {
                continue;
            }
            let dev = if g.via.is_some() { route::Dev::Weft } else { route::Dev::Tunnel };
            match route::apply(&g.remote_prefixes, dev, &self.weft_if, self.source) {
                Ok(()) => {
                    p.error = None;
                    p.routed = true;
                }
                Err(e) => {
                    let e = format!("{e:#}");
                    if p.error.as_ref() != Some(&e) {
                        crate::log_warn!(Agent, "ipsec {}: {e} (tried again every 100 ms)", g.name);
                        p.error = Some(e);
                    }
                }
            }
        }
    }

    /// Chooses, per gateway and route profile, IPsec or WireGuard, and
    /// publishes the steering table and the gateways' state.
    fn decide(&self, state: &mut [Probing], out: Option<Arc<RawOut>>) {
        let engine = Engine::new((self.view)());
        let profiles = engine.profiles();
        let labels: Vec<(String, String)> = (0..profiles).map(|i| engine.label(i)).collect();
        let mut prefixes = Vec::new();
        let mut routes = Vec::with_capacity(self.gateways.len());
        let mut fallbacks = Vec::with_capacity(self.gateways.len());
        for (i, (g, p)) in self.gateways.iter().zip(state.iter_mut()).enumerate() {
            let ipsec = Candidate {
                alive: p.live.alive(),
                quality: p.live.quality(),
                attrs: weft_path::PathAttrs::default(),
            };
            let choose = |rule: &ClassRule, profile: Option<usize>, current: Option<Route>| {
                let Some(via) = &g.via else { return Route::Ipsec };
                let wg = engine.wireguard(via, profile);
                choice::choose_for_class(g.prefer, rule, wg.as_ref(), &ipsec, current)
            };
            let fallback = choose(&ClassRule::best_effort(), None, p.fallback);
            if p.classes.len() != profiles {
                // another policy: its profiles start afresh
                p.classes.clear();
            }
            let classes: Vec<Route> = (0..profiles)
                .map(|c| choose(&engine.rule(&g.name, c), Some(c), p.classes.get(c).copied()))
                .collect();
            if p.fallback.is_some_and(|f| f != fallback) {
                self.shared.update(i, |s| s.changes += 1);
            }
            for (c, (now, label)) in classes.iter().zip(&labels).enumerate() {
                match p.classes.get(c) {
                    Some(before) if before != now => self.changed(g, label, *before, *now, &p.live),
                    _ => {}
                }
            }
            if p.fallback.is_none() {
                crate::log_info!(
                    Agent,
                    "ipsec {}: {} go over {} ({} routes per class)",
                    g.name,
                    prefixes_text(g),
                    fallback.name(),
                    if g.via.is_some() { "the data plane" } else { "nothing: IPsec only" }
                );
            }
            p.fallback = Some(fallback);
            if g.via.is_some() {
                prefixes.extend(g.remote_prefixes.iter().map(|x| (*x, i)));
            }
            let (rtt, loss, jitter) = (p.live.rtt_ms(), p.live.loss_pct(), p.live.jitter_ms());
            let alive = p.live.alive();
            let class_view = classes
                .iter()
                .zip(&labels)
                .map(|(r, (profile, class))| weft_api::IpsecClassRoute {
                    profile: profile.clone(),
                    class: class.clone(),
                    route: r.name().to_owned(),
                })
                .collect();
            self.shared.update(i, |s| {
                s.alive = alive;
                fallback.name().clone_into(&mut s.route);
                s.rtt_ms = rtt;
                s.jitter_ms = jitter;
                s.loss_pct = loss;
                s.classes = class_view;
            });
            routes.push(classes.clone().into_boxed_slice());
            fallbacks.push(fallback);
            p.classes = classes;
        }
        self.shared.steer.publish(SteerTable::new(prefixes, routes, fallbacks, out));
    }

    fn changed(
        &self,
        g: &IpsecConfig,
        (profile, class): &(String, String),
        from: Route,
        to: Route,
        live: &Liveness,
    ) {
        let message = format!(
            "ipsec {}: {class} traffic (profile {profile}) to {} moved from {} to {}",
            g.name,
            prefixes_text(g),
            from.name(),
            to.name()
        );
        crate::log_info!(Agent, "{message}");
        let mut ev = Event::new(EventKind::IpsecPathChanged, message);
        ev.site = Some(self.site.clone());
        ev.class = Some(class.clone());
        ev.reason = Some(to.name().to_owned());
        ev.rtt_ms = live.rtt_ms();
        ev.loss_pct = Some(live.loss_pct());
        let _ = self.events.send(ev);
    }
}

fn prefixes_text(g: &IpsecConfig) -> String {
    g.remote_prefixes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}
