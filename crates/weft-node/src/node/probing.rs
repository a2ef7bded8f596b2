//! Probes: the ones the path engine asks for go out, the ones that arrive
//! are checked (key, MAC, replay window, clock), answered, or turned into
//! RTT samples.

use std::net::SocketAddr;
use std::time::Instant;

use weft_probe::{ProbeFields, ProbeKind, peek_key_id};
use weft_types::PathId;

use super::ondemand::TEST_SEQ_BIT;
use super::{Node, NodeEvent, Transmit, reason_label};

impl Node {
    /// A Weft probe or echo `data` arrived on `uplink` from `src` at `at`.
    /// Anything that fails a check is dropped and counted
    /// ([`NodeEvent::Dropped`]); nothing here panics on bad input.
    pub fn handle_probe(&mut self, at: Instant, uplink: usize, src: SocketAddr, data: &[u8]) {
        self.engine_changed();
        let Ok(key_id) = peek_key_id(data) else {
            return self.dropped("probe_malformed".to_owned());
        };
        let found = self
            .peers
            .iter()
            .position(|p| p.probes.as_ref().is_some_and(|s| s.peer_key_id() == key_id));
        let Some(peer) = found else {
            return self.dropped("probe_unknown_key_id".to_owned());
        };
        if self.peers[peer].is_out() {
            return self.dropped("peer_removed".to_owned());
        }
        let unix_us = self.unix_us(at);
        let Some(state) = self.peers[peer].probes.as_mut() else { return };
        let msg = match state.open_checked_at(data, unix_us) {
            Ok(m) => m,
            Err(e) => return self.dropped(reason_label("probe_", &e)),
        };
        // An authenticated message from the peer proves this path works
        // inwards, and (as the agent always did) counts as activity: the
        // peer's paths are probed at the busy rate. `handle_alive` would keep
        // idle peers idle (ten times fewer probes) but cost ~25 ms of median
        // failover in bench/failover.sh: a behaviour change for its own issue.
        if let Some(&i) = self.path_by_addr.get(&(uplink, src)) {
            self.engine.handle_rx(at, self.paths[i as usize].engine_id);
        }
        match msg.kind {
            ProbeKind::Probe => {
                let mut out = std::mem::take(&mut self.scratch);
                let sealed = self.peers[peer]
                    .probes
                    .as_mut()
                    .map(|state| state.seal_echo(&msg.fields, &mut out));
                match sealed {
                    Some(Ok(n)) => self.transmits.push_back(Transmit {
                        uplink,
                        dst: src,
                        payload: out[..n].to_vec(),
                    }),
                    Some(Err(e)) => self.dropped(reason_label("probe_", &e)),
                    None => {}
                }
                self.scratch = out;
            }
            ProbeKind::Echo if msg.fields.seq & TEST_SEQ_BIT != 0 => {
                let seq = msg.fields.seq;
                if !self.tests.iter_mut().any(|t| t.on_echo(seq, at)) {
                    self.dropped("echo_unknown_test".to_owned());
                }
            }
            ProbeKind::Echo => {
                let path = PathId(msg.fields.path_token);
                match self.engine.handle_echo(at, path, msg.fields.seq) {
                    Ok(rtt) => self.events.push_back(NodeEvent::EchoRtt { path, rtt }),
                    Err(e) => self.dropped(reason_label("echo_", &e)),
                }
            }
        }
    }

    /// Seals and queues the probes the engine asks for.
    pub(super) fn send_probes(&mut self, now: Instant) {
        while let Some(p) = self.engine.poll_probe() {
            let i = p.peer.0 as usize;
            if self.peers.get(i).is_none_or(super::PeerSlot::is_out) {
                continue;
            }
            let fields = ProbeFields {
                path_token: p.path.0,
                seq: p.seq,
                timestamp_us: self.timestamp_us(now),
            };
            self.seal_probe(i, p.uplink.0 as usize, p.remote, &fields);
        }
    }

    /// Seals and queues one test probe on dense path `path`.
    pub(super) fn seal_probe_on(&mut self, now: Instant, path: u32, seq: u64) {
        let p = self.paths[path as usize];
        let fields =
            ProbeFields { path_token: p.engine_id.0, seq, timestamp_us: self.timestamp_us(now) };
        self.seal_probe(p.peer, p.uplink, p.remote, &fields);
    }

    fn seal_probe(&mut self, peer: usize, uplink: usize, dst: SocketAddr, fields: &ProbeFields) {
        let Some(state) = self.peers[peer].probes.as_mut() else { return };
        let mut out = std::mem::take(&mut self.scratch);
        match state.seal_probe(fields, &mut out) {
            Ok(n) => self.transmits.push_back(Transmit { uplink, dst, payload: out[..n].to_vec() }),
            Err(e) => self.dropped(reason_label("probe_", &e)),
        }
        self.scratch = out;
    }

    fn dropped(&mut self, reason: String) {
        self.events.push_back(NodeEvent::Dropped { reason });
    }
}
