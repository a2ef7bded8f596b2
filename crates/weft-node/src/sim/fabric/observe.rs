//! Questions a test or an assertion asks of a run: can A reach B now, has
//! the fabric converged, who retired whom and why.

use std::time::Duration;

use super::FabricSim;
use super::net::locate;
use super::record::{Death, RelayChange};
use super::site::CLASSES;
use super::traffic::Route;

/// The class reachability is judged for: the last, best-effort.
const PROBE_PROFILE: usize = CLASSES.len() - 1;

impl FabricSim {
    /// Whether a packet from `a` to `b` would arrive now if nothing were
    /// lost at random: `a`'s tables give a route, every hop's uplinks are up
    /// and on one side of every partition, the relay forwards, and `b`
    /// accepts it.
    pub fn reachable(&self, a: usize, b: usize) -> bool {
        if !self.sites[a].alive || !self.sites[b].alive {
            return false;
        }
        let hop = |from: usize, path: u32| -> Option<usize> {
            let (_, uplink, remote) = self.sites[from].dp.paths[path as usize];
            let (to, to_uplink) = locate(remote)?;
            let ok = to < self.sites.len()
                && self.sites[to].alive
                && self.net.usable(from, uplink, to, to_uplink)
                && self.net.link(from, uplink).loss < 1.0
                && self.net.link(to, to_uplink).loss < 1.0;
            ok.then_some(to)
        };
        match self.route(a, b, PROBE_PROFILE) {
            Route::None => false,
            Route::Direct { path } => hop(a, path) == Some(b),
            Route::Relayed { via, path } => self.relay_blocker(a, b, via, path, &hop).is_none(),
        }
    }

    /// What stops a packet from `a` to `b` relayed through `via` (sent on
    /// `a`'s dense path `path`), or `None` when it arrives.
    fn relay_blocker(
        &self,
        a: usize,
        b: usize,
        via: usize,
        path: u32,
        hop: &dyn Fn(usize, u32) -> Option<usize>,
    ) -> Option<&'static str> {
        if hop(a, path) != Some(via) {
            return Some("the hop to the relay is down");
        }
        let dp = &self.sites[via].dp;
        let Some(slot) = dp.slot_of(b) else { return Some("the relay has no peer for it") };
        let Some(next) = dp.direct_path(slot, PROBE_PROFILE) else {
            return Some("the relay has no path to it");
        };
        if hop(via, next) != Some(b) {
            return Some("the relay's path to it is down");
        }
        let dst = &self.sites[b].dp;
        match (dst.slot_of(a), dst.slot_of(via)) {
            (Some(o), Some(r)) if dst.accepts_via(o, r) => None,
            (Some(_), Some(_)) => Some("it does not accept the source from that relay"),
            _ => Some("it does not know the source or the relay"),
        }
    }

    /// Whether the underlay lets `a` reach `b` at all, the way the mesh may
    /// use it: directly where they peer (full mesh, or a hub at one end),
    /// or through one relay (a hub, in a hub-and-spoke mesh).
    pub fn can_reach(&self, a: usize, b: usize) -> bool {
        if !self.sites[a].alive || !self.sites[b].alive {
            return false;
        }
        if self.direct_ok(a, b) {
            return true;
        }
        let hubs = &self.cfg.hubs;
        (0..self.sites.len()).any(|r| {
            r != a
                && r != b
                && self.sites[r].alive
                && (hubs.is_empty() || hubs.contains(&r))
                && self.direct_ok(a, r)
                && self.direct_ok(r, b)
        })
    }

    /// Whether `a` and `b` peer (full mesh, or a hub at one end) and some
    /// pair of their uplinks can carry a datagram now.
    pub fn direct_ok(&self, a: usize, b: usize) -> bool {
        let hubs = &self.cfg.hubs;
        let peers = hubs.is_empty() || hubs.contains(&a) || hubs.contains(&b);
        peers && self.net.direct_possible(a, b)
    }

    /// Whether every live site reaches every live site the underlay lets it
    /// reach, and no live site still holds a crashed one as a peer.
    pub fn converged(&self) -> bool {
        self.unconverged_pairs(1).is_empty()
    }

    /// Up to `max` ordered pairs that break [`FabricSim::converged`].
    pub fn unconverged_pairs(&self, max: usize) -> Vec<(usize, usize)> {
        let n = self.sites.len();
        let mut out = Vec::new();
        for a in (0..n).filter(|a| self.sites[*a].alive) {
            for b in (0..n).filter(|b| *b != a) {
                let ok = if self.sites[b].alive {
                    !self.can_reach(a, b) || self.reachable(a, b)
                } else {
                    self.sites[a].dp.slot_of(b).is_none()
                };
                if !ok {
                    out.push((a, b));
                    if out.len() >= max {
                        return out;
                    }
                }
            }
        }
        out
    }

    /// Why `a` does not reach `b`, in a few words (for reports).
    pub fn explain_pair(&self, a: usize, b: usize) -> String {
        if !self.sites[a].alive || !self.sites[b].alive {
            return "a site is down".to_owned();
        }
        let dp = &self.sites[a].dp;
        let Some(slot) = dp.slot_of(b) else {
            let gone = dp.peers.iter().any(|p| p.site == b && p.gone);
            let members = self.sites[a].mesh.membership().member_count();
            return format!(
                "{} (mesh members seen: {members})",
                if gone { "its peer was retired" } else { "no peer for it" }
            );
        };
        let node = &self.sites[a].node;
        let alive = node
            .peer_paths(slot)
            .iter()
            .filter(|d| {
                node.path(**d)
                    .and_then(|(_, _, _, id)| node.engine().state(id))
                    .is_some_and(weft_path::PathState::is_alive)
            })
            .count();
        let route = self.route(a, b, PROBE_PROFILE);
        let blocker = match route {
            Route::Relayed { via, path } => {
                let hop = |from: usize, path: u32| -> Option<usize> {
                    let (_, uplink, remote) = self.sites[from].dp.paths[path as usize];
                    let (to, to_uplink) = locate(remote)?;
                    self.net.usable(from, uplink, to, to_uplink).then_some(to)
                };
                self.relay_blocker(a, b, via, path, &hop).unwrap_or("nothing")
            }
            _ => "",
        };
        format!(
            "route {route:?} {blocker}, {alive}/{} direct paths alive",
            node.peer_paths(slot).len(),
        )
    }

    /// Every peer a site retired, in order.
    pub fn deaths(&self) -> &[Death] {
        &self.rec.deaths
    }

    /// Retirements not explained by the faults: the two sites were never
    /// kept apart (crashed, every uplink down, or partitioned) within
    /// `window` before it.
    pub fn false_deaths(&self, window: Duration) -> Vec<Death> {
        self.rec
            .deaths
            .iter()
            .filter(|d| {
                let subject = d.subject.as_str()[1..].parse::<usize>().unwrap_or(usize::MAX);
                subject < self.sites.len()
                    && !self.rec.apart_within(
                        d.observer,
                        subject,
                        d.at.saturating_sub(window),
                        d.at,
                    )
            })
            .cloned()
            .collect()
    }

    /// Members SWIM declared dead: (when, observer, subject). Gossip is
    /// single-homed (the first uplink's address), so a cut first uplink
    /// shows here while the site's tunnels keep it as a peer.
    pub fn swim_deaths(&self) -> usize {
        self.rec.swim_deaths.len()
    }

    /// Every whole-destination relay a site chose or dropped.
    pub fn relay_changes(&self) -> &[RelayChange] {
        &self.rec.relays
    }

    /// Class relays chosen or dropped (for an SLA no direct path met).
    pub fn class_relay_changes(&self) -> u64 {
        self.rec.class_relays
    }

    /// The nodes' refusals and notes: (when, site, text).
    pub fn notes(&self) -> &[(Duration, usize, String)] {
        &self.rec.notes
    }

    /// Whether `a` and `b` were kept apart by a fault (either crashed or
    /// with every uplink down, or partitioned from the other) at some time
    /// in `[from, to]`.
    pub fn apart_within(&self, a: usize, b: usize, from: Duration, to: Duration) -> bool {
        self.rec.apart_within(a, b, from, to)
    }

    /// Every path state change with its reason: (when, site, text).
    pub fn path_log(&self) -> &[(Duration, usize, String)] {
        &self.rec.path_changes
    }

    /// What happened at `sites` (all sites when empty) between `from` and
    /// `to`, in time order, one line each: path state changes, relays
    /// chosen and dropped, peers retired, membership events and the nodes'
    /// notes, flows changing route at their source, and the control
    /// plane's election events (controllers elected, stepping down,
    /// following, stopped by a crash). For reading a failed
    /// case's replay (`weft sim run --trace`).
    pub fn trace(&self, sites: &[usize], from: Duration, to: Duration) -> Vec<String> {
        let wanted = |at: Duration, s: usize| {
            at >= from && at <= to && (sites.is_empty() || sites.contains(&s))
        };
        let mut lines: Vec<(Duration, usize, String)> = Vec::new();
        for log in
            [&self.rec.path_changes, &self.rec.notes, &self.rec.mesh_log, &self.rec.route_log]
        {
            lines.extend(log.iter().filter(|(at, s, _)| wanted(*at, *s)).cloned());
        }
        if let Some(c) = &self.control {
            lines.extend(c.log.iter().filter(|(at, s, _)| wanted(*at, *s)).cloned());
        }
        lines.extend(self.rec.relays.iter().filter(|r| wanted(r.at, r.site)).map(|r| {
            let via = r.via.as_ref().map_or_else(|| "direct".to_owned(), |v| format!("via {v}"));
            (r.at, r.site, format!("relay: {} {via}", r.dst))
        }));
        lines.extend(
            self.rec
                .deaths
                .iter()
                .filter(|d| wanted(d.at, d.observer))
                .map(|d| (d.at, d.observer, format!("retired peer {} ({})", d.subject, d.reason))),
        );
        // Stable: within one instant, the order the logs were merged in.
        lines.sort_by_key(|(at, s, _)| (*at, *s));
        lines
            .into_iter()
            .map(|(at, s, text)| format!("{:>10.3}s  s{s:<3} {text}", at.as_secs_f64()))
            .collect()
    }

    /// Time since the last fault.
    pub fn since_last_fault(&self) -> Duration {
        self.elapsed().saturating_sub(self.rec.last_fault)
    }
}
