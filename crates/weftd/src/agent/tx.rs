//! The send direction: TUN → flow table → class → path → WireGuard → uplink.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use weft_dataplane::flows::FlowTable;
use weft_dataplane::packet::{addresses, flow_key};
use weft_dataplane::wg::WgResult;

use super::shared::{Shared, class_index, reason_label};

/// Flows idle this long are forgotten (and classified afresh).
const FLOW_IDLE: Duration = Duration::from_mins(1);
/// Most flows pinned at once.
const MAX_FLOWS: usize = 100_000;

/// Reads packets from the TUN device and sends them to their peers, forever.
pub(crate) fn run(shared: &Arc<Shared>) {
    let mut buf = vec![0u8; 65_536];
    let mut out = vec![0u8; 65_536 + 64];
    let mut flows: FlowTable<usize> = FlowTable::new(FLOW_IDLE, MAX_FLOWS);
    let mut next_expiry = Instant::now() + FLOW_IDLE;
    loop {
        let n = match shared.tun.read_timeout(&mut buf, Duration::from_millis(500)) {
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                0
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => {
                eprintln!("weftd: TUN read failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                0
            }
        };
        let now = Instant::now();
        if now >= next_expiry {
            flows.expire(now);
            next_expiry = now + Duration::from_secs(5);
        }
        if n == 0 {
            continue;
        }
        send_one(shared, &buf[..n], &mut out, &mut flows, now);
    }
}

fn send_one(
    shared: &Shared,
    packet: &[u8],
    out: &mut [u8],
    flows: &mut FlowTable<usize>,
    now: Instant,
) {
    let Ok((_, dst)) = addresses(packet) else {
        shared.drops.count("tun_malformed");
        return;
    };
    let Some(peer_idx) = shared.peer_for(dst) else {
        shared.drops.count("no_route");
        return;
    };
    let class = match flow_key(packet) {
        Ok(key) => flows
            .touch(key, now, packet.len(), || class_index(shared.classes.classify(&key)))
            .map_or_else(|| class_index(shared.classes.classify(&key)), |e| e.value),
        Err(_) => 3,
    };
    let peer = &shared.peers[peer_idx];
    peer.class_tx[class].fetch_add(1, Ordering::Relaxed);
    let Some(path_idx) = peer.path_for(class) else {
        shared.drops.count("no_path");
        return;
    };
    let path = &shared.paths[path_idx as usize];
    // Encrypt under the session lock; send after releasing it, so the receive
    // thread (decrypting the other direction) never waits on our syscall.
    let base = out.as_ptr() as usize;
    let span = {
        let Ok(mut session) = peer.session.lock() else { return };
        match session.encapsulate(packet, out) {
            WgResult::ToNetwork(d) => (d.as_ptr() as usize - base, d.len()),
            // Done: queued until the handshake completes; ToTunnel never comes from encapsulate.
            WgResult::Done | WgResult::ToTunnel(..) => return,
            WgResult::Error(e) => {
                shared.drops.count(&reason_label("wg_", &e));
                return;
            }
        }
    };
    let datagram = &out[span.0..span.0 + span.1];
    if shared.sockets[path.uplink].send_to(datagram, path.remote).is_ok() {
        path.tx_bytes.fetch_add(datagram.len() as u64, Ordering::Relaxed);
        peer.last_path.store(path_idx, Ordering::Relaxed);
    } else {
        shared.drops.count("send_failed");
    }
}
