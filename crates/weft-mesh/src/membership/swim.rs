//! [`Membership`]: foca behind Weft's sans-IO surface.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use foca::{Foca, Member, NoCustomBroadcast, OwnedNotification, State};
use rand::SeedableRng;
use rand::rngs::StdRng;
use weft_types::{PublicKey, SiteId};

use super::auth::{self, Authenticator, ReplayWindow};
use super::codec::{WireCodec, peek_header};
use super::config::{ConfigError, MembershipConfig};
use super::counters::Counters;
use super::error::GossipError;
use super::info::{MemberId, MemberInfo};
use super::limit::TokenBucket;
use super::runtime::Recorder;
use super::timers::TimerQueue;

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The member's gossip address.
    pub to: SocketAddr,
    /// The sealed envelope.
    pub bytes: Vec<u8>,
}

/// A change in what this member knows about the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    /// A member became active (joined, or came back).
    Joined(Arc<MemberInfo>),
    /// A member changed its metadata (a newer generation replaced the old one).
    Updated(Arc<MemberInfo>),
    /// A member is suspected: a probe cycle failed. Reported by the periodic
    /// scan, so a suspicion shorter than one interval can go unreported.
    Suspect(Arc<MemberInfo>),
    /// A member was declared down (failed, or left: SWIM does not tell them apart).
    Down(Arc<MemberInfo>),
    /// We left the cluster (only ever about ourselves).
    Left(Arc<MemberInfo>),
    /// The cluster declared *us* down; we rejoined with the next generation.
    Rejoined(Arc<MemberInfo>),
}

/// Site id of the placeholder identity `join` addresses: only the seed's
/// address is known, and foca accepts an announcement addressed to any
/// identity with its address. The placeholder never enters a member list.
pub const JOIN_SEED_SITE: &str = "weft-join-seed";

type Swim = Foca<MemberId, WireCodec, StdRng, NoCustomBroadcast>;

/// One site's SWIM membership, sans-IO. Drive it with `handle_datagram`,
/// `handle_timeout`, `join`, `leave`; after each call drain `poll_transmit`
/// and `poll_event`, then sleep until `poll_timeout`.
pub struct Membership<A: Authenticator> {
    foca: Swim,
    auth: A,
    config: MembershipConfig,
    rec: Recorder,
    timers: TimerQueue,
    transmits: VecDeque<Transmit>,
    events: VecDeque<MemberEvent>,
    counter: u64,
    replay: BTreeMap<SiteId, ReplayWindow>,
    buckets: BTreeMap<SiteId, TokenBucket>,
    suspects: BTreeSet<SiteId>,
    next_scan: Option<Instant>,
    counters: Counters,
    /// Drives foca's random choices (a fresh instance after a rejoin draws
    /// from `seed ^ generation`).
    seed: u64,
}

impl<A: Authenticator> std::fmt::Debug for Membership<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("site", &self.foca.identity().info().site)
            .field("members", &self.foca.num_members())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

impl<A: Authenticator> Membership<A> {
    /// A member that knows nobody yet. `seed` drives foca's random choices.
    pub fn new(
        identity: MemberInfo,
        config: MembershipConfig,
        auth: A,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        identity.check().map_err(ConfigError::Info)?;
        let counter = u64::from(identity.generation) << 32;
        let foca = Foca::new(
            MemberId::new(identity),
            config.to_foca(),
            StdRng::seed_from_u64(seed),
            WireCodec,
        );
        Ok(Self {
            foca,
            auth,
            config,
            rec: Recorder::default(),
            timers: TimerQueue::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counter,
            replay: BTreeMap::new(),
            buckets: BTreeMap::new(),
            suspects: BTreeSet::new(),
            next_scan: None,
            counters: Counters::default(),
            seed,
        })
    }

    /// Our own current metadata (generation included).
    pub fn local(&self) -> &MemberInfo {
        self.foca.identity().info()
    }

    /// Sends an announcement to the member at `seed`; its reply brings us in.
    pub fn join(&mut self, now: Instant, seed: SocketAddr) -> Result<(), GossipError> {
        let placeholder = MemberInfo::new(
            SiteId::new(JOIN_SEED_SITE).expect("reserved id is valid"),
            seed,
            PublicKey([0; 32]),
        );
        let result = self.foca.announce(MemberId::new(placeholder), &mut self.rec);
        self.flush(now);
        Ok(result?)
    }

    /// Restores members known from before (state store, or a simulator's
    /// bootstrap) as alive, without gossiping about them.
    pub fn restore(
        &mut self,
        now: Instant,
        members: impl IntoIterator<Item = MemberInfo>,
    ) -> Result<(), GossipError> {
        let updates = members.into_iter().map(|m| Member::alive(MemberId::new(m)));
        let result = self.foca.apply_many(updates, false, &mut self.rec);
        self.flush(now);
        Ok(result?)
    }

    /// Leaves the cluster: tells a few members, then goes quiet.
    pub fn leave(&mut self, now: Instant) -> Result<(), GossipError> {
        let result = self.foca.leave_cluster(&mut self.rec);
        self.flush(now);
        let me = self.foca.identity().shared();
        self.events.push_back(MemberEvent::Left(me));
        Ok(result?)
    }

    /// Replaces our metadata; the generation is bumped so the new identity
    /// wins everywhere.
    pub fn set_info(&mut self, now: Instant, mut info: MemberInfo) -> Result<(), GossipError> {
        info.check().map_err(|_| GossipError::Protocol(foca::Error::DataTooBig))?;
        info.generation = self.local().generation.saturating_add(1);
        self.bump_counter(info.generation);
        let result = self.foca.change_identity(MemberId::new(info), &mut self.rec);
        self.flush(now);
        Ok(result?)
    }

    /// Handles one datagram from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), GossipError> {
        self.counters.datagrams_in += 1;
        self.counters.bytes_in += bytes.len() as u64;
        let result = self.accept(now, from, bytes);
        if let Err(e) = &result {
            let c = &mut self.counters;
            match e {
                GossipError::Malformed { .. } => c.rejected_malformed += 1,
                GossipError::Unauthenticated(_) => c.rejected_unauthenticated += 1,
                GossipError::Replayed { .. } => c.rejected_replayed += 1,
                GossipError::SenderMismatch { .. } => c.rejected_sender_mismatch += 1,
                GossipError::RateLimited(_) => c.rejected_rate_limited += 1,
                GossipError::Protocol(_) => c.rejected_protocol += 1,
            }
        }
        self.flush(now);
        result
    }

    fn accept(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Result<(), GossipError> {
        let _ = from; // NAT may rewrite it: the signed site id is what counts.
        let malformed = GossipError::Malformed { len: bytes.len() };
        let env = auth::parse(bytes).ok_or(malformed)?;
        let fresh = self.replay.get(&env.sender).is_none_or(|w| w.is_fresh(env.counter));
        self.auth.open(&env.sender, env.signed, env.tag)?;
        if !fresh {
            return Err(GossipError::Replayed { from: env.sender, counter: env.counter });
        }
        self.replay.entry(env.sender.clone()).or_default().mark(env.counter);
        let (claimed, is_announce) =
            peek_header(env.payload).ok_or(GossipError::Malformed { len: bytes.len() })?;
        if claimed != env.sender.as_str().as_bytes() {
            let claimed = std::str::from_utf8(claimed).ok().and_then(|s| SiteId::new(s).ok());
            return match claimed {
                Some(claimed) => Err(GossipError::SenderMismatch { signer: env.sender, claimed }),
                None => Err(GossipError::Malformed { len: bytes.len() }),
            };
        }
        if is_announce {
            let (burst, rate) =
                (self.config.announce_burst.get(), self.config.announce_per_minute.get());
            let bucket = self
                .buckets
                .entry(env.sender.clone())
                .or_insert_with(|| TokenBucket::full(now, burst));
            if !bucket.try_take(now, burst, rate) {
                return Err(GossipError::RateLimited(env.sender));
            }
        }
        Ok(self.foca.handle_data(env.payload, &mut self.rec)?)
    }

    /// Delivers every foca timer due at `now`. foca errors are counted in
    /// [`Counters::timer_errors`]; they do not stop the other timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            let due = self.timers.take_due(now);
            if due.is_empty() {
                break;
            }
            for timer in due {
                if self.foca.handle_timer(timer, &mut self.rec).is_err() {
                    self.counters.timer_errors += 1;
                }
            }
            self.flush(now);
        }
        if self.next_scan.is_none_or(|at| at <= now) {
            self.next_scan = Some(now + self.config.interval);
            self.scan(now);
        }
    }

    /// Reports new suspicions and forgets idle rate-limit buckets.
    fn scan(&mut self, now: Instant) {
        // Touch the metadata (a pointer away) only for suspects.
        for m in self.foca.iter_membership_state() {
            if m.state() == State::Suspect {
                if self.suspects.insert(m.id().info().site.clone()) {
                    self.events.push_back(MemberEvent::Suspect(m.id().shared()));
                }
            } else if !self.suspects.is_empty() {
                self.suspects.remove(&m.id().info().site);
            }
        }
        let (burst, rate) =
            (self.config.announce_burst.get(), self.config.announce_per_minute.get());
        self.buckets.retain(|_, b| !b.idle_since(now, burst, rate));
    }

    fn bump_counter(&mut self, generation: u32) {
        self.counter = self.counter.max(u64::from(generation) << 32);
    }

    fn flush(&mut self, now: Instant) {
        for (after, timer) in self.rec.timers.drain(..) {
            self.timers.push(now, after, timer);
        }
        let mut rejoined = false;
        for note in std::mem::take(&mut self.rec.notes) {
            let event = match note {
                OwnedNotification::MemberUp(id) => MemberEvent::Joined(id.into_shared()),
                OwnedNotification::MemberDown(id) => {
                    self.suspects.remove(&id.info().site);
                    MemberEvent::Down(id.into_shared())
                }
                OwnedNotification::Rename(_, new) => MemberEvent::Updated(new.into_shared()),
                OwnedNotification::Rejoin(id) => {
                    self.bump_counter(id.info().generation);
                    rejoined = true;
                    MemberEvent::Rejoined(id.into_shared())
                }
                _ => continue,
            };
            self.events.push_back(event);
        }
        if rejoined {
            self.start_over(now);
        }
        let me = self.foca.identity().info().site.clone();
        for (to, payload) in self.rec.sends.drain(..) {
            self.counter += 1;
            let bytes = auth::seal(&self.auth, &me, self.counter, &payload);
            self.counters.datagrams_out += 1;
            self.counters.bytes_out += bytes.len() as u64;
            self.transmits.push_back(Transmit { to: to.info().gossip, bytes });
        }
    }

    /// After the cluster declared us down and we rejoined: a fresh foca
    /// under the new identity, holding the same members in the same states
    /// (applied without gossiping them; the down ones still get foca's
    /// periodic announcements, which heal partitions) and announcing
    /// ourselves to every member we knew. The old instance is dropped with its backlog of updates: being
    /// declared down means we were cut off, and the verdicts we reached
    /// meanwhile (everyone unreachable was declared down, and foca holds
    /// those updates until it has someone to tell) are stale. Spread on our
    /// return, they took the cluster's healthy members down with us.
    fn start_over(&mut self, now: Instant) {
        let me = self.foca.identity().clone();
        let held: Vec<Member<MemberId>> = self
            .foca
            .iter_membership_state()
            .map(|m| {
                let id = m.id().clone();
                if m.state() == State::Down { Member::down(id) } else { Member::alive(id) }
            })
            .collect();
        let known: Vec<MemberId> = held.iter().map(|m| m.id().clone()).collect();
        let generation = u64::from(me.info().generation);
        self.foca = Foca::new(
            me,
            self.config.to_foca(),
            StdRng::seed_from_u64(self.seed ^ generation.rotate_left(32)),
            WireCodec,
        );
        // The old instance's timers and datagrams (its announcement of the
        // new identity carries the stale updates too).
        self.timers = TimerQueue::default();
        self.rec = Recorder::default();
        self.suspects.clear();
        self.counters.restarts += 1;
        // Only updates about ourselves are refused, and foca lists others.
        let _ = self.foca.apply_many(held.into_iter(), false, &mut self.rec);
        for id in known {
            // An announcement's reply is a feed of the receiver's members.
            let _ = self.foca.announce(id, &mut self.rec);
        }
        // Membership notes of the re-applied members: they never left.
        self.rec.notes.clear();
        for (after, timer) in self.rec.timers.drain(..) {
            self.timers.push(now, after, timer);
        }
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next membership change.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MemberEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Active members (alive or suspect), not including ourselves.
    pub fn members(&self) -> impl Iterator<Item = &MemberInfo> {
        self.foca.iter_members().map(|m| m.id().info())
    }

    /// Number of active members, not including ourselves.
    pub fn member_count(&self) -> usize {
        self.foca.num_members()
    }

    /// Totals so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The authenticator (read access, e.g. to ask which sites it admits).
    pub fn auth(&self) -> &A {
        &self.auth
    }

    /// The authenticator, to admit certificates or apply revocations while
    /// the membership runs.
    pub fn auth_mut(&mut self) -> &mut A {
        &mut self.auth
    }

    /// The configuration in force.
    pub fn config(&self) -> &MembershipConfig {
        &self.config
    }

    /// How long until a suspect is declared down under this configuration.
    pub fn suspicion_timeout(&self) -> Duration {
        self.config.suspicion_timeout()
    }
}
