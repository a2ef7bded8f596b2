//! The flow table: each flow is classified once, pinned to a path, and
//! forgotten after it has been idle for a while.
//!
//! The table is generic over what it pins (`V`), takes time as an argument and
//! expires lazily in small steps (`expire`), so the hot path never scans it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use weft_types::FlowKey;

/// One pinned flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEntry<V> {
    /// What the flow is pinned to (class, peer, path, generation …).
    pub value: V,
    /// When the flow was first seen.
    pub created: Instant,
    /// When it last sent a packet.
    pub last_seen: Instant,
    /// Packets seen.
    pub packets: u64,
    /// Bytes seen.
    pub bytes: u64,
}

/// Flows keyed by 5-tuple, with idle expiry and a size cap.
#[derive(Debug)]
pub struct FlowTable<V> {
    flows: HashMap<FlowKey, FlowEntry<V>>,
    idle_timeout: Duration,
    max_flows: usize,
    evicted: u64,
}

impl<V> FlowTable<V> {
    /// A table that forgets flows idle for `idle_timeout` and never holds more
    /// than `max_flows` (new flows beyond it are not pinned; see [`touch`](Self::touch)).
    pub fn new(idle_timeout: Duration, max_flows: usize) -> Self {
        Self { flows: HashMap::new(), idle_timeout, max_flows, evicted: 0 }
    }

    /// Records a packet of `len` bytes of `key` at `now`. A new flow is pinned
    /// with `pin()`; returns the entry, or `None` when the table is full (the
    /// caller then routes the packet unpinned).
    pub fn touch(
        &mut self,
        key: FlowKey,
        now: Instant,
        len: usize,
        pin: impl FnOnce() -> V,
    ) -> Option<&mut FlowEntry<V>> {
        let full = self.flows.len() >= self.max_flows;
        if full && !self.flows.contains_key(&key) {
            return None;
        }
        let e = self.flows.entry(key).or_insert_with(|| FlowEntry {
            value: pin(),
            created: now,
            last_seen: now,
            packets: 0,
            bytes: 0,
        });
        e.last_seen = now;
        e.packets += 1;
        e.bytes += len as u64;
        Some(e)
    }

    /// A flow's entry.
    pub fn get(&self, key: &FlowKey) -> Option<&FlowEntry<V>> {
        self.flows.get(key)
    }

    /// Removes flows idle for longer than the idle timeout; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.flows.len();
        let timeout = self.idle_timeout;
        self.flows.retain(|_, e| now.saturating_duration_since(e.last_seen) < timeout);
        let n = before - self.flows.len();
        self.evicted += n as u64;
        n
    }

    /// Flows currently pinned.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is pinned.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Flows expired since creation.
    pub fn expired_total(&self) -> u64 {
        self.evicted
    }

    /// Every flow, for the API and for re-pinning after path changes.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&FlowKey, &mut FlowEntry<V>)> {
        self.flows.iter_mut()
    }

    /// Every flow.
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &FlowEntry<V>)> {
        self.flows.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{IpProtocol, virtual_origin};

    fn key(port: u16) -> FlowKey {
        FlowKey {
            src: "10.1.0.1".parse().unwrap(),
            dst: "10.2.0.1".parse().unwrap(),
            protocol: IpProtocol::UDP,
            src_port: port,
            dst_port: 53,
        }
    }

    #[test]
    fn a_flow_is_pinned_once_and_counts_its_packets() {
        let t0 = virtual_origin();
        let mut t = FlowTable::new(Duration::from_secs(30), 10);
        let mut pins = 0;
        for i in 0..3 {
            t.touch(key(1), t0 + Duration::from_secs(i), 100, || {
                pins += 1;
                "fiber"
            });
        }
        let e = t.get(&key(1)).unwrap();
        assert_eq!((pins, e.packets, e.bytes, e.value), (1, 3, 300, "fiber"));
    }

    #[test]
    fn idle_flows_expire_and_active_ones_stay() {
        let t0 = virtual_origin();
        let mut t = FlowTable::new(Duration::from_secs(30), 10);
        t.touch(key(1), t0, 1, || ());
        t.touch(key(2), t0, 1, || ());
        t.touch(key(2), t0 + Duration::from_secs(20), 1, || ());
        assert_eq!(t.expire(t0 + Duration::from_secs(31)), 1);
        assert!(t.get(&key(1)).is_none() && t.get(&key(2)).is_some());
        assert_eq!(t.expired_total(), 1);
    }

    #[test]
    fn a_full_table_refuses_new_flows_but_serves_known_ones() {
        let t0 = virtual_origin();
        let mut t = FlowTable::new(Duration::from_secs(30), 1);
        assert!(t.touch(key(1), t0, 1, || ()).is_some());
        assert!(t.touch(key(2), t0, 1, || ()).is_none());
        assert!(t.touch(key(1), t0, 1, || ()).is_some());
    }
}
