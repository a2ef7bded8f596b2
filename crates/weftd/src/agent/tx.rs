//! The send direction: TUN → flow table → policy (verdict and route profile)
//! → path → WireGuard → uplink, batched: up to [`MAX_PACKETS`] packets per TUN
//! read loop, one `sendmmsg` per uplink per batch (with UDP GSO, one message
//! per run of same-size datagrams).
//!
//! Two threads: this one reads, classifies and encrypts; its [`Stage`]
//! (`weft-tx-send`) sends the previous batch meanwhile, so the kernel's half
//! of sending runs on another core. Batches stay in order.
//!
//! The [`Gate`] classifies each new flow once by the compiled policy and pins
//! it; denied flows are dropped there and counted by rule.
//!
//! Packets for a shaped uplink (see [`super::qos`]) wait in its scheduler
//! and are encrypted when they leave it, marked with their class's DSCP.
//!
//! Packets for an IPsec gateway's prefixes (`[[ipsec]]` with `via`) go
//! where the gateway's steering table says for their class: into charon's
//! tunnel, on to the site `via` like any packet, or nowhere (see
//! [`crate::ipsec`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use weft_dataplane::packet::{addresses, dscp, flow_key};
use weft_dataplane::sys::{MAX_BATCH, MAX_PACKETS, PacketBatch, SendBatch};
use weft_dataplane::wg::WgResult;

use super::gate::{Direction, Gate};
use super::qos::{Flow, TxQos};
use super::shared::{PeerTable, Shared, reason_label};
use super::stage::Stage;
use crate::ipsec::{SteerRoute, SteerTable};

/// Empty send batches in circulation besides the one being filled per uplink.
const SPARE_BATCHES: usize = 3;

/// A batch of datagrams for one uplink.
#[derive(Debug)]
struct Outgoing {
    uplink: usize,
    /// The outer DSCP of every datagram in the batch.
    dscp: u8,
    batch: SendBatch,
}

/// The batches being filled, one per uplink, and the stage that sends them.
struct Senders<'a> {
    shared: &'a Shared,
    batches: Vec<Outgoing>,
    stage: Option<Stage<Outgoing>>,
}

impl Senders<'_> {
    /// The batch being filled for `uplink`.
    fn batch(&mut self, uplink: usize) -> &mut SendBatch {
        &mut self.batches[uplink].batch
    }

    /// Makes `uplink`'s batch one of datagrams marked `dscp` (flushing a
    /// batch with another mark first).
    fn mark(&mut self, uplink: usize, dscp: u8) {
        if self.batches[uplink].dscp != dscp {
            self.flush(uplink);
            self.batches[uplink].dscp = dscp;
        }
    }

    /// Hands `uplink`'s batch to the send stage (or sends it here when the
    /// stage is gone) and starts an empty one.
    fn flush(&mut self, uplink: usize) {
        let out = &mut self.batches[uplink];
        if out.batch.is_empty() {
            return;
        }
        if let Some(stage) = &self.stage {
            let dscp = out.dscp;
            if stage.hand_over(out) {
                out.uplink = uplink;
                out.dscp = dscp;
                return;
            }
            crate::log_warn!(Dataplane, "the send stage stopped; sending from the TUN thread");
            self.stage = None;
        }
        send(self.shared, uplink, out.dscp, &mut out.batch);
    }

    fn flush_all(&mut self) {
        for uplink in 0..self.batches.len() {
            self.flush(uplink);
        }
    }
}

/// Reads packets from the TUN device in batches and sends them to their peers,
/// one `sendmmsg` per uplink per batch, forever.
pub(crate) fn run(shared: &Arc<Shared>) {
    let slot = usize::from(shared.tun.mtu()) + 64;
    let mut batch = PacketBatch::new(MAX_PACKETS, slot);
    let new_batch =
        |uplink| Outgoing { uplink, dscp: 0, batch: SendBatch::new(MAX_BATCH, slot + 64) };
    let spares = (0..SPARE_BATCHES).map(|_| new_batch(0)).collect();
    let stage = Stage::spawn("weft-tx-send", spares, {
        let shared = shared.clone();
        move |out: &mut Outgoing| send(&shared, out.uplink, out.dscp, &mut out.batch)
    });
    let stage =
        stage.map_err(|e| crate::log_warn!(Dataplane, "no send stage ({e}); sending inline")).ok();
    let batches = (0..shared.sockets.len()).map(new_batch).collect();
    let mut sends = Senders { shared, batches, stage };
    let mut gate = Gate::new(shared, Instant::now(), 0, Direction::Out);
    let mut qos = TxQos::default();
    loop {
        let wait = qos.wait(Instant::now()).map_or(IDLE_WAIT, |w| w.min(IDLE_WAIT));
        match shared.tun.read_batch(&mut batch, Some(wait)) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                batch.clear();
            }
            Err(e) => {
                crate::log_warn!(Dataplane, "TUN read failed: {e}");
                batch.clear();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let now = Instant::now();
        gate.refresh(shared, now);
        qos.refresh(&shared.qos, gate.policy(), gate.generation(), now);
        let table = shared.table();
        let steer = shared.ipsec.as_ref().map(|g| g.steer.table());
        let mut to = Queue { gate: &mut gate, qos: &mut qos, steer: steer.as_deref() };
        for packet in batch.iter() {
            queue_one(shared, &table, &mut to, packet, now, &mut sends);
        }
        let now = Instant::now();
        qos.drain(now, |uplink, dscp, q| {
            encrypt_to(shared, &table, q.path, &q.packet, dscp, &mut sends);
            debug_assert!(uplink < shared.sockets.len());
        });
        qos.publish_stats(&shared.qos, &shared.uplink_names, now);
        sends.flush_all();
    }
}

/// Longest wait for TUN packets (the loop also refreshes policy and counters).
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// Sends everything queued for `uplink` with as few syscalls as the kernel
/// allows, marked `dscp`.
fn send(shared: &Shared, uplink: usize, dscp: u8, send: &mut SendBatch) {
    if send.is_empty() {
        return;
    }
    if shared.sockets[uplink].set_dscp(dscp).is_err() {
        shared.drops.count("dscp_mark_failed");
    }
    let sent = shared.sockets[uplink].send_batch(send).unwrap_or(0);
    for _ in sent..send.len() {
        shared.drops.count("send_failed");
    }
    send.clear();
}

/// The send thread's per-batch state a packet is queued through.
struct Queue<'a> {
    gate: &'a mut Gate,
    qos: &'a mut TxQos,
    /// The IPsec gateways' steering (`None` without `[[ipsec]]`).
    steer: Option<&'a SteerTable>,
}

/// The live peer serving `dst`, or why there is none.
fn peer_to(t: &PeerTable, dst: std::net::IpAddr) -> Result<usize, &'static str> {
    let peer = t.peer_for(dst).ok_or("no_route")?;
    if t.is_removed(peer) {
        return Err("peer_removed");
    }
    Ok(peer)
}

fn queue_one(
    shared: &Shared,
    t: &PeerTable,
    to: &mut Queue<'_>,
    packet: &[u8],
    now: Instant,
    sends: &mut Senders<'_>,
) {
    let Ok((_, dst)) = addresses(packet) else {
        shared.drops.count("tun_malformed");
        return;
    };
    let gateway = to.steer.and_then(|s| s.gateway_for(dst));
    let peer = peer_to(t, dst);
    if let (Err(reason), None) = (peer, gateway) {
        shared.drops.count(reason);
        return;
    }
    let Ok(key) = flow_key(packet) else {
        shared.drops.count("tun_malformed");
        return;
    };
    let (gate, qos) = (&mut *to.gate, &mut *to.qos);
    let Some(c) = gate.admit(shared, key, dscp(packet), packet.len(), now) else { return };
    let profile = c.profile as usize;
    if let (Some(g), Some(steer)) = (gateway, to.steer)
        && steer_to_ipsec(shared, steer, g, profile, packet, dst)
    {
        return;
    }
    let peer_idx = match peer {
        Ok(p) => p,
        Err(reason) => {
            shared.drops.count(reason);
            return;
        }
    };
    let policy = gate.policy();
    policy.profile_tx[peer_idx][profile].fetch_add(1, Ordering::Relaxed);
    // Every direct path down: through the relay the control loop chose.
    let hop = match shared.relay_of(peer_idx) {
        Some(via) if via < t.peers.len() && !t.is_removed(via) => via,
        _ => peer_idx,
    };
    let peer = &t.peers[hop];
    let mut path_idx = policy.path_for(hop, profile, peer.fallback_path());
    let flow = Flow { profile, route: c.route.map(|r| r as usize) };
    // A reservation pins its traffic to the uplink it holds.
    if let Some(uplink) = qos.reserved_uplink(peer.name.as_str(), flow)
        && let Some(&reserved) = peer
            .paths
            .iter()
            .find(|d| t.paths.get(**d as usize).is_some_and(|p| p.uplink == uplink))
    {
        path_idx = Some(reserved);
    }
    let Some(path_idx) = path_idx else {
        shared.drops.count("no_eligible_path");
        return;
    };
    let Some(path) = t.paths.get(path_idx as usize) else {
        shared.drops.count("stale_path");
        return;
    };
    if qos.shapes(path.uplink) {
        if !qos.enqueue(path.uplink, peer.name.as_str(), flow, packet, path_idx) {
            shared.drops.count("qos_queue_full");
        }
        return;
    }
    encrypt_to(shared, t, path_idx, packet, 0, sends);
}

/// Steers a packet for IPsec gateway `gateway` by its class: `true` when
/// it was handed to charon's tunnel or dropped, `false` when it goes on to
/// the WireGuard site like any packet.
fn steer_to_ipsec(
    shared: &Shared,
    steer: &SteerTable,
    gateway: usize,
    profile: usize,
    packet: &[u8],
    dst: std::net::IpAddr,
) -> bool {
    let Some(counters) = shared.ipsec.as_ref().map(|g| &g.steer) else { return false };
    match steer.route(gateway, profile) {
        SteerRoute::WireGuard => return false,
        SteerRoute::Ipsec => {
            if let Some(Ok(())) = steer.out().map(|o| o.send(packet, dst)) {
                counters.count_sent(gateway, packet.len());
            } else {
                counters.count_dropped(gateway);
                shared.drops.count("ipsec_send_failed");
            }
        }
        SteerRoute::Drop => {
            counters.count_dropped(gateway);
            shared.drops.count("ipsec_no_eligible_path");
        }
    }
    true
}

/// Encrypts `packet` for path `path_idx` straight into its uplink's send
/// batch, marked `dscp`.
fn encrypt_to(
    shared: &Shared,
    t: &PeerTable,
    path_idx: u32,
    packet: &[u8],
    dscp: u8,
    sends: &mut Senders<'_>,
) {
    // A choice published for a newer table than this batch's: skip it once.
    let Some(path) = t.paths.get(path_idx as usize) else {
        shared.drops.count("stale_path");
        return;
    };
    // The path may belong to a relay (a class relayed for its SLA): its
    // owner's session carries the packet.
    if t.is_removed(path.peer) {
        shared.drops.count("peer_removed");
        return;
    }
    let peer = &t.peers[path.peer];
    sends.mark(path.uplink, dscp);
    if sends.batch(path.uplink).is_full() {
        sends.flush(path.uplink);
    }
    let Ok(mut session) = peer.session.lock() else {
        shared.drops.count("wg_session_poisoned");
        return;
    };
    // Encrypted straight into the send batch's next slot.
    let mut len = 0;
    let pushed = sends.batch(path.uplink).try_push_with(path.remote, |slot| {
        let base = slot.as_ptr() as usize;
        let (at, n) = match session.encapsulate(packet, slot) {
            WgResult::ToNetwork(d) => (d.as_ptr() as usize - base, d.len()),
            // Done: queued until the handshake completes; ToTunnel never comes from encapsulate.
            WgResult::Done | WgResult::ToTunnel(..) => return None,
            WgResult::Error(e) => {
                shared.drops.count(&reason_label("wg_", &e));
                return None;
            }
        };
        slot.copy_within(at..at + n, 0);
        len = n;
        Some(n)
    });
    drop(session);
    if pushed != Ok(true) {
        return;
    }
    path.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
    path.tx_packets.fetch_add(1, Ordering::Relaxed);
    peer.last_path.store(path_idx, Ordering::Relaxed);
}
