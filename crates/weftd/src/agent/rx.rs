//! The receive direction: uplink socket → WireGuard → allowed-IPs check →
//! policy gate → TUN. Weft probes and echoes go to the control loop.
//! Handshake initiations pass the flood shield's limits (and, under load,
//! its cookie check) before any public-key work; junk is counted per source;
//! decrypted packets for this site are counted per destination prefix.
//!
//! Batched both ways: one `recvmmsg` (with UDP GRO, each message may hold
//! dozens of datagrams), then the decrypted packets of the batch are written
//! to the TUN device together, the segments of each TCP flow coalesced into
//! large writes when the device offloads. The writes run on the thread's
//! [`Stage`] (`weft-rx-tun-N`): the kernel's half of receiving (the TCP stack
//! behind the TUN device) on another core while this thread decrypts the
//! next batch. Batches stay in order.
//!
//! The gate enforces the policy on arrival too, so a site's segmentation
//! holds against peers that do not run it (stock WireGuard peers, older
//! agents, a peer with another policy).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use weft_dataplane::packet::{addresses, dscp, flow_key};
use weft_dataplane::sys::{DEFAULT_SLOT, GRO_SLOT, MAX_BATCH, RecvBatch, TunWriteBatch};
use weft_dataplane::wg::{DatagramKind, WgResult, classify, session_index};

use super::control::ControlMsg;
use super::gate::{Direction, Gate};
use super::relay::Relays;
use super::shared::{PeerTable, Shared, reason_label};
use super::stage::Stage;
use crate::flood::InitOutcome;

/// Empty TUN write batches in circulation besides the one being filled.
const SPARE_BATCHES: usize = 2;

/// Decrypted packets on their way to the TUN device: the batch being
/// filled and the stage that writes full ones.
struct ToTun<'a> {
    shared: &'a Shared,
    batch: TunWriteBatch,
    stage: Option<Stage<TunWriteBatch>>,
}

impl ToTun<'_> {
    /// Queues `packet`, handing the batch over first when it is full.
    fn push(&mut self, packet: &[u8]) {
        if self.batch.is_full() {
            self.flush();
        }
        if self.batch.push(packet).is_err() {
            self.shared.drops.count("rx_too_long");
        }
    }

    /// Hands the batch to the stage (or writes it here when the stage is gone).
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        if let Some(stage) = &self.stage {
            if stage.hand_over(&mut self.batch) {
                return;
            }
            crate::log_warn!(
                Dataplane,
                "a TUN write stage stopped; writing from the receive thread"
            );
            self.stage = None;
        }
        write_tun(self.shared, &mut self.batch);
    }
}

/// Receives on uplink `uplink` forever.
pub(crate) fn run(shared: &Arc<Shared>, uplink: usize, control: &Sender<ControlMsg>) {
    let socket = &shared.sockets[uplink];
    if let Err(e) = socket.set_read_timeout(Some(Duration::from_millis(500))) {
        crate::log_warn!(
            Dataplane,
            "uplink {}: cannot set read timeout: {e}",
            shared.uplink_names[uplink]
        );
    }
    let slot = if socket.gro() { GRO_SLOT } else { DEFAULT_SLOT };
    let mut batch = RecvBatch::new(64, slot);
    let spares = (0..SPARE_BATCHES).map(|_| TunWriteBatch::new(MAX_BATCH)).collect();
    let stage = Stage::spawn(&format!("weft-rx-tun-{uplink}"), spares, {
        let shared = shared.clone();
        move |batch: &mut TunWriteBatch| write_tun(&shared, batch)
    });
    let stage =
        stage.map_err(|e| crate::log_warn!(Dataplane, "no TUN write stage ({e}); inline")).ok();
    let mut to_tun = ToTun { shared, batch: TunWriteBatch::new(MAX_BATCH), stage };
    let mut out = vec![0u8; 65_536];
    let mut relays = Relays::new(shared, usize::from(shared.tun.mtu()) + 128);
    let mut gate = Gate::new(shared, Instant::now(), uplink + 1, Direction::In);
    loop {
        gate.refresh(shared, Instant::now());
        match socket.recv_batch(&mut batch) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                crate::log_warn!(
                    Dataplane,
                    "uplink {}: receive failed: {e}",
                    shared.uplink_names[uplink]
                );
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        let now = Instant::now();
        let table = shared.table();
        for (src, datagram) in batch.iter() {
            let at = (uplink, src);
            let outs = (&mut to_tun, &mut relays);
            receive(shared, &table, &mut gate, now, at, datagram, &mut out, control, outs);
        }
        to_tun.flush();
        relays.flush_all();
    }
}

#[allow(clippy::too_many_arguments)]
fn receive(
    shared: &Shared,
    t: &PeerTable,
    gate: &mut Gate,
    now: Instant,
    (uplink, src): (usize, SocketAddr),
    datagram: &[u8],
    out: &mut [u8],
    control: &Sender<ControlMsg>,
    (to_tun, relays): (&mut ToTun<'_>, &mut Relays<'_>),
) {
    shared.flood.on_datagram(uplink, datagram.len());
    let peer = match classify(datagram) {
        DatagramKind::WeftProbe | DatagramKind::WeftEcho => {
            let msg =
                ControlMsg::Probe { uplink, src, data: datagram.to_vec(), at: Instant::now() };
            let _ = control.send(msg);
            return;
        }
        // Limits and, under load, cookies before any public-key work.
        DatagramKind::HandshakeInit { .. } => {
            match shared.flood.on_initiation(now, (uplink, src.ip()), datagram, out) {
                InitOutcome::Proceed(key) => key.and_then(|k| t.peer_by_key(&k)),
                InitOutcome::Drop => return,
                InitOutcome::Reply(cookie) => {
                    let _ = shared.sockets[uplink].send_to(cookie, src);
                    return;
                }
            }
        }
        DatagramKind::HandshakeResponse { receiver_index }
        | DatagramKind::CookieReply { receiver_index }
        | DatagramKind::Data { receiver_index } => t.peer_by_session(session_index(receiver_index)),
        DatagramKind::Garbage => {
            shared.flood.on_junk(now, uplink, src.ip(), datagram.len());
            shared.drops.count("garbage");
            return;
        }
    };
    let Some(peer_idx) = peer else {
        shared.flood.on_unknown(now, uplink, src.ip(), datagram.len());
        shared.drops.count("unknown_peer");
        return;
    };
    if t.is_removed(peer_idx) {
        shared.drops.count("peer_removed");
        return;
    }
    let peer = &t.peers[peer_idx];
    let socket = &shared.sockets[uplink];
    let base = out.as_ptr() as usize;
    // Decrypt under the session lock; write to the TUN device after releasing
    // it, so the send thread never waits on our syscall.
    let (span, inner_src) = {
        let Ok(mut session) = peer.session.lock() else {
            shared.drops.count("wg_session_poisoned");
            return;
        };
        match session.decapsulate(Some(src.ip()), datagram, out) {
            WgResult::ToNetwork(reply) => {
                let _ = socket.send_to(reply, src);
                t.note_rx(uplink, src, datagram.len());
                report_roam(t, peer_idx, (uplink, src), control);
                // Packets queued behind the handshake go out now (rare: keep the lock).
                while let WgResult::ToNetwork(p) = session.flush(out) {
                    let _ = socket.send_to(p, src);
                }
                return;
            }
            WgResult::ToTunnel(packet, inner_src) => {
                ((packet.as_ptr() as usize - base, packet.len()), inner_src)
            }
            WgResult::Done => {
                t.note_rx(uplink, src, datagram.len()); // keepalive
                report_roam(t, peer_idx, (uplink, src), control);
                return;
            }
            WgResult::Error(e) => {
                shared.drops.count(&reason_label("wg_", &e));
                return;
            }
        }
    };
    if !peer.prefixes.iter().any(|p| p.contains(inner_src))
        && !relayed_source(shared, t, inner_src, peer_idx)
    {
        shared.drops.count("source_not_allowed");
        return;
    }
    t.note_rx(uplink, src, datagram.len());
    report_roam(t, peer_idx, (uplink, src), control);
    let packet = &mut out[span.0..span.0 + span.1];
    let inner = addresses(packet).ok();
    if let Some((_, dst)) = inner
        && !shared.is_local(dst)
        && let Some(next) = t.peer_for(dst)
        && next != peer_idx
    {
        relays.relay_on(t, gate, next, packet);
        return;
    }
    let packet = &*packet;
    if let Some((src, dst)) = inner {
        // Toward this site's prefixes, before the policy gate: a flood the
        // gate refuses is still a flood.
        shared.flood.on_inner(src, dst, packet.len());
    }
    let Ok(key) = flow_key(packet) else {
        shared.drops.count("rx_malformed");
        return;
    };
    if gate.admit(shared, key, dscp(packet), packet.len(), now).is_none() {
        return;
    }
    to_tun.push(packet);
}

/// A run-time stock peer (a connection profile's client) that authenticated
/// from a source none of its paths has: tells the control loop once, which
/// makes that source its endpoint (WireGuard's roaming). Other peers'
/// endpoints come from the configuration or the mesh, never from packets.
fn report_roam(
    t: &PeerTable,
    peer_idx: usize,
    (uplink, src): (usize, SocketAddr),
    control: &Sender<ControlMsg>,
) {
    let peer = &t.peers[peer_idx];
    if !(peer.stock && peer.dynamic) || t.path_by_addr.contains_key(&(uplink, src)) {
        return;
    }
    let Ok(mut last) = peer.roam_reported.lock() else { return };
    if *last != Some(src) {
        *last = Some(src);
        let _ = control.send(ControlMsg::Roamed { peer: peer_idx, src });
    }
}

/// Writes the decrypted packets waiting for the TUN device.
fn write_tun(shared: &Shared, to_tun: &mut TunWriteBatch) {
    if shared.tun.write_coalesced(to_tun).is_err() {
        shared.drops.count("tun_write_failed");
    }
}

/// Whether `inner_src` may arrive from `sender`, a peer that does not own
/// it: only when `sender` is the relay this site itself uses towards the
/// owner, or the relay the owner's own signed link-state advertisement says
/// it uses towards us; no other peer can speak with the owner's addresses.
fn relayed_source(
    shared: &Shared,
    t: &PeerTable,
    inner_src: std::net::IpAddr,
    sender: usize,
) -> bool {
    let sender = u32::try_from(sender).unwrap_or(u32::MAX);
    let is = |slots: &[std::sync::atomic::AtomicU32], owner: usize| {
        slots.get(owner).is_some_and(|a| a.load(std::sync::atomic::Ordering::Relaxed) == sender)
    };
    t.peer_for(inner_src).is_some_and(|owner| {
        is(&shared.relay_accept, owner) || is(&shared.relay_accept_said, owner)
    })
}
