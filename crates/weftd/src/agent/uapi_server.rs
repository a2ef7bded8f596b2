//! Serves the WireGuard UAPI socket so `wg show <iface>` works against weftd.
//!
//! `get` reports the device and every peer (current endpoint, handshake time,
//! byte counters, allowed IPs). `set` is refused with EOPNOTSUPP: peers come
//! from the site configuration (and, later, from enrolment).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::uapi::{
    DeviceSnapshot, Framed, PeerSnapshot, Request, error_reply, get_reply, next_request,
};

use super::shared::Shared;

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

/// Answers requests forever.
pub(crate) fn serve(listener: &UnixListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = handle(stream, shared);
    }
}

/// How long a client may stay silent: the socket is served one client at a
/// time, so a stuck client must not hold `wg show` up for long.
const IDLE: std::time::Duration = std::time::Duration::from_secs(5);

fn handle(mut stream: UnixStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match next_request(&buf) {
            Framed::Complete(request, used) => {
                let reply = match request {
                    Ok(Request::Get) => get_reply(&snapshot(shared)),
                    Ok(Request::Set(_)) => "errno=95\n\n".to_owned(),
                    Err(e) => error_reply(&e),
                };
                stream.write_all(reply.as_bytes())?;
                buf.drain(..used);
            }
            Framed::TooLarge => {
                return stream.write_all(b"errno=22\n\n");
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
            }
        })
        .collect();
    DeviceSnapshot {
        private_key: shared.private_key.clone(),
        listen_port: shared
            .sockets
            .first()
            .and_then(|s| s.local_addr().ok())
            .map_or(0, |a| a.port()),
        fwmark: 0,
        peers,
    }
}
