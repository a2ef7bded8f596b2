//! Serves the WireGuard UAPI socket so `wg show <iface>` and `wg set` work
//! against weftd.
//!
//! `get` reports the device and every peer (current endpoint, handshake time,
//! byte counters, allowed IPs). `set` adds, changes and removes stock
//! WireGuard peers at run time (see `uapi_set` for what may change and the
//! errnos of what may not): the changes go to the control loop as mesh
//! updates of `stock`, `dynamic` peers, and the answer waits until the data
//! plane has them, so a `wg show` after `wg set` sees them. They last until
//! the agent restarts (the configuration's `[[peer]] stock = true` is the
//! durable way). Every accepted or refused `set` is logged (component `uapi`).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use weft_types::PublicKey;

use crate::uapi::{
    DeviceSnapshot, Framed, PeerSnapshot, Request, errno_reply, error_reply, get_reply,
    next_request,
};

use super::shared::{PeerRt, Shared};
use super::uapi_set::{self, Change, DeviceView, Owner, PeerView, Refusal};
use super::{ControlMsg, MeshUpdate};

/// The socket path `wg` looks for.
pub(crate) fn socket_path(interface: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/wireguard/{interface}.sock"))
}

/// Binds the UAPI socket (replacing a stale one).
pub(crate) fn bind(interface: &str) -> std::io::Result<UnixListener> {
    let path = socket_path(interface);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&path);
    UnixListener::bind(&path)
}

/// Answers requests forever; `set` changes go to `control`.
pub(crate) fn serve(listener: &UnixListener, shared: &Arc<Shared>, control: &Sender<ControlMsg>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = handle(stream, shared, control);
    }
}

/// How long a client may stay silent: the socket is served one client at a
/// time, so a stuck client must not hold `wg show` up for long.
const IDLE: std::time::Duration = std::time::Duration::from_secs(5);

fn handle(
    mut stream: UnixStream,
    shared: &Shared,
    control: &Sender<ControlMsg>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match next_request(&buf) {
            Framed::Complete(request, used) => {
                let reply = match request {
                    Ok(Request::Get) => {
                        crate::log_debug!(Uapi, "get (wg show)");
                        get_reply(&snapshot(shared))
                    }
                    Ok(Request::Set(lines)) => set(shared, control, &lines),
                    Err(e) => {
                        // Not the line itself: it may hold a key.
                        let what = match e {
                            crate::uapi::UapiError::UnknownOperation(_) => "an unknown operation",
                            _ => "a malformed line",
                        };
                        crate::log_warn!(Uapi, "refused a request (errno {}): {what}", e.errno());
                        error_reply(&e)
                    }
                };
                stream.write_all(reply.as_bytes())?;
                buf.drain(..used);
            }
            Framed::TooLarge => {
                return stream.write_all(errno_reply(uapi_set::EINVAL).as_bytes());
            }
            Framed::Incomplete => {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

fn snapshot(shared: &Shared) -> DeviceSnapshot {
    let now = SystemTime::now();
    let policy = shared.active_policy();
    let table = shared.table();
    let peers = table
        .peers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_tunnel())
        .map(|(pi, p)| {
            let stats = p.session.lock().map(|s| s.stats()).ok();
            let endpoint =
                table.direct_path(&policy, pi, 0).map(|i| table.paths[i as usize].remote);
            let last_handshake = stats
                .as_ref()
                .and_then(|s| s.since_last_handshake)
                .and_then(|ago| now.checked_sub(ago))
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
            let (rx_bytes, tx_bytes) = p.paths.iter().fold((0, 0), |(rx, tx), i| {
                let path = &table.paths[*i as usize];
                (
                    rx + path.rx_bytes.load(Ordering::Relaxed),
                    tx + path.tx_bytes.load(Ordering::Relaxed),
                )
            });
            PeerSnapshot {
                public_key: p.public_key,
                endpoint,
                last_handshake,
                rx_bytes,
                tx_bytes,
                persistent_keepalive: p.keepalive.unwrap_or(0),
                allowed_ips: p.prefixes.clone(),
                preshared_key: shared.stock_psk(&p.public_key).map(|k| k.0),
            }
        })
        .collect();
    DeviceSnapshot {
        private_key: shared.private_key.clone(),
        listen_port: listen_port(shared),
        fwmark: 0,
        peers,
    }
}

/// The UDP port of the first uplink (what `get` reports).
fn listen_port(shared: &Shared) -> u16 {
    shared.sockets.first().and_then(|s| s.local_addr().ok()).map_or(0, |a| a.port())
}

/// How long a `set` waits for the data plane to have its changes.
const APPLY_WITHIN: Duration = Duration::from_secs(3);

/// Checks and applies one `set`; the reply (`errno=0` or the refusal's).
fn set(shared: &Shared, control: &Sender<ControlMsg>, lines: &[(String, String)]) -> String {
    let table = shared.table();
    let views: Vec<PeerView> = table
        .peers
        .iter()
        .filter(|p| !p.gone.load(Ordering::Relaxed))
        .map(|p| PeerView {
            name: p.name.clone(),
            key: p.public_key,
            prefixes: p.prefixes.clone(),
            endpoints: p.endpoints.clone(),
            keepalive: p.keepalive,
            psk: shared.stock_psk(&p.public_key),
            owner: Owner::of(p.dynamic, p.stock),
        })
        .collect();
    let dev = DeviceView {
        private_key: &shared.private_key,
        public_key: weft_dataplane::wg::public_key(&shared.private_key),
        listen_port: listen_port(shared),
        local_prefixes: &shared.local_prefixes,
        peers: &views,
    };
    let result = uapi_set::plan(lines, &dev).and_then(|changes| {
        let before: Vec<(PublicKey, Option<Arc<PeerRt>>)> = changes
            .iter()
            .map(|c| {
                let key = match c {
                    Change::Up { spec, .. } => spec.public_key,
                    Change::Remove { key, .. } => *key,
                };
                (key, live(shared, &key))
            })
            .collect();
        for change in &changes {
            apply(shared, control, change)?;
        }
        wait_applied(shared, &changes, &before)
    });
    match result {
        Ok(()) => "errno=0\n\n".to_owned(),
        Err(r) => {
            crate::log_warn!(Uapi, "wg set refused (errno {}): {}", r.errno, r.why);
            errno_reply(r.errno)
        }
    }
}

/// The live peer with `key`, if any.
fn live(shared: &Shared, key: &PublicKey) -> Option<Arc<PeerRt>> {
    let table = shared.table();
    table.peers.iter().find(|p| p.public_key == *key && !p.gone.load(Ordering::Relaxed)).cloned()
}

fn gone_loop() -> Refusal {
    Refusal { errno: uapi_set::EIO, why: "the control loop is gone".to_owned() }
}

/// Hands one change to the control loop.
fn apply(shared: &Shared, control: &Sender<ControlMsg>, change: &Change) -> Result<(), Refusal> {
    let mut psks = shared.stock_psks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match change {
        Change::Up { spec, psk, renew } => {
            match psk {
                Some(k) => psks.insert(spec.public_key, *k),
                None => psks.remove(&spec.public_key),
            };
            drop(psks);
            if *renew {
                let down = MeshUpdate::Down {
                    site: spec.name.clone(),
                    reason: "its session changed through the UAPI".to_owned(),
                    now: true,
                };
                control.send(ControlMsg::Mesh(down)).map_err(|_| gone_loop())?;
            }
            let prefixes: Vec<String> = spec.prefixes.iter().map(ToString::to_string).collect();
            let endpoints: Vec<String> = spec.endpoints.iter().map(ToString::to_string).collect();
            crate::log_info!(
                Uapi,
                "wg set: stock peer {} ({}) endpoint {}, allowed IPs [{}], keepalive {}, preshared key {}",
                spec.name,
                spec.public_key,
                endpoints.join(", "),
                prefixes.join(", "),
                spec.keepalive.map_or_else(|| "off".to_owned(), |d| format!("{} s", d.as_secs())),
                if psk.is_some() { "set" } else { "none" }
            );
            control.send(ControlMsg::Mesh(MeshUpdate::Up(spec.clone()))).map_err(|_| gone_loop())
        }
        Change::Remove { site, key } => {
            psks.remove(key);
            drop(psks);
            crate::log_info!(Uapi, "wg set: stock peer {site} ({key}) removed");
            let down = MeshUpdate::Down {
                site: site.clone(),
                reason: "removed through the UAPI".to_owned(),
                now: true,
            };
            control.send(ControlMsg::Mesh(down)).map_err(|_| gone_loop())
        }
    }
}

/// Waits until the data plane has every change: a new session for each
/// peer set, no live peer for each one removed.
fn wait_applied(
    shared: &Shared,
    changes: &[Change],
    before: &[(PublicKey, Option<Arc<PeerRt>>)],
) -> Result<(), Refusal> {
    let deadline = Instant::now() + APPLY_WITHIN;
    loop {
        let done = changes.iter().zip(before).all(|(c, (key, old))| {
            let now = live(shared, key);
            match c {
                Change::Remove { .. } => now.is_none(),
                Change::Up { .. } => {
                    now.is_some_and(|n| old.as_ref().is_none_or(|o| !Arc::ptr_eq(o, &n)))
                }
            }
        });
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Refusal {
                errno: uapi_set::EIO,
                why: format!(
                    "the data plane did not take the change within {APPLY_WITHIN:?} (see the agent's log)"
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
