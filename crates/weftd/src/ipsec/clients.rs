//! IPsec clients (`weft profile export --ipsec`): the connection profiles
//! registered with a pre-shared key are answered by the agent's charon.
//! One responder connection per client, `weft-client-NAME`: IKEv2, PSK,
//! the site's name as local id and the client's as remote id (what the
//! client's `NAME.swanctl.conf` expects), any remote address, local traffic
//! selectors = what the client may reach (its profile's prefixes), remote =
//! the client's address. The client's address is routed into charon's
//! tunnel device, so that the site's replies reach it.
//!
//! A thread (`weft-ipsec-clients`) compares every second the stored
//! clients with what it loaded: it loads new or changed ones over VICI and
//! unloads revoked ones (connection, key, SAs and route). Without
//! `[[ipsec]]` gateways it starts charon itself, once there is a client
//! (and again if charon exits); with gateways it uses their charon
//! ([`super::vici`] leaves the `weft-client-*` connections alone).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use weft_types::IpPrefix;
use weft_vici::{Client, Message, SiteToSite, check_success};

use super::charon::{DEVICE, Dir};
use super::engine::{self, Engine, IF_ID};

/// The prefix of the client connections' names in charon.
pub(crate) const PREFIX: &str = "weft-client-";

/// One IPsec client as charon must answer it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ClientConn {
    /// Client name (its IKE identity).
    pub(crate) name: String,
    /// Its address, `A.B.C.D/32` (its traffic selector).
    pub(crate) address: IpPrefix,
    /// The prefixes it may reach through this site.
    pub(crate) reach: Vec<IpPrefix>,
    /// Its pre-shared key, hex.
    pub(crate) psk: String,
}

impl std::fmt::Debug for ClientConn {
    /// Everything but the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConn")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("reach", &self.reach)
            .finish_non_exhaustive()
    }
}

/// The clients to answer now (read from the store, narrowed by the policy).
pub(crate) type Wanted = Box<dyn Fn() -> Result<Vec<ClientConn>> + Send>;

/// charon's connection (and child) name of a client.
pub(crate) fn conn_name(client: &str) -> String {
    format!("{PREFIX}{client}")
}

/// The responder connection of `c` at site `site`.
pub(crate) fn responder(site: &str, c: &ClientConn, engine: Engine) -> SiteToSite {
    let mut s = SiteToSite::new(&conn_name(&c.name), "%any", "%any")
        .with_ids(site, &c.name)
        .with_ts(c.reach.iter().map(ToString::to_string), [c.address.to_string()]);
    if engine == Engine::Kernel {
        s = s.with_if_id(IF_ID);
    }
    s
}

/// The `load-shared` argument of `c`'s key: raw bytes, as `swanctl` sends
/// the `0x` key of the client's file; `None` if it is not hex.
pub(crate) fn load_psk(site: &str, c: &ClientConn) -> Option<Message> {
    let hex = c.psk.as_bytes();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes: Option<Vec<u8>> =
        hex.chunks(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect();
    Some(
        Message::new()
            .with_value("id", format!("weft-psk-{}", conn_name(&c.name)))
            .with_value("type", "IKE")
            .with_value("data", bytes?)
            .with_list("owners", [site, c.name.as_str()]),
    )
}

/// Starts the thread. `owns`: no gateway runs charon, this thread starts
/// it when there is a client; `source` is the site's address (the
/// routes' preferred source).
pub(crate) fn start(
    dir: Dir,
    owns: bool,
    site: String,
    source: IpAddr,
    wanted: Wanted,
) -> Result<()> {
    let mut k = Clients {
        dir,
        owns,
        site,
        source,
        wanted,
        engine: None,
        child: None,
        client: None,
        loaded: BTreeMap::new(),
        said: None,
    };
    std::thread::Builder::new()
        .name("weft-ipsec-clients".into())
        .spawn(move || {
            loop {
                if let Err(e) = k.round() {
                    let e = format!("{e:#}");
                    if k.said.as_ref() != Some(&e) {
                        crate::log_warn!(Agent, "ipsec clients: {e} (tried again every second)");
                        k.said = Some(e);
                    }
                    k.client = None;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .context("starting the IPsec clients thread")?;
    Ok(())
}

/// The thread's state.
struct Clients {
    dir: Dir,
    owns: bool,
    site: String,
    source: IpAddr,
    wanted: Wanted,
    /// The ESP engine, chosen when first needed.
    engine: Option<Engine>,
    /// charon, when this thread started it.
    child: Option<Child>,
    /// Connected to charon's VICI socket.
    client: Option<Client>,
    /// What is loaded into charon (and routed), by client name.
    loaded: BTreeMap<String, ClientConn>,
    /// The last error logged, once until it changes.
    said: Option<String>,
}

impl Clients {
    /// One second's work.
    fn round(&mut self) -> Result<()> {
        let wanted = (self.wanted)()?;
        if wanted.is_empty() && self.loaded.is_empty() {
            return Ok(());
        }
        let engine = *self.engine.get_or_insert_with(|| engine::choose(engine::probe()));
        if self.owns {
            let exited = match self.child.as_mut().map(Child::try_wait) {
                None => true,
                Some(Ok(Some(status))) => {
                    crate::log_warn!(Agent, "ipsec clients: charon exited ({status})");
                    true
                }
                Some(_) => false,
            };
            if exited {
                self.client = None;
                let child = self.dir.spawn(engine)?;
                crate::log_info!(
                    Agent,
                    "ipsec: charon (pid {}) for IPsec clients, log {}",
                    child.id(),
                    self.dir.log().display()
                );
                self.child = Some(child);
            }
        }
        if self.client.is_none() {
            let mut c =
                Client::connect(self.dir.vici()).context("connecting to charon's VICI socket")?;
            // Another charon, maybe: load everything again, drop strays.
            self.loaded.clear();
            let conns = c.call("get-conns", &Message::new())?;
            for loaded in conns.list("conns").unwrap_or_default() {
                let name = String::from_utf8_lossy(loaded).into_owned();
                if let Some(client) = name.strip_prefix(PREFIX)
                    && !wanted.iter().any(|w| w.name == client)
                {
                    unload(&mut c, client);
                }
            }
            self.client = Some(c);
            self.said = None;
        }
        let Some(c) = self.client.as_mut() else { return Ok(()) };
        if !self.loaded.is_empty() {
            // charon restarted (by the gateways' thread) or lost them: a
            // broken socket errs here, a missing connection is loaded again
            let conns = c.call("get-conns", &Message::new())?;
            let present: Vec<String> = conns
                .list("conns")
                .unwrap_or_default()
                .iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect();
            self.loaded.retain(|name, _| present.contains(&conn_name(name)));
        }
        for w in &wanted {
            if self.loaded.get(&w.name) == Some(w) {
                continue;
            }
            let Some(psk) = load_psk(&self.site, w) else {
                crate::log_warn!(Agent, "ipsec client {}: its stored key is not hex", w.name);
                continue;
            };
            let conn = responder(&self.site, w, engine);
            check_success(&c.call("load-conn", &conn.load_conn())?)
                .with_context(|| format!("ipsec client {}: load-conn", w.name))?;
            check_success(&c.call("load-shared", &psk)?)
                .with_context(|| format!("ipsec client {}: load-shared", w.name))?;
            route(&[
                "replace",
                &w.address.to_string(),
                "dev",
                DEVICE,
                "src",
                &self.source.to_string(),
            ])
            .with_context(|| format!("ipsec client {}", w.name))?;
            crate::log_info!(
                Agent,
                "ipsec client {}: charon answers its IKE ({} routed into {DEVICE})",
                w.name,
                w.address
            );
            self.loaded.insert(w.name.clone(), w.clone());
        }
        let gone: Vec<ClientConn> = self
            .loaded
            .values()
            .filter(|l| !wanted.iter().any(|w| w.name == l.name))
            .cloned()
            .collect();
        for g in gone {
            unload(c, &g.name);
            let _ = route(&["del", &g.address.to_string(), "dev", DEVICE]);
            crate::log_info!(
                Agent,
                "ipsec client {}: revoked; its connection and SAs are gone",
                g.name
            );
            self.loaded.remove(&g.name);
        }
        Ok(())
    }
}

/// Unloads a client's connection and key and closes its SAs (errors are
/// logged: there may be nothing to close).
fn unload(c: &mut Client, client: &str) {
    let name = conn_name(client);
    let steps = [
        ("unload-conn", Message::new().with_value("name", &name)),
        ("unload-shared", Message::new().with_value("id", format!("weft-psk-{name}"))),
        (
            "terminate",
            Message::new()
                .with_value("ike", &name)
                .with_value("force", "yes")
                .with_value("timeout", "-1"),
        ),
    ];
    for (command, args) in steps {
        match c
            .call(command, &args)
            .map_err(anyhow::Error::from)
            .and_then(|a| Ok(check_success(&a)?))
        {
            Ok(()) => {}
            Err(e) if command == "terminate" => {
                crate::log_info!(Agent, "ipsec client {client}: no SA to close ({e:#})");
            }
            Err(e) => crate::log_warn!(Agent, "ipsec client {client}: {command}: {e:#}"),
        }
    }
}

/// `ip route ARGS`.
fn route(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").arg("route").args(args).output().context("running ip")?;
    if !out.status.success() {
        bail!("ip route {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laptop() -> ClientConn {
        ClientConn {
            name: "laptop".into(),
            address: IpPrefix::parse("100.96.3.4/32").unwrap(),
            reach: vec![IpPrefix::parse("10.77.1.0/24").unwrap()],
            psk: "0aff".repeat(16),
        }
    }

    #[test]
    fn a_client_is_answered_with_its_name_and_address_and_the_sites_prefixes() {
        let conn = responder("a", &laptop(), Engine::Userspace);
        assert_eq!(conn.name, "weft-client-laptop");
        assert_eq!((conn.local_id.as_str(), conn.remote_id.as_str()), ("a", "laptop"));
        assert_eq!(conn.remote_addrs, ["%any"]);
        assert_eq!(conn.local_ts, ["10.77.1.0/24"]);
        assert_eq!(conn.remote_ts, ["100.96.3.4/32"]);
        assert_eq!(conn.if_id, None);
        assert_eq!(responder("a", &laptop(), Engine::Kernel).if_id, Some(IF_ID));
    }

    #[test]
    fn the_key_is_sent_as_bytes_and_never_printed() {
        let c = laptop();
        let msg = load_psk("a", &c).unwrap();
        let mut expected = Vec::new();
        for _ in 0..16 {
            expected.extend([0x0a, 0xff]);
        }
        assert_eq!(msg.get("data"), Some(&weft_vici::Element::Value(expected)));
        assert!(!format!("{c:?}").contains(&c.psk));
        assert!(load_psk("a", &ClientConn { psk: "0x".into(), ..c }).is_none());
    }
}
