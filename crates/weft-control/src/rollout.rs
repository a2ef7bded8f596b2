//! Mesh-wide publication, sans-IO: which sites the leader must (re)send its
//! current publication to ([`Publisher`]), and whether an agent installs a
//! publication it receives ([`Follower`]).
//!
//! A publication is identified by `(epoch, seq)`: the publishing leader's
//! fencing epoch and a sequence that grows with every publication (the
//! store revision of the record it publishes). Each site gets one bundle
//! per publication: during a canary stage the canary sites get the new
//! version, the others the stable one, under the same `(epoch, seq)`.
//!
//! Drive the publisher like this (the agent's mesh thread does):
//!
//! ```text
//! publisher.publish(now, epoch, seq);            // a new publication
//! publisher.set_members(now, sites);             // whenever membership changes
//! for site in publisher.poll_send(now) { send the site its bundle }
//! publisher.handle_ack(now, site, epoch, seq, outcome);
//! sleep until publisher.poll_timeout()
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::fence::{Epoch, EpochGuard, Stale};

/// What a site answered for a publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckState {
    /// Not acknowledged yet.
    Pending,
    /// Installed (or already running that version).
    Installed,
    /// Refused by the site, with its reason (the site keeps its last good policy).
    Refused(String),
}

#[derive(Debug, Clone)]
struct Target {
    acked: Option<(Epoch, u64)>,
    state: AckState,
    last_sent: Option<Instant>,
    sends: u32,
}

/// The leader's side: who still needs the current publication.
#[derive(Debug, Clone)]
pub struct Publisher {
    current: Option<(Epoch, u64)>,
    targets: BTreeMap<String, Target>,
    resend_every: Duration,
}

impl Publisher {
    /// A publisher that re-sends to a site that has not acknowledged the
    /// current publication every `resend_every`.
    pub fn new(resend_every: Duration) -> Self {
        Self { current: None, targets: BTreeMap::new(), resend_every }
    }

    /// The publication being delivered.
    pub fn current(&self) -> Option<(Epoch, u64)> {
        self.current
    }

    /// Starts delivering `(epoch, seq)`: every site is due now.
    pub fn publish(&mut self, _now: Instant, epoch: Epoch, seq: u64) {
        self.current = Some((epoch, seq));
        for t in self.targets.values_mut() {
            if t.acked != self.current {
                t.state = AckState::Pending;
                t.last_sent = None;
                t.sends = 0;
            }
        }
    }

    /// Stops delivering (this controller stepped down).
    pub fn stop(&mut self) {
        self.current = None;
    }

    /// The sites to deliver to: new ones are due at once, gone ones are
    /// forgotten.
    pub fn set_members<'a>(&mut self, _now: Instant, sites: impl IntoIterator<Item = &'a str>) {
        let mut keep = BTreeMap::new();
        for s in sites {
            let t = self.targets.remove(s).unwrap_or(Target {
                acked: None,
                state: AckState::Pending,
                last_sent: None,
                sends: 0,
            });
            keep.insert(s.to_owned(), t);
        }
        self.targets = keep;
    }

    fn due(&self, t: &Target, now: Instant) -> bool {
        self.current.is_some()
            && t.acked != self.current
            && t.last_sent.is_none_or(|at| now >= at + self.resend_every)
    }

    /// The sites to send the current publication to now; each is counted
    /// as sent.
    pub fn poll_send(&mut self, now: Instant) -> Vec<String> {
        let due: Vec<String> =
            self.targets.iter().filter(|(_, t)| self.due(t, now)).map(|(s, _)| s.clone()).collect();
        for s in &due {
            if let Some(t) = self.targets.get_mut(s) {
                t.last_sent = Some(now);
                t.sends += 1;
            }
        }
        due
    }

    /// A site acknowledged `(epoch, seq)`; acknowledgements of other
    /// publications only update what the site is known to run.
    pub fn handle_ack(
        &mut self,
        _now: Instant,
        site: &str,
        epoch: Epoch,
        seq: u64,
        state: AckState,
    ) -> bool {
        let Some(t) = self.targets.get_mut(site) else { return false };
        if t.acked.is_some_and(|a| a > (epoch, seq)) {
            return false;
        }
        t.acked = Some((epoch, seq));
        t.state = state;
        true
    }

    /// When the next re-send is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current?;
        self.targets
            .values()
            .filter(|t| t.acked != self.current)
            .filter_map(|t| t.last_sent.map(|at| at + self.resend_every))
            .min()
    }

    /// Every site with what it acknowledged last and how many sends of the
    /// current publication it took so far.
    pub fn targets(&self) -> impl Iterator<Item = (&str, Option<(Epoch, u64)>, &AckState, u32)> {
        self.targets.iter().map(|(s, t)| (s.as_str(), t.acked, &t.state, t.sends))
    }
}

/// An agent's decision about a publication it received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Install this version (the guard has moved to it).
    Install,
    /// Already running this version: acknowledge, nothing to install.
    AlreadyRunning,
    /// Older than what was accepted: refuse (a deposed leader, a replay).
    Stale(Stale),
    /// A canary bundle for other sites: ignore.
    NotForUs,
    /// The same publication again (a re-send crossed the acknowledgement):
    /// acknowledge again, nothing to install.
    Duplicate,
}

/// Running totals of a [`Follower`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowerCounters {
    /// Publications installed.
    pub installed: u64,
    /// Publications of the running version (acknowledged, not reinstalled).
    pub already_running: u64,
    /// Re-sends of the publication in force.
    pub duplicates: u64,
    /// Publications refused as older than the newest accepted.
    pub stale_refused: u64,
    /// Canary bundles meant for other sites.
    pub not_for_us: u64,
}

/// An agent's side: the newest publication accepted and the version in
/// force. Persist [`Follower::newest`] and [`Follower::running`] with the
/// installed policy, so a restart cannot be rolled back by a replay.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    guard: EpochGuard,
    running: Option<u64>,
    counters: FollowerCounters,
}

impl Follower {
    /// A follower that has accepted `newest` and runs `running`.
    pub fn new(newest: Option<(Epoch, u64)>, running: Option<u64>) -> Self {
        Self { guard: EpochGuard::new(newest), running, counters: FollowerCounters::default() }
    }

    /// The newest `(epoch, seq)` accepted.
    pub fn newest(&self) -> Option<(Epoch, u64)> {
        self.guard.newest()
    }

    /// The mesh policy version in force.
    pub fn running(&self) -> Option<u64> {
        self.running
    }

    /// Running totals.
    pub fn counters(&self) -> FollowerCounters {
        self.counters
    }

    /// Decides about a publication `(epoch, seq)` carrying `version`;
    /// `for_us` says whether the bundle names this site (or every site).
    /// [`Verdict::Install`] moves the guard: call
    /// [`installed`](Self::installed) once it runs; a failed install keeps
    /// the last good version in force and is not retried for this
    /// publication (the leader learns of it from the acknowledgement).
    pub fn offer(&mut self, epoch: Epoch, seq: u64, version: u64, for_us: bool) -> Verdict {
        if !for_us {
            self.counters.not_for_us += 1;
            return Verdict::NotForUs;
        }
        if self.guard.newest() == Some((epoch, seq)) {
            self.counters.duplicates += 1;
            return Verdict::Duplicate;
        }
        if let Err(stale) = self.guard.accept(epoch, seq) {
            self.counters.stale_refused += 1;
            return Verdict::Stale(stale);
        }
        if self.running == Some(version) {
            self.counters.already_running += 1;
            return Verdict::AlreadyRunning;
        }
        Verdict::Install
    }

    /// `version` now runs.
    pub fn installed(&mut self, version: u64) {
        self.running = Some(version);
        self.counters.installed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        weft_types::virtual_origin()
    }

    #[test]
    fn every_member_gets_a_new_publication_and_only_the_silent_ones_get_it_again() {
        let now = t0();
        let mut p = Publisher::new(Duration::from_secs(1));
        p.set_members(now, ["a", "b", "c"]);
        assert!(p.poll_send(now).is_empty(), "nothing published yet");
        p.publish(now, Epoch(5), 10);
        assert_eq!(p.poll_send(now), ["a", "b", "c"]);
        assert!(p.poll_send(now).is_empty(), "not again before the re-send period");
        p.handle_ack(now, "a", Epoch(5), 10, AckState::Installed);
        p.handle_ack(now, "b", Epoch(5), 10, AckState::Refused("bad".into()));
        assert_eq!(p.poll_timeout(), Some(now + Duration::from_secs(1)));
        assert_eq!(p.poll_send(now + Duration::from_secs(1)), ["c"]);
        // A refusal is an answer: no re-send to b.
        p.handle_ack(now, "c", Epoch(5), 10, AckState::Installed);
        assert!(p.poll_send(now + Duration::from_secs(5)).is_empty());
        assert_eq!(p.poll_timeout(), None);
        // A site that joins later gets it at once.
        p.set_members(now, ["a", "b", "c", "d"]);
        assert_eq!(p.poll_send(now + Duration::from_secs(5)), ["d"]);
    }

    #[test]
    fn a_late_ack_of_an_older_publication_does_not_count_for_the_new_one() {
        let now = t0();
        let mut p = Publisher::new(Duration::from_secs(1));
        p.set_members(now, ["a"]);
        p.publish(now, Epoch(5), 10);
        p.poll_send(now);
        p.publish(now, Epoch(5), 11);
        p.handle_ack(now, "a", Epoch(5), 10, AckState::Installed);
        assert_eq!(p.poll_send(now), ["a"], "10 is not 11");
        p.handle_ack(now, "a", Epoch(5), 11, AckState::Installed);
        assert!(!p.handle_ack(now, "a", Epoch(5), 10, AckState::Installed), "no going back");
        assert!(p.poll_send(now + Duration::from_secs(9)).is_empty());
    }

    #[test]
    fn a_stopped_publisher_sends_nothing() {
        let now = t0();
        let mut p = Publisher::new(Duration::from_secs(1));
        p.set_members(now, ["a"]);
        p.publish(now, Epoch(5), 10);
        p.stop();
        assert!(p.poll_send(now).is_empty());
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn a_follower_installs_newer_publications_and_refuses_older_ones() {
        let mut f = Follower::new(None, None);
        assert_eq!(f.offer(Epoch(5), 10, 1, true), Verdict::Install);
        f.installed(1);
        assert_eq!(f.offer(Epoch(5), 10, 1, true), Verdict::Duplicate);
        assert_eq!(f.offer(Epoch(5), 12, 2, true), Verdict::Install);
        f.installed(2);
        // A deposed leader (epoch 5) replays or publishes after the new one (epoch 9).
        assert_eq!(f.offer(Epoch(9), 20, 2, true), Verdict::AlreadyRunning);
        assert!(matches!(f.offer(Epoch(5), 30, 3, true), Verdict::Stale(Stale::OlderEpoch { .. })));
        assert!(matches!(f.offer(Epoch(9), 15, 3, true), Verdict::Stale(Stale::NotNewer { .. })));
        assert_eq!(f.offer(Epoch(9), 25, 3, false), Verdict::NotForUs);
        assert_eq!(f.running(), Some(2));
        assert_eq!(f.newest(), Some((Epoch(9), 20)));
        let c = f.counters();
        assert_eq!((c.installed, c.stale_refused, c.not_for_us, c.duplicates), (2, 2, 1, 1));
    }

    #[test]
    fn a_restarted_follower_remembers_what_it_accepted() {
        let mut f = Follower::new(Some((Epoch(9), 20)), Some(2));
        assert!(matches!(f.offer(Epoch(9), 19, 1, true), Verdict::Stale(_)));
        assert_eq!(f.offer(Epoch(9), 21, 2, true), Verdict::AlreadyRunning);
    }
}
