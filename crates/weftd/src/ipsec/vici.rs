//! The control thread: keeps charon running (restarted 1 s after it
//! exits), loads every gateway's connection and PSK into it, unloads the
//! `weft-*` connections no longer configured (not the IPsec clients'
//! `weft-client-*`, see [`super::clients`]), initiates the ones without an
//! IKE_SA (at most every 5 s each), and reads `list-sas` every second into
//! the shared status (IKE state, CHILD_SA installed, bytes and packets).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use weft_vici::{Client, Message, SiteToSite, check_success, load_key, parse_list_sa};

use super::charon::Dir;
use super::creds::{self, Creds};
use super::engine::{Engine, IF_ID};
use super::{Shared, conn_name};
use crate::config::{IpsecAuth, IpsecConfig};

/// How long `initiate` may wait for the SA.
const INITIATE_TIMEOUT: Duration = Duration::from_secs(5);
/// The least time between two `initiate`s of one gateway.
const INITIATE_EVERY: Duration = Duration::from_secs(5);

/// The VICI form of one gateway (with a PSK; [`with_creds`] turns it to
/// certificates).
pub(crate) fn site_to_site(g: &IpsecConfig) -> SiteToSite {
    let mut s = SiteToSite::new(&conn_name(g), &g.local.to_string(), &g.remote.to_string())
        .with_ts(
            g.local_prefixes.iter().map(ToString::to_string),
            g.remote_prefixes.iter().map(ToString::to_string),
        );
    s.proposals.clone_from(&g.proposals);
    s.esp_proposals.clone_from(&g.esp_proposals);
    s
}

/// `gw` authenticating with certificates: ours sent, the gateway's checked
/// against the CA and `remote_id`.
pub(crate) fn with_creds(gw: SiteToSite, c: &Creds, remote_id: &str) -> SiteToSite {
    gw.with_ids(&c.local_id, remote_id).with_certs(
        c.cert.clone().into_bytes(),
        c.cacerts.iter().map(|p| p.clone().into_bytes()).collect(),
    )
}

/// Starts charon from a thread that lives as long as the agent (charon
/// dies with the thread that spawned it) and keeps it configured.
pub(crate) fn start(
    dir: Dir,
    engine: Engine,
    gateways: Vec<IpsecConfig>,
    shared: Arc<Shared>,
) -> Result<()> {
    let (started, ready) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("weft-ipsec".into()).spawn(move || {
        let mut child = match dir.spawn(engine) {
            Ok(c) => {
                let _ = started.send(Ok(()));
                c
            }
            Err(e) => {
                let _ = started.send(Err(e));
                return;
            }
        };
        shared.charon_starts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::log_info!(
            Agent,
            "ipsec: charon (pid {}) for {} gateway(s), log {}",
            child.id(),
            gateways.len(),
            dir.log().display()
        );
        let mut keeper = Keeper {
            dir,
            engine,
            gateways,
            shared,
            client: None,
            initiated: Vec::new(),
            broken: Vec::new(),
        };
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                crate::log_warn!(
                    Agent,
                    "ipsec: charon exited ({status}); starting it again in 1 s"
                );
                keeper.client = None;
                keeper.clear();
                std::thread::sleep(Duration::from_secs(1));
                match keeper.dir.spawn(engine) {
                    Ok(c) => {
                        child = c;
                        keeper
                            .shared
                            .charon_starts
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => crate::log_warn!(Agent, "ipsec: {e:#}"),
                }
                continue;
            }
            if let Err(e) = keeper.round() {
                crate::log_warn!(Agent, "ipsec: {e:#}");
                keeper.client = None;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })?;
    ready.recv().context("the IPsec thread")?
}

struct Keeper {
    dir: Dir,
    engine: Engine,
    gateways: Vec<IpsecConfig>,
    shared: Arc<Shared>,
    /// Connected and loaded; `None` after charon restarted or an error.
    client: Option<Client>,
    /// When each gateway was last initiated.
    initiated: Vec<Option<Instant>>,
    /// The gateways whose files could not be read (not loaded, not initiated).
    broken: Vec<bool>,
}

impl Keeper {
    /// One second's work: (re)load when needed, read the SAs, initiate.
    fn round(&mut self) -> Result<()> {
        if self.client.is_none() {
            let (c, broken) = self.load()?;
            self.client = Some(c);
            self.broken = broken;
            self.initiated = vec![None; self.gateways.len()];
        }
        let Some(c) = self.client.as_mut() else { return Ok(()) };
        let (events, _) = c.call_streaming("list-sas", "list-sa", &Message::new())?;
        let sas: Vec<_> = events.iter().flat_map(parse_list_sa).collect();
        for (i, g) in self.gateways.iter().enumerate() {
            let name = conn_name(g);
            let ike = sas.iter().find(|s| s.conn == name);
            let child = ike.and_then(|s| s.installed_child(&name)).cloned();
            let state = ike.map(|s| s.state.clone()).unwrap_or_default();
            self.shared.update(i, |s| {
                s.ike_state = state;
                s.installed = child.is_some();
                if child.is_some() {
                    s.last_error = None;
                }
                if let Some(ch) = &child {
                    (s.bytes_in, s.bytes_out) = (ch.bytes_in, ch.bytes_out);
                    (s.packets_in, s.packets_out) = (ch.packets_in, ch.packets_out);
                }
            });
            let due = self.initiated[i].is_none_or(|t| t.elapsed() >= INITIATE_EVERY);
            if child.is_none() && due && self.broken.get(i) != Some(&true) {
                self.initiated[i] = Some(Instant::now());
                let gw = site_to_site(g);
                c.set_timeout(INITIATE_TIMEOUT + Duration::from_secs(5))?;
                let answer = c.call("initiate", &gw.initiate(INITIATE_TIMEOUT));
                c.set_timeout(weft_vici::client::DEFAULT_TIMEOUT)?;
                match answer.map_err(anyhow::Error::from).and_then(|a| Ok(check_success(&a)?)) {
                    Ok(()) => crate::log_info!(Agent, "ipsec {}: CHILD_SA up", g.name),
                    Err(e) => {
                        crate::log_info!(Agent, "ipsec {}: initiate: {e:#}", g.name);
                        let e = format!("initiate: {e:#}");
                        self.shared.update(i, |s| s.last_error = Some(e));
                    }
                }
            }
        }
        Ok(())
    }

    /// Connects to charon, loads every gateway, unloads stale `weft-*`
    /// connections; says which gateways could not be loaded (their files).
    fn load(&self) -> Result<(Client, Vec<bool>)> {
        let mut c =
            Client::connect(self.dir.vici()).context("connecting to charon's VICI socket")?;
        let mut broken = vec![false; self.gateways.len()];
        for (i, g) in self.gateways.iter().enumerate() {
            let mut gw = site_to_site(g);
            if self.engine == Engine::Kernel {
                gw = gw.with_if_id(IF_ID);
            }
            match &g.auth {
                IpsecAuth::Psk { psk_file } => {
                    let psk = std::fs::read_to_string(psk_file).with_context(|| {
                        format!("ipsec {}: reading {}", g.name, psk_file.display())
                    })?;
                    check_success(&c.call("load-conn", &gw.load_conn())?)
                        .with_context(|| format!("ipsec {}: load-conn", g.name))?;
                    check_success(&c.call("load-shared", &gw.load_psk(psk.trim()))?)
                        .with_context(|| format!("ipsec {}: load-shared", g.name))?;
                }
                IpsecAuth::Cert(a) => {
                    // Bad files break this gateway only: said in its status,
                    // read again when charon or the agent restarts.
                    let cr = match creds::read(a) {
                        Ok(cr) => cr,
                        Err(e) => {
                            let e = format!("{e:#}");
                            crate::log_warn!(Agent, "ipsec {}: {e}", g.name);
                            self.shared.update(i, |s| s.last_error = Some(e));
                            broken[i] = true;
                            continue;
                        }
                    };
                    check_success(&c.call("load-key", &load_key(&cr.key))?).with_context(|| {
                        format!("ipsec {}: load-key {}", g.name, a.key_file.display())
                    })?;
                    let gw = with_creds(gw, &cr, &a.remote_id);
                    check_success(&c.call("load-conn", &gw.load_conn())?)
                        .with_context(|| format!("ipsec {}: load-conn", g.name))?;
                }
            }
        }
        let wanted: Vec<String> = self.gateways.iter().map(conn_name).collect();
        let conns = c.call("get-conns", &Message::new())?;
        for loaded in conns.list("conns").unwrap_or_default() {
            let name = String::from_utf8_lossy(loaded).into_owned();
            // the IPsec clients' connections are `clients`'s
            let client = name.starts_with(super::clients::PREFIX);
            if name.starts_with("weft-") && !client && !wanted.contains(&name) {
                check_success(&c.call("unload-conn", &Message::new().with_value("name", &name))?)?;
                crate::log_info!(Agent, "ipsec: unloaded {name} (no longer configured)");
            }
        }
        crate::log_info!(
            Agent,
            "ipsec: {} connection(s) loaded into charon",
            broken.iter().filter(|b| !**b).count()
        );
        Ok((c, broken))
    }

    /// Forgets the SAs (charon is gone).
    fn clear(&self) {
        for i in 0..self.gateways.len() {
            self.shared.update(i, |s| {
                s.ike_state.clear();
                s.installed = false;
            });
        }
    }
}
