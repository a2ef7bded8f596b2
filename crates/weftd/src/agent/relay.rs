//! [`Relays`]: packets another site relayed through this one, on their way
//! to the peer that owns their destination.
//!
//! A relay forwards on a direct path only (it never relays again: no loops)
//! and decrements the hop limit. The receive thread encrypts each packet
//! straight into a per-uplink [`SendBatch`] and sends the batches at the end
//! of every receive batch, with UDP GSO where the socket has it, so relayed
//! traffic moves in batches like direct traffic.

use std::sync::atomic::Ordering;

use weft_dataplane::packet::decrement_hop_limit;
use weft_dataplane::sys::{MAX_BATCH, SendBatch};
use weft_dataplane::wg::WgResult;

use super::gate::Gate;
use super::shared::{PeerTable, Shared, reason_label};

/// One batch of relayed datagrams per uplink.
pub(crate) struct Relays<'a> {
    shared: &'a Shared,
    batches: Vec<SendBatch>,
}

impl<'a> Relays<'a> {
    /// Empty batches of `slot`-byte datagrams, one per uplink.
    pub(crate) fn new(shared: &'a Shared, slot: usize) -> Self {
        let batches = shared.sockets.iter().map(|_| SendBatch::new(MAX_BATCH, slot)).collect();
        Self { shared, batches }
    }

    /// Queues `packet` (a decrypted packet for peer `next`) for `next`, on a
    /// direct path, with its hop limit decremented; counts why not when it
    /// cannot.
    pub(crate) fn relay_on(&mut self, t: &PeerTable, gate: &Gate, next: usize, packet: &mut [u8]) {
        let shared = self.shared;
        if t.is_removed(next) {
            shared.drops.count("relay_peer_removed");
            return;
        }
        if !decrement_hop_limit(packet) {
            shared.drops.count("relay_hop_limit");
            return;
        }
        let peer = &t.peers[next];
        let Some(path) =
            t.direct_path(gate.policy(), next, 0).and_then(|i| t.paths.get(i as usize))
        else {
            shared.drops.count("relay_no_path");
            return;
        };
        if self.batches[path.uplink].is_full() {
            self.flush(path.uplink);
        }
        let Ok(mut session) = peer.session.lock() else {
            shared.drops.count("wg_session_poisoned");
            return;
        };
        let mut len = 0;
        let pushed = self.batches[path.uplink].try_push_with(path.remote, |slot| {
            let base = slot.as_ptr() as usize;
            let (at, n) = match session.encapsulate(packet, slot) {
                WgResult::ToNetwork(d) => (d.as_ptr() as usize - base, d.len()),
                WgResult::Done | WgResult::ToTunnel(..) => return None,
                WgResult::Error(e) => {
                    shared.drops.count(&reason_label("relay_wg_", &e));
                    return None;
                }
            };
            slot.copy_within(at..at + n, 0);
            len = n;
            Some(n)
        });
        drop(session);
        if pushed == Ok(true) {
            path.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
            path.tx_packets.fetch_add(1, Ordering::Relaxed);
            shared.relayed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends what is queued for `uplink`; counts what the socket refused.
    fn flush(&mut self, uplink: usize) {
        let batch = &mut self.batches[uplink];
        if batch.is_empty() {
            return;
        }
        let sent = self.shared.sockets[uplink].send_batch(batch).unwrap_or(0);
        for _ in sent..batch.len() {
            self.shared.drops.count("relay_send_failed");
        }
        batch.clear();
    }

    /// Sends everything queued.
    pub(crate) fn flush_all(&mut self) {
        for uplink in 0..self.batches.len() {
            self.flush(uplink);
        }
    }
}
