//! The policy gate every packet passes, in both directions.
//!
//! Each data-plane thread owns a [`Gate`]: a flow table pinning the
//! classification of every flow it has seen (classified once by the compiled
//! policy), reloaded whole when the control loop publishes a new policy.
//!
//! Segmentation is stateful, as operators expect of a firewall: "deny guest →
//! finance" stops guests from *starting* flows to finance, not the replies to
//! flows finance started. Every allowed flow is recorded in the shared
//! [`Established`] set (by whichever thread saw it first, refreshed while it
//! lasts); a packet the policy denies still passes when it is the reverse of
//! an established flow. Denied packets are dropped and counted by rule.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft_dataplane::flows::FlowTable;
use weft_policy::{Action, Classification, FlowPoint};
use weft_types::FlowKey;

use super::shared::Shared;
use crate::policy::ActivePolicy;

/// Flows idle this long are forgotten (and classified afresh).
pub(crate) const FLOW_IDLE: Duration = Duration::from_mins(1);
/// Most flows pinned at once per thread, and most established flows.
const MAX_FLOWS: usize = 100_000;
/// How often a live allowed flow refreshes its established record.
const REFRESH: Duration = Duration::from_secs(5);

/// Flows the policy allowed to start, by the direction they started in.
#[derive(Debug, Default)]
pub(crate) struct Established {
    flows: Mutex<HashMap<FlowKey, Instant>>,
}

impl Established {
    /// Records that `key` was allowed at `now`.
    fn record(&self, key: FlowKey, now: Instant) {
        let Ok(mut flows) = self.flows.lock() else { return };
        if flows.len() >= MAX_FLOWS {
            flows.retain(|_, seen| now.saturating_duration_since(*seen) < FLOW_IDLE);
            if flows.len() >= MAX_FLOWS {
                return;
            }
        }
        flows.insert(key, now);
    }

    /// Whether `key` is the reply direction of a flow allowed within the idle time.
    fn is_reply(&self, key: &FlowKey, now: Instant) -> bool {
        let reverse = FlowKey {
            src: key.dst,
            dst: key.src,
            protocol: key.protocol,
            src_port: key.dst_port,
            dst_port: key.src_port,
        };
        self.flows.lock().is_ok_and(|f| {
            f.get(&reverse).is_some_and(|seen| now.saturating_duration_since(*seen) < FLOW_IDLE)
        })
    }

    /// Forgets flows idle longer than [`FLOW_IDLE`].
    fn sweep(&self, now: Instant) {
        if let Ok(mut flows) = self.flows.lock() {
            flows.retain(|_, seen| now.saturating_duration_since(*seen) < FLOW_IDLE);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pinned {
    class: Classification,
    recorded: Option<Instant>,
}

/// Which way a flow goes through this site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the TUN device to a peer.
    Out,
    /// From a peer to the TUN device.
    In,
}

/// A flow as the API lists it.
#[derive(Debug, Clone)]
pub(crate) struct FlowSnap {
    /// The 5-tuple.
    pub(crate) key: FlowKey,
    /// Which way.
    pub(crate) direction: Direction,
    /// Its classification under the policy version `policy_version`.
    pub(crate) class: Classification,
    /// Packets seen.
    pub(crate) packets: u64,
    /// Bytes seen.
    pub(crate) bytes: u64,
    /// Time since its last packet.
    pub(crate) idle: Duration,
}

/// Most flows each thread exports to the API.
const MAX_EXPORTED: usize = 10_000;
/// How often a thread exports its flows.
const EXPORT_EVERY: Duration = Duration::from_secs(1);

/// Each data-plane thread's latest export of its flow table, one slot per thread.
#[derive(Debug, Default)]
pub(crate) struct FlowBoard {
    slots: Mutex<Vec<Vec<FlowSnap>>>,
}

impl FlowBoard {
    fn publish(&self, slot: usize, flows: Vec<FlowSnap>) {
        if let Ok(mut s) = self.slots.lock() {
            if s.len() <= slot {
                s.resize_with(slot + 1, Vec::new);
            }
            s[slot] = flows;
        }
    }

    /// Every exported flow of every thread.
    pub(crate) fn all(&self) -> Vec<FlowSnap> {
        self.slots.lock().map(|s| s.iter().flatten().cloned().collect()).unwrap_or_default()
    }
}

/// One thread's view of the policy.
pub(crate) struct Gate {
    generation: u64,
    policy: Arc<ActivePolicy>,
    flows: FlowTable<Pinned>,
    next_expiry: Instant,
    slot: usize,
    direction: Direction,
    next_export: Instant,
}

impl Gate {
    /// A gate on the running policy for the thread exporting its flows to
    /// `slot` of the flow board.
    pub(crate) fn new(shared: &Shared, now: Instant, slot: usize, direction: Direction) -> Self {
        Self {
            generation: shared.policy_generation.load(Ordering::Acquire),
            policy: shared.active_policy(),
            flows: FlowTable::new(FLOW_IDLE, MAX_FLOWS),
            next_expiry: now + REFRESH,
            slot,
            direction,
            next_export: now,
        }
    }

    /// The policy this gate enforces.
    pub(crate) fn policy(&self) -> &ActivePolicy {
        &self.policy
    }

    /// The generation of the policy in [`policy`](Self::policy).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Picks up a newly published policy (forgetting every pinned flow) and
    /// expires idle flows. Call once per batch.
    pub(crate) fn refresh(&mut self, shared: &Shared, now: Instant) {
        let g = shared.policy_generation.load(Ordering::Acquire);
        if g != self.generation {
            self.generation = g;
            self.policy = shared.active_policy();
            self.flows = FlowTable::new(FLOW_IDLE, MAX_FLOWS);
        }
        if now >= self.next_expiry {
            self.flows.expire(now);
            shared.established.sweep(now);
            self.next_expiry = now + REFRESH;
        }
        if now >= self.next_export {
            self.export(shared, now);
            self.next_export = now + EXPORT_EVERY;
        }
    }

    fn export(&self, shared: &Shared, now: Instant) {
        let flows = self
            .flows
            .iter()
            .take(MAX_EXPORTED)
            .map(|(key, e)| FlowSnap {
                key: *key,
                direction: self.direction,
                class: e.value.class,
                packets: e.packets,
                bytes: e.bytes,
                idle: now.saturating_duration_since(e.last_seen),
            })
            .collect();
        shared.flow_board.publish(self.slot, flows);
    }

    /// The classification of a packet of flow `key`, or `None` when the
    /// policy denies it (counted) and it is no reply to an allowed flow.
    pub(crate) fn admit(
        &mut self,
        shared: &Shared,
        key: FlowKey,
        dscp: u8,
        len: usize,
        now: Instant,
    ) -> Option<Classification> {
        let policy = &self.policy;
        let classify = || Pinned {
            class: policy.policy.classify(&FlowPoint::new(&key, dscp)),
            recorded: None,
        };
        let mut fresh;
        let pinned = if let Some(e) = self.flows.touch(key, now, len, classify) {
            &mut e.value
        } else {
            fresh = classify();
            &mut fresh
        };
        if pinned.class.action == Action::Allow {
            if pinned.recorded.is_none_or(|t| now.saturating_duration_since(t) >= REFRESH) {
                shared.established.record(key, now);
                pinned.recorded = Some(now);
            }
            return Some(pinned.class);
        }
        if shared.established.is_reply(&key, now) {
            return Some(pinned.class);
        }
        self.policy.count_denied(&pinned.class);
        shared.drops.count("policy_denied");
        None
    }
}
