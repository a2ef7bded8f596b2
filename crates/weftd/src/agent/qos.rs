//! QoS in the send path: the I/O edge of `weft-qos`.
//!
//! Uplinks with a configured `capacity` (and `[qos] enabled`) get a
//! [`Scheduler`] owned by the send thread. A packet for such an uplink is
//! classified as usual, copied (plaintext) into its class's lane, or its
//! reservation's, and encrypted only when the scheduler lets it go, so
//! WireGuard's counters follow the order on the wire. The send thread
//! drains the schedulers after each TUN batch and wakes up for them (its TUN
//! read waits no longer than the next packet is due).
//!
//! The control loop and the API publish a [`QosSetup`] (capacities,
//! reservations in force) on the [`QosBoard`]; the send thread picks up a
//! new one (or a new policy, whose classes define the lanes) at its next
//! batch and publishes its lanes' counters back every 250 ms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use weft_qos::{ClassSpec, Discipline, LaneStats, Scheduler, SchedulerConfig, Target};

use crate::config::QosConfig;
use crate::policy::ActivePolicy;

/// How often the send thread publishes its lanes' counters.
const STATS_EVERY: Duration = Duration::from_millis(250);
/// Plaintext buffers kept for reuse.
const POOL: usize = 4096;
/// Bytes a packet gains on the wire: WireGuard's header and tag (32),
/// padding (up to 15), outer IPv4 and UDP (28) and Ethernet (14).
pub(crate) const WIRE_OVERHEAD: usize = 32 + 15 + 28 + 14;

/// A bandwidth reservation in force on this site, as the send path needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ReservedRoute {
    /// Its id.
    pub(crate) id: String,
    /// The destination site.
    pub(crate) to: String,
    /// The class it reserves for (of the app's route, for an app).
    pub(crate) class: String,
    /// The app it reserves for, if not a whole class.
    pub(crate) app: Option<String>,
    /// The uplink it holds (index).
    pub(crate) uplink: usize,
    /// Bits per second.
    pub(crate) rate_bps: u64,
}

/// What the scheduler of every uplink should look like (but the classes,
/// which come from the policy).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct QosSetup {
    /// Per uplink: the capacity to shape to, if shaped.
    pub(crate) capacity_bps: Vec<Option<u64>>,
    /// Uplink names, by index.
    pub(crate) uplink_names: Vec<String>,
    /// `[qos]`.
    pub(crate) config: Option<QosConfig>,
    /// Reservations in force.
    pub(crate) reservations: Vec<ReservedRoute>,
}

/// One uplink's scheduler as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UplinkQos {
    /// Uplink name.
    pub(crate) uplink: String,
    /// Configured capacity, bits per second.
    pub(crate) capacity_bps: u64,
    /// The rate the shaper sends at.
    pub(crate) shaped_bps: u64,
    /// Class lanes, then reservation lanes.
    pub(crate) lanes: Vec<LaneStats>,
}

/// Shared between the control loop, the API and the send thread.
#[derive(Debug, Default)]
pub(crate) struct QosBoard {
    setup: RwLock<Arc<QosSetup>>,
    generation: AtomicU64,
    stats: Mutex<Vec<UplinkQos>>,
    /// How many reservations (this site's, then every mesh-wide one) are in
    /// each state, as the reservation manager last counted.
    states: Mutex<Vec<(String, u64)>>,
}

impl QosBoard {
    /// The setup in force.
    pub(crate) fn setup(&self) -> Arc<QosSetup> {
        match self.setup.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the setup; the send thread picks it up at its next batch.
    pub(crate) fn publish(&self, setup: QosSetup) {
        match self.setup.write() {
            Ok(mut s) => *s = Arc::new(setup),
            Err(p) => *p.into_inner() = Arc::new(setup),
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Replaces the published lanes (the send thread does, every 250 ms).
    pub(crate) fn set_stats(&self, stats: Vec<UplinkQos>) {
        if let Ok(mut b) = self.stats.lock() {
            *b = stats;
        }
    }

    /// The lanes of every shaped uplink, as last published by the send thread.
    pub(crate) fn stats(&self) -> Vec<UplinkQos> {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Replaces the reservations' count by state (the reservation manager
    /// does, every second).
    pub(crate) fn set_reservation_states(&self, states: Vec<(String, u64)>) {
        if let Ok(mut s) = self.states.lock() {
            *s = states;
        }
    }

    /// The reservations' count by state: `admitted`, `preempted` and
    /// `waiting` always, any other state seen too.
    pub(crate) fn reservation_states(&self) -> Vec<(String, u64)> {
        self.states.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// `(state, count)` of `states`, with `admitted`, `preempted` and `waiting`
/// present even at zero (so the series exist before the first one), sorted.
pub(crate) fn count_states<'a>(states: impl Iterator<Item = &'a str>) -> Vec<(String, u64)> {
    let mut counts: std::collections::BTreeMap<String, u64> =
        ["admitted", "preempted", "waiting"].iter().map(|s| ((*s).to_owned(), 0)).collect();
    for s in states {
        *counts.entry(s.to_owned()).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// The scheduler lanes of a policy: priority classes first (by name), then
/// the weighted ones (by name).
pub(crate) fn class_specs(policy: &ActivePolicy) -> Vec<ClassSpec> {
    let mut specs: Vec<ClassSpec> = policy
        .policy
        .document
        .classes
        .iter()
        .map(|(name, def)| ClassSpec {
            name: name.clone(),
            discipline: if def.qos.priority {
                Discipline::Priority
            } else {
                Discipline::Weighted(def.qos.weight)
            },
            ceiling_bps: def.qos.ceiling_bps,
            dscp: def.qos.dscp,
        })
        .collect();
    specs.sort_by_key(|s| (!matches!(s.discipline, Discipline::Priority), s.name.clone()));
    specs
}

/// What the send path knows of a packet's flow: its route profile and the
/// route that matched (if one did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flow {
    /// Index into the running policy's profiles.
    pub(crate) profile: usize,
    /// Index into its document's routes.
    pub(crate) route: Option<usize>,
}

/// A plaintext packet waiting in a lane, with the path it will take.
#[derive(Debug)]
pub(crate) struct Queued {
    /// The packet (a pooled buffer).
    pub(crate) packet: Vec<u8>,
    /// Dense path index in the table it was queued under.
    pub(crate) path: u32,
}

/// The send thread's schedulers.
#[derive(Debug, Default)]
pub(crate) struct TxQos {
    schedulers: Vec<Option<Scheduler<Queued>>>,
    /// Per profile of the running policy: its class's lane.
    profile_class: Vec<usize>,
    /// Per route of the running policy: the apps it names.
    route_apps: Vec<Vec<String>>,
    /// The reservations, each with its lane index on its uplink.
    reservations: Vec<(ReservedRoute, usize)>,
    seen: Option<(u64, u64)>,
    pool: Vec<Vec<u8>>,
    last_stats: Option<Instant>,
}

impl TxQos {
    /// Rebuilds the schedulers when the policy (`policy_generation`) or the
    /// setup changed since the last call.
    pub(crate) fn refresh(
        &mut self,
        board: &QosBoard,
        policy: &ActivePolicy,
        policy_generation: u64,
        now: Instant,
    ) {
        let generation = board.generation.load(Ordering::Acquire);
        if self.seen == Some((policy_generation, generation)) {
            return;
        }
        self.seen = Some((policy_generation, generation));
        let setup = board.setup();
        let classes = class_specs(policy);
        self.profile_class = policy
            .policy
            .profiles
            .iter()
            .map(|p| classes.iter().position(|c| c.name == p.class).unwrap_or(0))
            .collect();
        self.route_apps =
            policy.policy.document.routes.iter().map(|r| r.matches.apps.clone()).collect();
        let Some(cfg) = setup.config.as_ref().filter(|c| c.enabled && !classes.is_empty()) else {
            self.schedulers.clear();
            self.reservations.clear();
            return;
        };
        let mut schedulers: Vec<Option<Scheduler<Queued>>> = std::mem::take(&mut self.schedulers);
        schedulers.resize_with(setup.capacity_bps.len(), || None);
        for (uplink, capacity) in setup.capacity_bps.iter().enumerate() {
            let Some(capacity_bps) = *capacity else {
                schedulers[uplink] = None;
                continue;
            };
            let want = SchedulerConfig {
                capacity_bps,
                headroom: cfg.headroom,
                queue_time: cfg.queue_time,
                classes: classes.clone(),
            };
            let keep = schedulers[uplink].as_ref().is_some_and(|s| *s.config() == want);
            if !keep {
                schedulers[uplink] = Some(Scheduler::new(now, want));
            }
        }
        self.reservations.clear();
        for (uplink, sched) in schedulers.iter_mut().enumerate() {
            let Some(sched) = sched else { continue };
            let mut lanes = Vec::new();
            for r in setup.reservations.iter().filter(|r| r.uplink == uplink) {
                let Some(class) = sched.class_index(&r.class) else { continue };
                self.reservations.push((r.clone(), lanes.len()));
                lanes.push((r.id.clone(), class, r.rate_bps));
            }
            sched.set_reservations(now, &lanes);
        }
        self.schedulers = schedulers;
    }

    /// Whether `uplink` is shaped.
    pub(crate) fn shapes(&self, uplink: usize) -> bool {
        self.schedulers.get(uplink).is_some_and(Option::is_some)
    }

    /// The uplink a reservation holds for traffic of `flow` to `peer`.
    pub(crate) fn reserved_uplink(&self, peer: &str, flow: Flow) -> Option<usize> {
        if self.reservations.is_empty() {
            return None;
        }
        let (r, _) = self.reservation(peer, flow, None)?;
        Some(r.uplink)
    }

    /// The reservation `flow` to `peer` belongs to (on `uplink`, if given):
    /// one for its app first, else one for its class.
    fn reservation(
        &self,
        peer: &str,
        flow: Flow,
        uplink: Option<usize>,
    ) -> Option<&(ReservedRoute, usize)> {
        let on = |r: &ReservedRoute| r.to == peer && uplink.is_none_or(|u| u == r.uplink);
        let apps = flow.route.and_then(|i| self.route_apps.get(i)).filter(|a| !a.is_empty());
        if let Some(apps) = apps {
            let by_app = self
                .reservations
                .iter()
                .find(|(r, _)| on(r) && r.app.as_ref().is_some_and(|a| apps.contains(a)));
            if by_app.is_some() {
                return by_app;
            }
        }
        let class = *self.profile_class.get(flow.profile)?;
        let sched = self.schedulers.iter().flatten().next()?;
        let name = &sched.config().classes.get(class)?.name;
        self.reservations.iter().find(|(r, _)| on(r) && r.app.is_none() && r.class == *name)
    }

    /// Queues `packet` of `flow` to `peer` on `uplink`'s scheduler, for
    /// path `path`. `false` when the lane was full (the packet is dropped).
    pub(crate) fn enqueue(
        &mut self,
        uplink: usize,
        peer: &str,
        flow: Flow,
        packet: &[u8],
        path: u32,
    ) -> bool {
        let target = match self.reservation(peer, flow, Some(uplink)) {
            Some((_, lane)) => Target::Reserved(*lane),
            None => Target::Class(self.profile_class.get(flow.profile).copied().unwrap_or(0)),
        };
        let Some(Some(sched)) = self.schedulers.get_mut(uplink) else { return false };
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(packet);
        let size = packet.len() + WIRE_OVERHEAD;
        match sched.enqueue(target, Queued { packet: buf, path }, size) {
            Ok(()) => true,
            Err(q) => {
                self.recycle(q.packet);
                false
            }
        }
    }

    /// Hands every packet the schedulers let go at `now` to `send` (uplink,
    /// outer DSCP, the queued packet), uplink by uplink.
    pub(crate) fn drain(&mut self, now: Instant, mut send: impl FnMut(usize, u8, &Queued)) {
        for uplink in 0..self.schedulers.len() {
            while let Some(d) = self.schedulers[uplink].as_mut().and_then(|s| s.dequeue(now)) {
                send(uplink, d.dscp, &d.item);
                self.recycle(d.item.packet);
            }
        }
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < POOL {
            self.pool.push(buf);
        }
    }

    /// How long the send thread may wait for TUN packets before a queued
    /// packet is due (`None`: nothing queued). At least 1 ms while waiting,
    /// so a shaped uplink does not spin the thread.
    pub(crate) fn wait(&mut self, now: Instant) -> Option<Duration> {
        let at = self.schedulers.iter_mut().flatten().filter_map(|s| s.next_wakeup(now)).min()?;
        Some(at.saturating_duration_since(now).max(Duration::from_millis(1)))
    }

    /// Publishes the lanes' counters (every 250 ms).
    pub(crate) fn publish_stats(
        &mut self,
        board: &QosBoard,
        uplink_names: &[String],
        now: Instant,
    ) {
        if self.last_stats.is_some_and(|t| now.saturating_duration_since(t) < STATS_EVERY) {
            return;
        }
        self.last_stats = Some(now);
        let stats: Vec<UplinkQos> = self
            .schedulers
            .iter()
            .enumerate()
            .filter_map(|(u, s)| {
                let s = s.as_ref()?;
                Some(UplinkQos {
                    uplink: uplink_names.get(u).cloned().unwrap_or_default(),
                    capacity_bps: s.config().capacity_bps,
                    shaped_bps: s.config().shaped_bps(),
                    lanes: s.stats(),
                })
            })
            .collect();
        board.set_stats(stats);
    }
}

#[cfg(test)]
mod state_tests {
    use super::count_states;

    #[test]
    fn reservation_states_are_counted_with_the_usual_three_always_present() {
        let counts = count_states(["admitted", "waiting", "admitted", "expired"].into_iter());
        let expected: Vec<(String, u64)> =
            [("admitted", 2), ("expired", 1), ("preempted", 0), ("waiting", 1)]
                .iter()
                .map(|(s, n)| ((*s).to_owned(), *n))
                .collect();
        assert_eq!(counts, expected);
    }
}
