//! Per-class steering of the gateways' traffic, in the data plane.
//!
//! A gateway with a WireGuard alternative (`via`) has its remote prefixes
//! routed into weft's own interface, so every packet for them passes the
//! send thread, which classifies it by the running policy like any other.
//! The probe loop publishes a [`SteerTable`]: per gateway and route profile
//! the path [`super::choice::choose_for_class`] picked. Packets whose class
//! goes over IPsec are handed to charon's TUN device through a raw socket
//! ([`RawOut`]); the others continue to the site `via` on the path the path
//! engine chose for their class; a `strict-drop` class with neither path
//! meeting its SLA is dropped and counted.
//!
//! The table is swapped whole (an `Arc` behind a lock the send thread reads
//! once per batch); the counters stay put across swaps.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use weft_types::IpPrefix;

use super::choice::Route;

/// The IP protocol number that makes a raw socket take whole IP packets
/// (`IPPROTO_RAW`: the header is the caller's).
const IPPROTO_RAW: i32 = 255;

/// A raw IPv4 socket pinned to charon's TUN device: what is sent on it
/// enters charon's tunnel whatever the routing table says (the kernel
/// treats the destination as on-link of the device).
#[derive(Debug)]
pub(crate) struct RawOut {
    socket: Socket,
}

impl RawOut {
    /// Opens it on `device` (non-blocking: a full device queue drops).
    pub(crate) fn open(device: &str) -> Result<RawOut> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_RAW)))
            .context("raw IP socket")?;
        socket
            .bind_device(Some(device.as_bytes()))
            .with_context(|| format!("binding to {device}"))?;
        socket.set_nonblocking(true)?;
        Ok(RawOut { socket })
    }

    /// Sends the IPv4 packet `packet` (for `dst`) as it is.
    pub(crate) fn send(&self, packet: &[u8], dst: IpAddr) -> std::io::Result<()> {
        self.socket.send_to(packet, &SocketAddr::new(dst, 0).into()).map(|_| ())
    }
}

/// What the send thread consults for packets to the gateways' prefixes.
#[derive(Debug, Default)]
pub(crate) struct SteerTable {
    /// The IPv4 remote prefixes of gateways with a `via`, longest first,
    /// with the gateway's index.
    prefixes: Vec<(IpPrefix, usize)>,
    /// `[gateway][profile]`: where the class goes, for the running policy
    /// the probe loop last read.
    routes: Vec<Box<[Route]>>,
    /// `[gateway]`: for a profile `routes` does not know yet (a policy
    /// applied since): the choice for best-effort traffic.
    fallback: Vec<Route>,
    /// Into charon's tunnel (`None` while its TUN device is not there).
    out: Option<Arc<RawOut>>,
}

impl SteerTable {
    /// A table steering `prefixes` (`(prefix, gateway)`), with per gateway
    /// the route of every profile and the fallback, sending through `out`.
    pub(crate) fn new(
        mut prefixes: Vec<(IpPrefix, usize)>,
        routes: Vec<Box<[Route]>>,
        fallback: Vec<Route>,
        out: Option<Arc<RawOut>>,
    ) -> Self {
        prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.prefix_len()));
        SteerTable { prefixes, routes, fallback, out }
    }

    /// The gateway whose remote prefixes hold `dst` (longest match).
    #[inline]
    pub(crate) fn gateway_for(&self, dst: IpAddr) -> Option<usize> {
        if self.prefixes.is_empty() {
            return None;
        }
        self.prefixes.iter().find(|(p, _)| p.contains(dst)).map(|(_, g)| *g)
    }

    /// Where profile `profile` of gateway `gateway`'s traffic goes.
    pub(crate) fn route(&self, gateway: usize, profile: usize) -> Route {
        self.routes
            .get(gateway)
            .and_then(|r| r.get(profile))
            .or_else(|| self.fallback.get(gateway))
            .copied()
            .unwrap_or(Route::WireGuard)
    }

    /// The socket into charon's tunnel, if its device is there.
    pub(crate) fn out(&self) -> Option<&RawOut> {
        self.out.as_deref()
    }
}

/// The published table and the per-gateway counters of what the data
/// plane handed to charon.
#[derive(Debug, Default)]
pub(crate) struct Steer {
    table: RwLock<Arc<SteerTable>>,
    sent_packets: Box<[AtomicU64]>,
    sent_bytes: Box<[AtomicU64]>,
    dropped: Box<[AtomicU64]>,
}

impl Steer {
    /// Nothing steered yet, counters for `gateways` gateways.
    pub(crate) fn new(gateways: usize) -> Self {
        let zeros = || (0..gateways).map(|_| AtomicU64::new(0)).collect();
        Steer {
            table: RwLock::default(),
            sent_packets: zeros(),
            sent_bytes: zeros(),
            dropped: zeros(),
        }
    }

    /// The table in force.
    pub(crate) fn table(&self) -> Arc<SteerTable> {
        self.table.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces it.
    pub(crate) fn publish(&self, table: SteerTable) {
        *self.table.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(table);
    }

    /// Counts a packet of `bytes` handed to charon for `gateway`.
    pub(crate) fn count_sent(&self, gateway: usize, bytes: usize) {
        if let (Some(p), Some(b)) = (self.sent_packets.get(gateway), self.sent_bytes.get(gateway)) {
            p.fetch_add(1, Ordering::Relaxed);
            b.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// Counts a packet for `gateway` dropped by the steering (a strict
    /// class with no path, or charon's device gone or full).
    pub(crate) fn count_dropped(&self, gateway: usize) {
        if let Some(d) = self.dropped.get(gateway) {
            d.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(packets, bytes, dropped)` of `gateway`.
    pub(crate) fn counts(&self, gateway: usize) -> (u64, u64, u64) {
        let get = |v: &[AtomicU64]| v.get(gateway).map_or(0, |a| a.load(Ordering::Relaxed));
        (get(&self.sent_packets), get(&self.sent_bytes), get(&self.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IpPrefix {
        IpPrefix::parse(s).unwrap()
    }

    #[test]
    fn the_longest_prefix_names_the_gateway_and_unknown_profiles_take_the_fallback() {
        let t = SteerTable::new(
            vec![(p("10.0.0.0/8"), 0), (p("10.2.0.0/16"), 1)],
            vec![
                vec![Route::WireGuard, Route::Ipsec].into(),
                vec![Route::Ipsec, Route::Drop].into(),
            ],
            vec![Route::WireGuard, Route::Ipsec],
            None,
        );
        assert_eq!(t.gateway_for("10.2.3.4".parse().unwrap()), Some(1));
        assert_eq!(t.gateway_for("10.3.3.4".parse().unwrap()), Some(0));
        assert_eq!(t.gateway_for("192.0.2.1".parse().unwrap()), None);
        assert_eq!(t.route(0, 1), Route::Ipsec);
        assert_eq!(t.route(1, 1), Route::Drop);
        assert_eq!(t.route(1, 7), Route::Ipsec, "a profile of a newer policy: the fallback");
        assert_eq!(SteerTable::default().route(0, 0), Route::WireGuard);
    }

    #[test]
    fn counters_survive_a_new_table() {
        let s = Steer::new(2);
        s.count_sent(1, 100);
        s.count_sent(1, 50);
        s.count_dropped(0);
        s.publish(SteerTable::default());
        s.count_sent(9, 1);
        assert_eq!(s.counts(1), (2, 150, 0));
        assert_eq!(s.counts(0), (0, 0, 1));
    }
}
