//! Serves the WireGuard UAPI socket so `wg show <iface>` works against weftd.
//!
//! `get` reports the device and every peer (current endpoint, handshake time,
//! byte counters, allowed IPs). `set` is refused with EOPNOTSUPP: peers come
//! from the site configuration (and, later, from enrolment).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::uapi::{DeviceSnapshot, PeerSnapshot, Request, error_reply, get_reply, parse_request};

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

fn handle(mut stream: UnixStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\n" {
                break;
            }
            text.push_str(&line);
        }
        let reply = match parse_request(&text) {
            Ok(Request::Get) => get_reply(&snapshot(shared)),
            Ok(Request::Set(_)) => "errno=95\n\n".to_owned(),
            Err(e) => error_reply(&e),
        };
        stream.write_all(reply.as_bytes())?;
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
