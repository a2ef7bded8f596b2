//! Elections of several controllers against [`ModelStore`], a model of etcd's semantics
//! (leases expire at the store `ttl` after the grant or renewal *arrives*;
//! a key on an expired lease goes with it; create revisions only grow), in
//! virtual time, with latency, loss, stalls and partitions.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use weft_types::{SeededRng, virtual_origin};

use super::*;
use crate::sim::ModelStore;

const KEY: &str = "/weft/control/leader";

/// A call on its way: applied at the store at `apply_at`, answered at `answer_at`.
#[derive(Debug)]
struct Call {
    id: RequestId,
    request: Request,
    apply_at: Instant,
    answer_at: Instant,
    deadline: Instant,
    result: Option<Result<Response, CallError>>,
    lost: bool,
}

struct Ctl {
    election: Election,
    call: Option<Call>,
    /// Not driven at all (killed, or stalled until the given time).
    dead: bool,
    stalled_until: Option<Instant>,
    /// Nothing reaches the store, nothing comes back.
    cut: bool,
    /// Tries a fenced write every tick while it believes it leads.
    attempted: u64,
    landed: u64,
}

struct Lab {
    now: Instant,
    store: ModelStore,
    ctls: Vec<Ctl>,
    rng: SeededRng,
    latency_ms: (u64, u64),
    loss_pct: u64,
    /// Instants at which two controllers believed they led (must stay empty).
    split_brain: Vec<Duration>,
    /// Instants at which a believed leader was not the store's key holder.
    unbacked: Vec<Duration>,
}

impl Lab {
    fn new(n: usize, seed: u64) -> Self {
        let now = virtual_origin();
        let ctls = (0..n)
            .map(|i| Ctl {
                election: Election::new(now, ElectionConfig::new(KEY, format!("c{i}"))).unwrap(),
                call: None,
                dead: false,
                stalled_until: None,
                cut: false,
                attempted: 0,
                landed: 0,
            })
            .collect();
        Self {
            now,
            store: ModelStore::new(),
            ctls,
            rng: SeededRng::new(seed),
            latency_ms: (1, 5),
            loss_pct: 0,
            split_brain: Vec::new(),
            unbacked: Vec::new(),
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - virtual_origin()
    }

    fn latency(&mut self) -> Duration {
        let (lo, hi) = self.latency_ms;
        Duration::from_millis(lo + self.rng.next_u64() % (hi - lo + 1))
    }

    fn step(&mut self) {
        self.now += Duration::from_millis(1);
        let now = self.now;
        for i in 0..self.ctls.len() {
            if self.ctls[i].dead || self.ctls[i].stalled_until.is_some_and(|t| now < t) {
                continue;
            }
            // Calls in flight: the store applies them, answers come back or time out.
            if let Some(mut call) = self.ctls[i].call.take() {
                if call.result.is_none() && !call.lost && now >= call.apply_at {
                    call.result = Some(self.store.apply(call.apply_at, &call.request));
                }
                let answered =
                    !call.lost && now >= call.answer_at && call.answer_at <= call.deadline;
                if answered {
                    let r = call.result.take().expect("applied before answered");
                    self.ctls[i].election.handle_response(now, call.id, r);
                } else if now >= call.deadline {
                    self.ctls[i].election.handle_response(now, call.id, Err(CallError::Timeout));
                } else {
                    self.ctls[i].call = Some(call);
                }
            }
            if self.ctls[i].call.is_none()
                && let Some((id, request)) = self.ctls[i].election.poll_request(now)
            {
                let (there, back) = (self.latency(), self.latency());
                let lost = self.ctls[i].cut || self.rng.next_u64() % 100 < self.loss_pct;
                let deadline = now + self.ctls[i].election.config().call_timeout;
                self.ctls[i].call = Some(Call {
                    id,
                    request,
                    apply_at: now + there,
                    answer_at: now + there + back,
                    deadline,
                    result: None,
                    lost,
                });
            }
            while self.ctls[i].election.poll_event().is_some() {}
            // Leader work: a fenced write per tick, straight to the store
            // unless cut off.
            if let Some(fence) = self.ctls[i].election.fence(now) {
                self.ctls[i].attempted += 1;
                if !self.ctls[i].cut {
                    let id = self.ctls[i].election.config().id.clone();
                    if self.store.fenced_write(now, &fence, &id) {
                        self.ctls[i].landed += 1;
                    } else {
                        self.ctls[i].election.handle_fence_failed(now, fence.epoch);
                    }
                }
            }
        }
        self.store.expire(now);
        let leaders: Vec<usize> = (0..self.ctls.len())
            .filter(|&i| {
                let c = &self.ctls[i];
                !c.dead && c.stalled_until.is_none_or(|t| now >= t) && c.election.is_leader(now)
            })
            .collect();
        if leaders.len() > 1 {
            self.split_brain.push(self.elapsed());
        }
        for &i in &leaders {
            let id = self.ctls[i].election.config().id.clone();
            let epoch = self.ctls[i].election.fence(now).map(|f| f.epoch);
            if self.store.holder() != epoch.map(|e| (id, e)) {
                self.unbacked.push(self.elapsed());
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    fn leader(&self) -> Option<usize> {
        (0..self.ctls.len())
            .find(|&i| !self.ctls[i].dead && self.ctls[i].election.is_leader(self.now))
    }

    /// Runs until some live controller leads; how long that took.
    fn until_leader(&mut self, max: Duration) -> Option<Duration> {
        let start = self.now;
        while self.now < start + max {
            if self.leader().is_some() {
                return Some(self.now - start);
            }
            self.step();
        }
        None
    }
}

#[test]
fn the_timing_rule_is_enforced() {
    let mut c = ElectionConfig::new(KEY, "c0");
    c.validate().unwrap();
    c.renew_every = Duration::from_millis(1600);
    assert!(matches!(c.validate(), Err(ElectionError::RenewTooSlow { .. })));
    let mut c = ElectionConfig::new(KEY, "c0");
    c.call_timeout = Duration::from_secs(1);
    assert!(matches!(c.validate(), Err(ElectionError::TimeoutTooLong { .. })));
    let mut c = ElectionConfig::new(KEY, "c0");
    c.drift_margin = Duration::from_millis(1500);
    assert!(matches!(c.validate(), Err(ElectionError::MarginTooLarge { .. })));
    assert!(ElectionConfig::new("", "c0").validate().is_err());
}

#[test]
fn three_controllers_elect_one_leader_that_the_others_follow() {
    let mut lab = Lab::new(3, 1);
    lab.until_leader(Duration::from_secs(1)).expect("a leader within a second");
    lab.run_for(Duration::from_secs(5));
    let leader = lab.leader().unwrap();
    let epoch = lab.ctls[leader].election.fence(lab.now).unwrap().epoch;
    for (i, c) in lab.ctls.iter().enumerate() {
        if i != leader {
            assert_eq!(
                c.election.role(),
                &Role::Follower { leader: Some((format!("c{leader}"), epoch)) }
            );
        }
    }
    assert!(lab.split_brain.is_empty() && lab.unbacked.is_empty());
    // Its writes land; nobody else wrote.
    assert!(lab.ctls[leader].landed > 4000);
    assert!(lab.store.writes().iter().all(|(e, w)| *e == epoch && *w == format!("c{leader}")));
}

#[test]
fn a_killed_leader_is_replaced_within_ttl_plus_a_poll_with_a_higher_epoch() {
    for seed in 0..20 {
        let mut lab = Lab::new(3, seed);
        lab.latency_ms = (1, 20);
        lab.until_leader(Duration::from_secs(1)).unwrap();
        lab.run_for(Duration::from_secs(2));
        let old = lab.leader().unwrap();
        let old_epoch = lab.ctls[old].election.fence(lab.now).unwrap().epoch;
        lab.ctls[old].dead = true;
        let took = lab.until_leader(Duration::from_secs(5)).expect("a new leader");
        let new = lab.leader().unwrap();
        assert_ne!(new, old);
        assert!(lab.ctls[new].election.fence(lab.now).unwrap().epoch > old_epoch);
        // The lease lives 2 s from the last renewal the store saw; a poll
        // (200 ms) and a round trip later someone has won.
        assert!(took <= Duration::from_millis(2300), "seed {seed}: {took:?}");
        assert!(lab.split_brain.is_empty(), "seed {seed}: {:?}", lab.split_brain);
    }
}

#[test]
fn a_leader_that_resigns_hands_over_at_the_next_poll() {
    let mut lab = Lab::new(2, 3);
    lab.until_leader(Duration::from_secs(1)).unwrap();
    let old = lab.leader().unwrap();
    let now = lab.now;
    lab.ctls[old].election.resign(now);
    assert!(!lab.ctls[old].election.is_leader(now));
    let took = lab.until_leader(Duration::from_secs(3)).unwrap();
    assert!(took <= Duration::from_millis(300), "{took:?}");
    assert_ne!(lab.leader(), Some(old));
}

#[test]
fn a_leader_cut_off_from_the_store_stops_writing_before_its_lease_expires_there() {
    for seed in 0..20 {
        let mut lab = Lab::new(3, seed);
        lab.until_leader(Duration::from_secs(1)).unwrap();
        lab.run_for(Duration::from_secs(1));
        let old = lab.leader().unwrap();
        lab.ctls[old].cut = true;
        lab.run_for(Duration::from_secs(6));
        // It believed it led only while its lease surely lived, and nobody
        // else led meanwhile.
        assert!(lab.split_brain.is_empty(), "seed {seed}: {:?}", lab.split_brain);
        assert!(lab.unbacked.is_empty(), "seed {seed}: {:?}", lab.unbacked);
        assert!(!lab.ctls[old].election.is_leader(lab.now));
        let new = lab.leader().expect("someone else leads");
        assert_ne!(new, old);
        // Healed, the old leader follows the new one.
        lab.ctls[old].cut = false;
        lab.run_for(Duration::from_secs(2));
        assert_eq!(lab.leader(), Some(new), "seed {seed}");
    }
}

#[test]
fn a_leader_that_stalls_past_its_lease_does_not_write_when_it_wakes() {
    let mut lab = Lab::new(3, 7);
    lab.until_leader(Duration::from_secs(1)).unwrap();
    lab.run_for(Duration::from_millis(700));
    let old = lab.leader().unwrap();
    let old_epoch = lab.ctls[old].election.fence(lab.now).unwrap().epoch;
    // A 4 s pause (GC, a frozen VM): no keep-alives, no timers.
    lab.ctls[old].stalled_until = Some(lab.now + Duration::from_secs(4));
    lab.run_for(Duration::from_secs(5));
    assert!(lab.split_brain.is_empty() && lab.unbacked.is_empty());
    assert!(
        lab.store
            .writes()
            .iter()
            .filter(|(e, _)| *e == old_epoch)
            .all(|(_, w)| *w == format!("c{old}")),
    );
    let new = lab.leader().unwrap();
    assert_ne!(new, old);
    let after = lab.store.writes().iter().rposition(|(e, _)| *e == old_epoch).unwrap();
    assert!(lab.store.writes()[after + 1..].iter().all(|(e, _)| *e != old_epoch));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the latency, loss, partitions and stalls: never two leaders
    /// at once, a believed leader always holds the key at the store, and
    /// no write of an old epoch lands after a newer epoch's.
    #[test]
    fn never_two_leaders_and_never_a_leader_without_the_key(
        seed in any::<u64>(),
        n in 2usize..5,
        max_latency in 1u64..120,
        loss in 0u64..30,
        faults in proptest::collection::vec((0usize..5, 0u8..3, 0u64..8000, 100u64..4000), 0..6),
    ) {
        let mut lab = Lab::new(n, seed);
        lab.latency_ms = (1, max_latency);
        lab.loss_pct = loss;
        let mut plan: Vec<(Duration, usize, u8, Duration)> = faults
            .into_iter()
            .map(|(who, kind, at, len)| (Duration::from_millis(at), who % n, kind, Duration::from_millis(len)))
            .collect();
        plan.sort_by_key(|f| f.0);
        let mut heal: Vec<(Duration, usize)> = Vec::new();
        let end = Duration::from_secs(12);
        while lab.elapsed() < end {
            let t = lab.elapsed();
            while let Some(&(at, who, kind, len)) = plan.first() {
                if at > t { break; }
                plan.remove(0);
                match kind {
                    0 => { lab.ctls[who].cut = true; heal.push((t + len, who)); }
                    1 => lab.ctls[who].stalled_until = Some(lab.now + len),
                    _ => {
                        let now = lab.now;
                        lab.ctls[who].election.resign(now);
                    }
                }
            }
            heal.retain(|&(at, who)| {
                if at <= t { lab.ctls[who].cut = false; false } else { true }
            });
            lab.step();
        }
        prop_assert!(lab.split_brain.is_empty(), "two leaders at {:?}", &lab.split_brain[..lab.split_brain.len().min(5)]);
        prop_assert!(lab.unbacked.is_empty(), "a leader without the key at {:?}", &lab.unbacked[..lab.unbacked.len().min(5)]);
        let epochs: Vec<Epoch> = lab.store.writes().iter().map(|(e, _)| *e).collect();
        prop_assert!(epochs.windows(2).all(|w| w[0] <= w[1]), "an older epoch wrote after a newer one");
    }
}
