//! IPsec gateways as paths (`[[ipsec]]`): `weftd` runs its own strongSwan
//! charon (like BIRD for `[bgp]`), loads one IKEv2 connection per gateway
//! over VICI (`weft-vici`), watches the SAs every second, probes each
//! tunnel with ICMP echo every [`choice::PROBE_INTERVAL`], and routes the
//! gateway's remote prefixes into the tunnel or to the WireGuard site `via`,
//! whichever [`choice::choose`] picks.
//!
//! - [`charon`]: the daemon's directory, configuration and process.
//! - [`vici`]: the control thread: supervise charon, load and unload the
//!   connections, initiate, read `list-sas`.
//! - [`engine`]: ESP in the kernel (XFRM) or in userspace (kernel-libipsec),
//!   chosen by what the kernel can do.
//! - [`creds`]: the certificate files of `auth = "cert"` gateways.
//! - [`icmp`]: the echo socket pinned to charon's TUN device.
//! - [`choice`]: liveness from the probes and the route choice (pure).
//! - [`route`]: `ip route replace` into the chosen path.
//!
//! Two threads: `weft-ipsec` (charon and VICI, may block on charon) and
//! `weft-ipsec-probe` (probes and routing, never blocks on charon), sharing
//! one [`Shared`] snapshot.

mod charon;
mod choice;
mod creds;
mod engine;
mod icmp;
mod route;
mod vici;

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use weft_api::{Event, EventKind, SiteState};

use crate::bgp::SitesNow;
use crate::config::{IpsecAuth, IpsecConfig, SiteConfig};
use choice::{Liveness, Route};

/// One gateway as the API shows it (`GET /api/v1/ipsec`).
pub(crate) type GatewayStatus = weft_api::IpsecGateway;

/// The gateways' state, written by the two threads, read by the API and
/// the metrics.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    gateways: RwLock<Vec<GatewayStatus>>,
    charon_starts: std::sync::atomic::AtomicU64,
    /// The ESP engine's name, once chosen.
    esp_engine: std::sync::OnceLock<&'static str>,
}

impl Shared {
    /// A copy of every gateway's state, in configuration order.
    pub(crate) fn gateways(&self) -> Vec<GatewayStatus> {
        self.gateways.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
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
        Shared { gateways: RwLock::new(gateways), ..Shared::default() }
    }
}

/// Starts charon and the two threads for the site's `[[ipsec]]` gateways,
/// publishing into `shared` (from [`Shared::for_config`]); `sites` says
/// which sites the path engine reaches, `events` takes `ipsec_path_changed`.
pub(crate) fn start(
    cfg: &SiteConfig,
    shared: &Arc<Shared>,
    sites: SitesNow,
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
        sites,
        events,
    };
    std::thread::Builder::new()
        .name("weft-ipsec-probe".into())
        .spawn(move || prober.run())
        .context("starting the IPsec probe thread")?;
    Ok(())
}

/// The probe and routing loop.
struct Prober {
    gateways: Vec<IpsecConfig>,
    source: IpAddr,
    weft_if: String,
    site: String,
    shared: Arc<Shared>,
    sites: SitesNow,
    events: std::sync::mpsc::Sender<Event>,
}

/// One gateway's probing state in the loop.
struct Probing {
    echo: Option<icmp::Echo>,
    live: Liveness,
    seq: u16,
    /// The route last written (`None`: none yet).
    route: Option<Route>,
    /// Write the route again even if unchanged: charon's TUN device came
    /// back (its routes went with the old one).
    reassert: bool,
    /// The last routing error, logged once until it changes.
    error: Option<String>,
}

impl Prober {
    fn run(self) {
        let mut state: Vec<Probing> = self
            .gateways
            .iter()
            .map(|_| Probing {
                echo: None,
                live: Liveness::default(),
                seq: 0,
                route: None,
                reassert: false,
                error: None,
            })
            .collect();
        let base = std::process::id() as u16;
        let mut next = Instant::now();
        loop {
            let now = Instant::now();
            let installed: Vec<bool> = self.shared.gateways().iter().map(|g| g.installed).collect();
            for (i, (g, p)) in self.gateways.iter().zip(&mut state).enumerate() {
                if !installed.get(i).copied().unwrap_or(false) {
                    p.reassert |= p.echo.is_some();
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
            self.decide(&mut state);
        }
    }

    /// Routes every gateway's prefixes where [`choice::choose`] says.
    fn decide(&self, state: &mut [Probing]) {
        let sites = (self.sites)();
        for (i, (g, p)) in self.gateways.iter().zip(state.iter_mut()).enumerate() {
            let wg = g.via.as_ref().map(|v| {
                sites
                    .iter()
                    .any(|s| s.id == *v && matches!(s.state, SiteState::Up | SiteState::Degraded))
            });
            let alive = p.live.alive();
            let want = choice::choose(g.prefer, wg, alive);
            let reassert = p.reassert && alive;
            if p.route != Some(want) || reassert {
                match route::apply(&g.remote_prefixes, want, &self.weft_if, self.source) {
                    Ok(()) => {
                        p.error = None;
                        p.reassert = false;
                        if p.route != Some(want) {
                            self.changed(g, p.route, want, &p.live);
                            if p.route.is_some() {
                                self.shared.update(i, |s| s.changes += 1);
                            }
                        }
                        p.route = Some(want);
                    }
                    Err(e) => {
                        let e = format!("{e:#}");
                        if p.error.as_ref() != Some(&e) {
                            crate::log_warn!(
                                Agent,
                                "ipsec {}: {e} (tried again every 100 ms)",
                                g.name
                            );
                            p.error = Some(e);
                        }
                    }
                }
            }
            let (rtt, loss) = (p.live.rtt_ms(), p.live.loss_pct());
            self.shared.update(i, |s| {
                s.alive = alive;
                want.name().clone_into(&mut s.route);
                s.rtt_ms = rtt;
                s.loss_pct = loss;
            });
        }
    }

    fn changed(&self, g: &IpsecConfig, from: Option<Route>, to: Route, live: &Liveness) {
        let prefixes =
            g.remote_prefixes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
        let message = match from {
            None => format!("ipsec {}: {prefixes} routed over {}", g.name, to.name()),
            Some(f) => {
                format!("ipsec {}: {prefixes} moved from {} to {}", g.name, f.name(), to.name())
            }
        };
        crate::log_info!(Agent, "{message}");
        if from.is_some() {
            let mut ev = Event::new(EventKind::IpsecPathChanged, message);
            ev.site = Some(self.site.clone());
            ev.reason = Some(to.name().to_owned());
            ev.rtt_ms = live.rtt_ms();
            ev.loss_pct = Some(live.loss_pct());
            let _ = self.events.send(ev);
        }
    }
}
