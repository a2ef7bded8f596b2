//! Flows: packets of one class from one site to another at a fixed rate,
//! sent by the source's programmed tables (through a relay where they say
//! so), forwarded by the relay on its own direct path, accepted at the
//! destination by its relay-accept table, and counted on the way (the data
//! plane's counters, which feed the nodes' passive liveness).

use std::net::SocketAddr;
use std::time::Duration;

use super::net::{WIRE_PORT, locate, uplink_addr};
use super::record::FlowStats;
use super::site::CLASSES;
use super::{Ev, FabricSim};

/// Bytes counted per simulated packet.
const PACKET_BYTES: u64 = 1200;

/// How a packet left its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// No peer or no path: dropped at the source.
    None,
    /// On the source's dense path `path`, straight to the destination.
    Direct {
        /// Dense path index at the source.
        path: u32,
    },
    /// Through relay site `via` (on the source's dense path `path` to it).
    Relayed {
        /// The relay's site index.
        via: usize,
        /// Dense path index at the source.
        path: u32,
    },
}

/// A flow.
#[derive(Debug, Clone)]
pub(super) struct Flow {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) profile: usize,
    pub(super) interval: Duration,
    pub(super) stats: FlowStats,
    pub(super) last_route: Option<Route>,
}

/// A packet on the wire.
#[derive(Debug, Clone, Copy)]
pub(super) struct InFlight {
    flow: usize,
    sent_at: Duration,
    /// Where it arrives now.
    at: usize,
    uplink: usize,
    src: SocketAddr,
    /// The relay it went through (set when the relay forwards it).
    via: Option<usize>,
}

impl FabricSim {
    /// A flow of `rate` packets per second of class `class` (`realtime`,
    /// `interactive`, `bulk`, `best-effort`) from site `from` to site `to`,
    /// starting now. Returns its index.
    pub fn add_flow(&mut self, from: usize, to: usize, class: &str, rate: u32) -> usize {
        let profile = CLASSES.iter().position(|c| *c == class).unwrap_or(CLASSES.len() - 1);
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let i = self.flows.len();
        self.flows.push(Flow {
            from,
            to,
            profile,
            interval,
            stats: FlowStats::default(),
            last_route: None,
        });
        self.push(self.now + interval, Ev::FlowTick(i));
        i
    }

    /// Flow `i`'s statistics so far.
    pub fn flow(&self, i: usize) -> FlowStats {
        let mut s = self.flows[i].stats.clone();
        s.close(self.elapsed(), self.flows[i].interval);
        s
    }

    /// Number of flows.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Stops flow `i` (no more packets).
    pub fn stop_flow(&mut self, i: usize) {
        self.flows[i].stats.stopped = true;
    }

    /// The route site `from`'s tables give a packet of `profile` for site `to`.
    pub fn route(&self, from: usize, to: usize, profile: usize) -> Route {
        let dp = &self.sites[from].dp;
        let Some(slot) = dp.slot_of(to) else { return Route::None };
        if let Some(r) = dp.relay_via[slot] {
            return match dp.path_for(r, profile) {
                Some(path) => Route::Relayed { via: dp.peers[r].site, path },
                None => Route::None,
            };
        }
        match dp.path_for(slot, profile) {
            Some(path) => {
                let owner = dp.paths[path as usize].0;
                if owner == slot {
                    Route::Direct { path }
                } else {
                    Route::Relayed { via: dp.peers[owner].site, path }
                }
            }
            None => Route::None,
        }
    }

    /// A route as the trace shows it: `direct u0→s4.u1`, `via s2 u1→s2.u0`.
    fn describe(&self, from: usize, route: Route) -> String {
        let hop = |path: u32| {
            let (_, uplink, remote) = self.sites[from].dp.paths[path as usize];
            super::hop_name(uplink, remote)
        };
        match route {
            Route::None => "no route".to_owned(),
            Route::Direct { path } => format!("direct {}", hop(path)),
            Route::Relayed { via, path } => format!("via s{via} {}", hop(path)),
        }
    }

    pub(super) fn flow_tick(&mut self, f: usize) {
        let flow = self.flows[f].clone();
        if flow.stats.stopped {
            return;
        }
        self.push(self.now + flow.interval, Ev::FlowTick(f));
        let at = self.elapsed();
        if !self.sites[flow.from].alive {
            return;
        }
        let route = self.route(flow.from, flow.to, flow.profile);
        let direct_ok = self.direct_ok(flow.from, flow.to);
        let relay_ok = !direct_ok && self.can_reach(flow.from, flow.to);
        let stats = &mut self.flows[f].stats;
        stats.sent += 1;
        stats.sample_route(at, route, direct_ok, relay_ok);
        if flow.last_route.is_some_and(|r| r != route) {
            stats.path_changes += 1;
            let text = format!("flow {f} to s{}: {}", flow.to, self.describe(flow.from, route));
            self.rec.route_log.push((at, flow.from, text));
        }
        self.flows[f].last_route = Some(route);
        let (path, via) = match route {
            Route::None => return,
            Route::Direct { path } => (path, None),
            Route::Relayed { via, path } => (path, Some(via)),
        };
        let src_site = flow.from;
        let dp = &mut self.sites[src_site].dp;
        dp.counters[path as usize].1 += PACKET_BYTES;
        if let Some(slot) = dp.slot_of(flow.to) {
            let row = &mut dp.class_tx[slot];
            if row.len() <= flow.profile {
                row.resize(flow.profile + 1, 0);
            }
            row[flow.profile] += 1;
        }
        self.sites[src_site].dirty = true;
        let (_, uplink, remote) = self.sites[src_site].dp.paths[path as usize];
        let packet = InFlight {
            flow: f,
            sent_at: at,
            at: usize::MAX,
            uplink: 0,
            src: uplink_addr(src_site, uplink, WIRE_PORT),
            via: None,
        };
        let _ = via; // the relay learns it is one when the packet arrives there
        self.transmit(packet, src_site, uplink, remote);
    }

    /// Puts `p` on the wire from (`from`, `uplink`) to `remote`.
    fn transmit(&mut self, mut p: InFlight, from: usize, uplink: usize, remote: SocketAddr) {
        let Some((dst, dst_uplink)) = locate(remote) else { return };
        if dst >= self.sites.len() {
            return;
        }
        let Some(d) = self.net.transit(&mut self.rng, (from, uplink), (dst, dst_uplink)) else {
            return;
        };
        p.at = dst;
        p.uplink = dst_uplink;
        p.src = uplink_addr(from, uplink, WIRE_PORT);
        self.push(self.now + d, Ev::Packet(p));
    }

    pub(super) fn arrive(&mut self, p: InFlight) {
        let here = p.at;
        if !self.sites[here].alive {
            return;
        }
        self.datagrams += 1;
        let dp = &mut self.sites[here].dp;
        if let Some(d) = dp.path_by_addr(p.uplink, p.src) {
            dp.counters[d as usize].0 += 1;
            self.sites[here].dirty = true;
        }
        let flow = &self.flows[p.flow];
        let (origin, dst, profile) = (flow.from, flow.to, flow.profile);
        let (sender, _) = locate(p.src).unwrap_or((usize::MAX, 0));
        if here == dst {
            // Relayed: accepted only from the relay the tables name.
            if sender != origin {
                let dp = &self.sites[here].dp;
                let ok = match (dp.slot_of(origin), dp.slot_of(sender)) {
                    (Some(o), Some(r)) => dp.accepts_via(o, r),
                    _ => false,
                };
                if !ok {
                    self.flows[p.flow].stats.refused += 1;
                    return;
                }
            }
            let interval = self.flows[p.flow].interval;
            self.flows[p.flow].stats.delivered_at(p.sent_at, interval);
            return;
        }
        // A relay: one hop only, on its own direct path.
        if p.via.is_some() || sender != origin {
            return;
        }
        let dp = &self.sites[here].dp;
        let Some(slot) = dp.slot_of(dst) else { return };
        let Some(path) = dp.direct_path(slot, profile) else { return };
        let (_, uplink, remote) = dp.paths[path as usize];
        self.sites[here].dp.counters[path as usize].1 += PACKET_BYTES;
        self.sites[here].dirty = true;
        let forwarded = InFlight { via: Some(here), ..p };
        self.transmit(forwarded, here, uplink, remote);
    }
}
