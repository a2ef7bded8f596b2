//! One uplink's packet scheduler.
//!
//! Every packet bound for the uplink is queued in a *lane*: the lane of its
//! class, or the lane of a bandwidth reservation it belongs to. Lanes are
//! served in this order, each packet only while the uplink's shaper (its
//! capacity less a headroom) has tokens:
//!
//! 1. priority classes (`realtime`), in class order, each within its
//!    optional ceiling;
//! 2. reservations, each up to its guaranteed rate;
//! 3. everything else by deficit round robin: weighted classes by their
//!    weight (within their ceilings), reservations beyond their rate with
//!    their class's weight.
//!
//! A lane holds at most `queue_time` worth of the uplink's capacity; a
//! packet that does not fit is dropped (tail drop) and counted, so a bulk
//! TCP flow backs off here while realtime packets jump the queue.
//!
//! Drive it: [`enqueue`](Scheduler::enqueue) each packet with its wire size,
//! then [`dequeue`](Scheduler::dequeue) until it returns `None`, and come
//! back at [`next_wakeup`](Scheduler::next_wakeup).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bucket::TokenBucket;

/// Largest packet the round robin plans for (its quantum per unit weight).
const QUANTUM: usize = 1514;

/// How a class is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Discipline {
    /// Before every weighted class (within its ceiling, if any).
    Priority,
    /// A share of what priority classes and reservations leave, by weight.
    Weighted(u32),
}

/// One class as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassSpec {
    /// Class name (`realtime`, `bulk`, ...).
    pub name: String,
    /// How it is served.
    pub discipline: Discipline,
    /// Most bits per second it may send, if capped.
    pub ceiling_bps: Option<u64>,
    /// DSCP of the outer (encrypted) packets of the class.
    pub dscp: u8,
}

/// One uplink's scheduler settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// The uplink's capacity, bits per second.
    pub capacity_bps: u64,
    /// The share of the capacity the shaper sends (0.5..=1.0), so the queue
    /// forms here and not in the modem.
    pub headroom: f64,
    /// Most queueing delay a lane holds, at the shaped rate.
    pub queue_time: Duration,
    /// The classes, in the order priority classes are served.
    pub classes: Vec<ClassSpec>,
}

impl SchedulerConfig {
    /// The rate the shaper sends at.
    pub fn shaped_bps(&self) -> u64 {
        (self.capacity_bps as f64 * self.headroom.clamp(0.5, 1.0)) as u64
    }
}

/// Which lane a packet goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The lane of class index `0`.
    Class(usize),
    /// The lane of reservation index `0` (see [`Scheduler::set_reservations`]).
    Reserved(usize),
}

/// Counters and depth of one lane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LaneStats {
    /// Class name, or the reservation's id.
    pub name: String,
    /// The class (for reservations: the reserved class).
    pub class: String,
    /// Packets queued now.
    pub queued_packets: usize,
    /// Bytes queued now.
    pub queued_bytes: usize,
    /// Packets sent.
    pub sent_packets: u64,
    /// Bytes sent.
    pub sent_bytes: u64,
    /// Packets dropped because the lane was full.
    pub dropped_packets: u64,
    /// Bytes dropped because the lane was full.
    pub dropped_bytes: u64,
}

/// A lane: a FIFO with a byte limit and counters.
#[derive(Debug)]
struct Lane<T> {
    queue: VecDeque<(T, usize)>,
    bytes: usize,
    limit: usize,
    stats: LaneStats,
    /// Deficit round robin credit.
    deficit: usize,
}

impl<T> Lane<T> {
    fn new(name: String, class: String, limit: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            bytes: 0,
            limit,
            stats: LaneStats { name, class, ..LaneStats::default() },
            deficit: 0,
        }
    }

    fn push(&mut self, item: T, size: usize) -> Result<(), T> {
        if self.bytes + size > self.limit && !self.queue.is_empty() {
            self.stats.dropped_packets += 1;
            self.stats.dropped_bytes += size as u64;
            return Err(item);
        }
        self.bytes += size;
        self.queue.push_back((item, size));
        Ok(())
    }

    fn head(&self) -> Option<usize> {
        self.queue.front().map(|(_, s)| *s)
    }

    fn pop(&mut self) -> Option<(T, usize)> {
        let (item, size) = self.queue.pop_front()?;
        self.bytes -= size;
        self.stats.sent_packets += 1;
        self.stats.sent_bytes += size as u64;
        Some((item, size))
    }

    fn stats(&self) -> LaneStats {
        LaneStats {
            queued_packets: self.queue.len(),
            queued_bytes: self.bytes,
            ..self.stats.clone()
        }
    }
}

/// A class's lane and its ceiling.
#[derive(Debug)]
struct ClassLane<T> {
    spec: ClassSpec,
    lane: Lane<T>,
    ceiling: Option<TokenBucket>,
}

/// A reservation's lane and its guaranteed rate.
#[derive(Debug)]
struct ReservedLane<T> {
    class: usize,
    lane: Lane<T>,
    guarantee: TokenBucket,
}

/// A packet handed out to send.
#[derive(Debug, PartialEq, Eq)]
pub struct Dequeued<T> {
    /// What was queued.
    pub item: T,
    /// Its class index.
    pub class: usize,
    /// The outer DSCP of its class.
    pub dscp: u8,
}

/// One entry of the round robin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Class(usize),
    Reserved(usize),
}

/// One uplink's scheduler over items of type `T` (the data plane's packets).
#[derive(Debug)]
pub struct Scheduler<T> {
    config: SchedulerConfig,
    shaper: TokenBucket,
    classes: Vec<ClassLane<T>>,
    reserved: Vec<ReservedLane<T>>,
    /// Round robin position, an index into [`Self::slots`].
    turn: usize,
    /// Whether the lane at `turn` already got its quantum this visit.
    granted: bool,
    queued: usize,
}

/// Burst of a bucket of `bps`: 2 ms worth, at least two full packets.
fn burst_for(bps: u64) -> u64 {
    (bps / 8 / 500).max(2 * QUANTUM as u64)
}

impl<T> Scheduler<T> {
    /// A scheduler with empty lanes for `config`'s classes, at `now`.
    pub fn new(now: Instant, config: SchedulerConfig) -> Self {
        let shaped = config.shaped_bps();
        let shaper = TokenBucket::new(now, shaped, burst_for(shaped));
        let limit = Self::lane_limit(&config);
        let classes = config
            .classes
            .iter()
            .map(|spec| ClassLane {
                lane: Lane::new(spec.name.clone(), spec.name.clone(), limit),
                ceiling: spec.ceiling_bps.map(|c| TokenBucket::new(now, c, burst_for(c))),
                spec: spec.clone(),
            })
            .collect();
        Self { config, shaper, classes, reserved: Vec::new(), turn: 0, granted: false, queued: 0 }
    }

    fn lane_limit(config: &SchedulerConfig) -> usize {
        let bytes = config.shaped_bps() as f64 / 8.0 * config.queue_time.as_secs_f64();
        (bytes as usize).max(8 * QUANTUM)
    }

    /// The settings.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// The index of class `name`, if the scheduler has it.
    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c.spec.name == name)
    }

    /// Replaces the reservation lanes by `reservations` (id, class index,
    /// guaranteed bits per second), in that order for [`Target::Reserved`].
    /// Packets queued in a reservation that goes are dropped and counted.
    pub fn set_reservations(&mut self, now: Instant, reservations: &[(String, usize, u64)]) {
        let limit = Self::lane_limit(&self.config);
        let mut old: Vec<ReservedLane<T>> = std::mem::take(&mut self.reserved);
        for (id, class, rate) in reservations {
            let class = (*class).min(self.classes.len().saturating_sub(1));
            if let Some(pos) = old.iter().position(|r| r.lane.stats.name == *id) {
                let mut lane = old.remove(pos);
                if lane.guarantee.rate_bps() != *rate {
                    lane.guarantee = TokenBucket::new(now, *rate, burst_for(*rate));
                }
                lane.class = class;
                self.reserved.push(lane);
            } else {
                let class_name = self.classes.get(class).map(|c| c.spec.name.clone());
                self.reserved.push(ReservedLane {
                    class,
                    lane: Lane::new(id.clone(), class_name.unwrap_or_default(), limit),
                    guarantee: TokenBucket::new(now, *rate, burst_for(*rate)),
                });
            }
        }
        for gone in old {
            self.queued -= gone.lane.queue.len();
        }
        self.turn = 0;
        self.granted = false;
    }

    /// Queues `item` of `size` wire bytes in `target`'s lane. The item comes
    /// back when the lane is full (or the target does not exist).
    pub fn enqueue(&mut self, target: Target, item: T, size: usize) -> Result<(), T> {
        let lane = match target {
            Target::Class(i) => self.classes.get_mut(i).map(|c| &mut c.lane),
            Target::Reserved(i) => self.reserved.get_mut(i).map(|r| &mut r.lane),
        };
        let Some(lane) = lane else { return Err(item) };
        lane.push(item, size)?;
        self.queued += 1;
        Ok(())
    }

    /// Packets queued in every lane.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// The next packet to send at `now`, if the shaper and the lanes allow one.
    pub fn dequeue(&mut self, now: Instant) -> Option<Dequeued<T>> {
        if self.queued == 0 || !self.shaper.ready(now) {
            return None;
        }
        let (item, size, class) = self.pick(now)?;
        self.queued -= 1;
        self.shaper.take(size);
        let dscp = self.classes[class].spec.dscp;
        Some(Dequeued { item, class, dscp })
    }

    fn pick(&mut self, now: Instant) -> Option<(T, usize, usize)> {
        for (i, c) in self.classes.iter_mut().enumerate() {
            if c.spec.discipline != Discipline::Priority || c.lane.queue.is_empty() {
                continue;
            }
            if c.ceiling.as_mut().is_some_and(|b| !b.ready(now)) {
                continue;
            }
            let (item, size) = c.lane.pop()?;
            if let Some(b) = &mut c.ceiling {
                b.take(size);
            }
            return Some((item, size, i));
        }
        for r in &mut self.reserved {
            if !r.lane.queue.is_empty() && r.guarantee.ready(now) {
                let (item, size) = r.lane.pop()?;
                r.guarantee.take(size);
                return Some((item, size, r.class));
            }
        }
        self.round_robin(now)
    }

    /// Round robin entries: weighted classes, then reservations.
    fn slots(&self) -> Vec<Slot> {
        let classes = self
            .classes
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.spec.discipline, Discipline::Weighted(_)))
            .map(|(i, _)| Slot::Class(i));
        classes.chain((0..self.reserved.len()).map(Slot::Reserved)).collect()
    }

    fn weight_of(&self, slot: Slot) -> usize {
        let class = match slot {
            Slot::Class(i) => i,
            Slot::Reserved(r) => self.reserved[r].class,
        };
        match self.classes[class].spec.discipline {
            Discipline::Weighted(w) => w.max(1) as usize,
            Discipline::Priority => 1,
        }
    }

    /// Whether `slot` may send now (not empty, within its class's ceiling).
    fn eligible(&mut self, slot: Slot, now: Instant) -> bool {
        let class = match slot {
            Slot::Class(i) => {
                if self.classes[i].lane.queue.is_empty() {
                    return false;
                }
                i
            }
            Slot::Reserved(r) => {
                if self.reserved[r].lane.queue.is_empty() {
                    return false;
                }
                return true;
            }
        };
        self.classes[class].ceiling.as_mut().is_none_or(|b| b.ready(now))
    }

    fn lane_mut(&mut self, slot: Slot) -> &mut Lane<T> {
        match slot {
            Slot::Class(i) => &mut self.classes[i].lane,
            Slot::Reserved(r) => &mut self.reserved[r].lane,
        }
    }

    fn round_robin(&mut self, now: Instant) -> Option<(T, usize, usize)> {
        let slots = self.slots();
        if slots.is_empty() {
            return None;
        }
        // Deficit round robin: a lane gets its quantum once per visit and
        // sends while its credit covers the head packet. The loop ends once
        // every lane was found ineligible in a row; an eligible lane gains
        // credit on every visit, so it sends within a few rounds.
        let mut ineligible_in_a_row = 0;
        loop {
            let slot = slots[self.turn % slots.len()];
            if !self.eligible(slot, now) {
                self.lane_mut(slot).deficit = 0;
                self.next_turn(slots.len());
                ineligible_in_a_row += 1;
                if ineligible_in_a_row > slots.len() {
                    return None;
                }
                continue;
            }
            ineligible_in_a_row = 0;
            let quantum = self.weight_of(slot) * QUANTUM;
            let granted = self.granted;
            let lane = self.lane_mut(slot);
            if !granted {
                lane.deficit += quantum;
            }
            let head = lane.head()?;
            if lane.deficit < head {
                self.next_turn(slots.len());
                continue;
            }
            lane.deficit -= head;
            let (item, size) = lane.pop()?;
            self.granted = true;
            let class = match slot {
                Slot::Class(i) => {
                    if let Some(b) = &mut self.classes[i].ceiling {
                        b.take(size);
                    }
                    i
                }
                Slot::Reserved(r) => self.reserved[r].class,
            };
            return Some((item, size, class));
        }
    }

    fn next_turn(&mut self, slots: usize) {
        self.turn = (self.turn + 1) % slots;
        self.granted = false;
    }

    /// When a queued packet may go next: `None` with nothing queued, `now`
    /// when one may go now.
    pub fn next_wakeup(&mut self, now: Instant) -> Option<Instant> {
        if self.queued == 0 {
            return None;
        }
        let link = self.shaper.ready_at(now);
        // The earliest moment some non-empty lane is allowed by its own bucket.
        let mut lane_at: Option<Instant> = None;
        let mut earliest = |at: Instant| lane_at = Some(lane_at.map_or(at, |l| l.min(at)));
        for c in &mut self.classes {
            if !c.lane.queue.is_empty() {
                earliest(c.ceiling.as_mut().map_or(now, |b| b.ready_at(now)));
            }
        }
        if self.reserved.iter().any(|r| !r.lane.queue.is_empty()) {
            // Reservations beyond their rate share the round robin, uncapped.
            earliest(now);
        }
        Some(link.max(lane_at.unwrap_or(now)))
    }

    /// Counters of every class lane, then every reservation lane.
    pub fn stats(&self) -> Vec<LaneStats> {
        self.classes
            .iter()
            .map(|c| c.lane.stats())
            .chain(self.reserved.iter().map(|r| r.lane.stats()))
            .collect()
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
