//! One controller's leader election, sans-IO.
//!
//! Drive it like this (the `weft-etcd` driver does, against etcd):
//!
//! ```text
//! loop {
//!     while let Some((id, request)) = election.poll_request(now) {
//!         let result = store.call(request, deadline = now + call_timeout);
//!         election.handle_response(now_after_the_call, id, result);
//!     }
//!     while let Some(event) = election.poll_event() { log / publish it }
//!     if let Some(fence) = election.fence(now) { leader work, every write fenced }
//!     sleep until election.poll_timeout()
//! }
//! ```
//!
//! One call is in flight at a time. The controller holds a lease at all
//! times (followers too, so a campaign costs one round trip); followers
//! campaign every `poll_every` with a transaction that creates the leader
//! key on their lease if it does not exist and otherwise reads it; the
//! winner's epoch is the key's create revision. A leader renews its lease
//! every `renew_every` and counts it valid until `sent + ttl − drift_margin`
//! of the last renewal that succeeded: past that instant [`Election::fence`]
//! returns `None` and the election steps down, before the store can have
//! let the lease (and the leader key with it) expire.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::fence::{Epoch, Fence};

/// A lease at the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeaseId(pub i64);

/// Ties a response to its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Timing and identity of one controller's election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionConfig {
    /// The leader key (`/weft/control/leader`).
    pub key: String,
    /// This controller's id, the leader key's value while it leads.
    pub id: String,
    /// Lease time to live.
    pub ttl: Duration,
    /// A leader renews its lease this often.
    pub renew_every: Duration,
    /// A failed call is retried after this long.
    pub retry_every: Duration,
    /// Followers look at (and campaign for) the leader key this often.
    pub poll_every: Duration,
    /// Deadline of every store call.
    pub call_timeout: Duration,
    /// Taken off a lease's validity for clock rate differences.
    pub drift_margin: Duration,
}

/// A configuration that breaks the timing rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    /// `renew_every + 2 × retry_every` exceeds the TTL.
    #[error(
        "renew period {renew:?} + 2 × retry {retry:?} exceeds the lease TTL {ttl:?}: two lost renewals would lose the lease"
    )]
    RenewTooSlow {
        /// Renew period.
        renew: Duration,
        /// Retry period.
        retry: Duration,
        /// TTL.
        ttl: Duration,
    },
    /// A call may take longer than the retry period.
    #[error("call timeout {timeout:?} exceeds the retry period {retry:?}")]
    TimeoutTooLong {
        /// Call timeout.
        timeout: Duration,
        /// Retry period.
        retry: Duration,
    },
    /// The margin leaves no validity after a renewal.
    #[error("drift margin {margin:?} must be below TTL {ttl:?} − renew period {renew:?}")]
    MarginTooLarge {
        /// Margin.
        margin: Duration,
        /// TTL.
        ttl: Duration,
        /// Renew period.
        renew: Duration,
    },
    /// Zero periods, empty key or id.
    #[error("{0}")]
    Invalid(&'static str),
}

impl ElectionConfig {
    /// Defaults that elect a new leader within about 2.5 s of the old one's
    /// death: TTL 2 s (etcd's minimum), renew every 500 ms, retry every
    /// 250 ms, poll every 200 ms, 250 ms call deadline, 100 ms drift margin.
    pub fn new(key: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            id: id.into(),
            ttl: Duration::from_secs(2),
            renew_every: Duration::from_millis(500),
            retry_every: Duration::from_millis(250),
            poll_every: Duration::from_millis(200),
            call_timeout: Duration::from_millis(250),
            drift_margin: Duration::from_millis(100),
        }
    }

    /// Checks the timing rule (see the crate documentation).
    pub fn validate(&self) -> Result<(), ElectionError> {
        if self.key.is_empty() || self.id.is_empty() {
            return Err(ElectionError::Invalid("the leader key and the controller id must be set"));
        }
        if [self.ttl, self.renew_every, self.retry_every, self.poll_every, self.call_timeout]
            .contains(&Duration::ZERO)
        {
            return Err(ElectionError::Invalid("election periods must be above zero"));
        }
        if self.renew_every + self.retry_every * 2 > self.ttl {
            return Err(ElectionError::RenewTooSlow {
                renew: self.renew_every,
                retry: self.retry_every,
                ttl: self.ttl,
            });
        }
        if self.call_timeout > self.retry_every {
            return Err(ElectionError::TimeoutTooLong {
                timeout: self.call_timeout,
                retry: self.retry_every,
            });
        }
        if self.drift_margin >= self.ttl.saturating_sub(self.renew_every) {
            return Err(ElectionError::MarginTooLarge {
                margin: self.drift_margin,
                ttl: self.ttl,
                renew: self.renew_every,
            });
        }
        Ok(())
    }
}

/// A call the driver makes to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Grant a lease with this TTL.
    Grant {
        /// Time to live.
        ttl: Duration,
    },
    /// Renew a lease.
    KeepAlive {
        /// The lease.
        lease: LeaseId,
    },
    /// In one transaction: if `key` does not exist, create it with `value`
    /// on `lease` ([`Response::Won`] with the create revision); otherwise
    /// read it ([`Response::Held`]).
    Campaign {
        /// The leader key.
        key: String,
        /// Our id.
        value: String,
        /// Our lease.
        lease: LeaseId,
    },
    /// Revoke a lease (and with it the leader key, if it is on it).
    Revoke {
        /// The lease.
        lease: LeaseId,
    },
}

/// What the store answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A lease was granted.
    Granted {
        /// Its id.
        lease: LeaseId,
        /// Its TTL.
        ttl: Duration,
    },
    /// The lease was renewed for `ttl` (zero: it no longer exists).
    KeptAlive {
        /// The TTL it was renewed for.
        ttl: Duration,
    },
    /// The leader key was created: we lead.
    Won {
        /// Its create revision.
        epoch: Epoch,
    },
    /// The leader key exists.
    Held {
        /// Its value (the leader's id).
        holder: String,
        /// Its create revision.
        epoch: Epoch,
        /// The lease it is attached to.
        lease: LeaseId,
    },
    /// The lease was revoked.
    Revoked,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer before the deadline (the store may still have applied it).
    #[error("no answer within the deadline")]
    Timeout,
    /// The store could not be reached or failed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refused the request (for example: the lease is gone).
    #[error("refused: {0}")]
    Refused(String),
}

/// What this controller is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not leading; the leader it last saw, if any.
    Follower {
        /// (leader id, epoch).
        leader: Option<(String, Epoch)>,
    },
    /// Leading in this epoch (check [`Election::fence`] before each write).
    Leader {
        /// The epoch.
        epoch: Epoch,
    },
}

/// What changed, for logs, metrics and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionEvent {
    /// We lead from now on.
    Elected {
        /// Our epoch.
        epoch: Epoch,
    },
    /// We stopped leading.
    SteppedDown {
        /// The epoch we led in.
        epoch: Epoch,
        /// Why.
        why: String,
    },
    /// Another controller leads (first seen, or a new epoch).
    LeaderSeen {
        /// Its id.
        holder: String,
        /// Its epoch.
        epoch: Epoch,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Grant,
    KeepAlive,
    Campaign,
    Revoke,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    id: LeaseId,
    /// Our conservative end of its validity: send time of the last
    /// successful grant or renewal + TTL − drift margin.
    valid_until: Instant,
}

/// One controller's election. See the module documentation.
#[derive(Debug)]
pub struct Election {
    cfg: ElectionConfig,
    lease: Option<Lease>,
    role: Role,
    in_flight: Option<(RequestId, Kind, Instant)>,
    next_id: u64,
    /// When to renew the lease next.
    next_renew: Option<Instant>,
    /// When followers campaign next.
    next_campaign: Instant,
    /// No new grant before this (after a failure).
    grant_after: Instant,
    resigning: Option<LeaseId>,
    stopped: bool,
    events: VecDeque<ElectionEvent>,
    /// When we last became leader, and last stepped down (observability).
    last_change: Option<Instant>,
}

impl Election {
    /// An election that starts (grants a lease, campaigns) at `now`.
    pub fn new(now: Instant, cfg: ElectionConfig) -> Result<Self, ElectionError> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            lease: None,
            role: Role::Follower { leader: None },
            in_flight: None,
            next_id: 0,
            next_renew: None,
            next_campaign: now,
            grant_after: now,
            resigning: None,
            stopped: false,
            events: VecDeque::new(),
            last_change: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ElectionConfig {
        &self.cfg
    }

    /// What we are now.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// When the role last changed.
    pub fn last_change(&self) -> Option<Instant> {
        self.last_change
    }

    /// Until when our lease is surely valid, if we hold one.
    pub fn lease_valid_until(&self) -> Option<Instant> {
        self.lease.map(|l| l.valid_until)
    }

    /// Whether we lead and may write at `now`.
    pub fn is_leader(&self, now: Instant) -> bool {
        self.fence(now).is_some()
    }

    /// The fence for a write at `now`: `Some` only while we lead and our
    /// lease is surely valid. Check it right before each write.
    pub fn fence(&self, now: Instant) -> Option<Fence> {
        match (&self.role, self.lease) {
            (Role::Leader { epoch }, Some(l)) if now < l.valid_until => {
                Some(Fence { key: self.cfg.key.clone(), epoch: *epoch })
            }
            _ => None,
        }
    }

    /// A fenced write failed its comparison: someone else leads. Step down.
    pub fn handle_fence_failed(&mut self, now: Instant, epoch: Epoch) {
        if self.role == (Role::Leader { epoch }) {
            self.step_down(now, "a fenced write found another leader's key");
            self.next_campaign = now;
        }
    }

    /// Steps down (if leading) and revokes the lease, so another controller
    /// takes over at its next poll instead of after the TTL. The election
    /// makes no further requests after the revocation.
    pub fn resign(&mut self, now: Instant) {
        self.step_down(now, "resigned");
        self.stopped = true;
        self.resigning = self.lease.take().map(|l| l.id);
    }

    /// The next call to make, if one is due at `now`.
    pub fn poll_request(&mut self, now: Instant) -> Option<(RequestId, Request)> {
        if self.in_flight.is_some() {
            return None;
        }
        self.expire(now);
        if let Some(lease) = self.resigning.take() {
            return Some(self.send(now, Kind::Revoke, Request::Revoke { lease }));
        }
        if self.stopped {
            return None;
        }
        let Some(lease) = self.lease else {
            if now < self.grant_after {
                return None;
            }
            return Some(self.send(now, Kind::Grant, Request::Grant { ttl: self.cfg.ttl }));
        };
        if self.next_renew.is_some_and(|at| now >= at) {
            return Some(self.send(now, Kind::KeepAlive, Request::KeepAlive { lease: lease.id }));
        }
        if matches!(self.role, Role::Follower { .. }) && now >= self.next_campaign {
            let request = Request::Campaign {
                key: self.cfg.key.clone(),
                value: self.cfg.id.clone(),
                lease: lease.id,
            };
            return Some(self.send(now, Kind::Campaign, request));
        }
        None
    }

    fn send(&mut self, now: Instant, kind: Kind, request: Request) -> (RequestId, Request) {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        self.in_flight = Some((id, kind, now));
        (id, request)
    }

    /// The result of request `id`, at `now` (when the answer or the
    /// deadline came).
    pub fn handle_response(
        &mut self,
        now: Instant,
        id: RequestId,
        result: Result<Response, CallError>,
    ) {
        let Some((want, kind, sent)) = self.in_flight else { return };
        if want != id {
            return;
        }
        self.in_flight = None;
        let retry = now + self.cfg.retry_every;
        match (kind, result) {
            (Kind::Grant, Ok(Response::Granted { lease, ttl })) => {
                self.lease = Some(Lease { id: lease, valid_until: self.valid_from(sent, ttl) });
                self.next_renew = Some(sent + self.cfg.renew_every);
                self.next_campaign = now;
            }
            (Kind::Grant, _) => self.grant_after = retry,
            (Kind::KeepAlive, Ok(Response::KeptAlive { ttl })) if ttl > Duration::ZERO => {
                if let Some(l) = &mut self.lease {
                    l.valid_until =
                        l.valid_until.max(sent + ttl.saturating_sub(self.cfg.drift_margin));
                }
                self.next_renew = Some(sent + self.cfg.renew_every);
            }
            (Kind::KeepAlive, Ok(Response::KeptAlive { .. }) | Err(CallError::Refused(_))) => {
                self.lose_lease(now, "the lease no longer exists at the store");
            }
            (Kind::KeepAlive, _) => self.next_renew = Some(retry),
            (Kind::Campaign, Ok(Response::Won { epoch })) => self.elected(now, epoch),
            (Kind::Campaign, Ok(Response::Held { holder, epoch, lease })) => {
                if self.lease.is_some_and(|l| l.id == lease) {
                    // Our own earlier campaign won; its answer was lost.
                    self.elected(now, epoch);
                } else {
                    self.follow(holder, epoch);
                    self.next_campaign = now + self.cfg.poll_every;
                }
            }
            (Kind::Campaign, Err(CallError::Refused(_))) => {
                self.lose_lease(now, "the store refused our lease");
            }
            (Kind::Campaign, _) => self.next_campaign = retry,
            (Kind::Revoke, _) => {}
        }
    }

    /// Events since the last call.
    pub fn poll_event(&mut self) -> Option<ElectionEvent> {
        self.events.pop_front()
    }

    /// When [`poll_request`](Self::poll_request) has something to do next
    /// (or, for a leader, when its lease stops being surely valid).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            return self.lease.map(|l| l.valid_until);
        }
        if self.resigning.is_some() {
            return Some(self.grant_after.min(self.next_campaign));
        }
        if self.stopped {
            return None;
        }
        let Some(lease) = self.lease else { return Some(self.grant_after) };
        let mut at = lease.valid_until;
        if let Some(r) = self.next_renew {
            at = at.min(r);
        }
        if matches!(self.role, Role::Follower { .. }) {
            at = at.min(self.next_campaign);
        }
        Some(at)
    }

    fn valid_from(&self, sent: Instant, ttl: Duration) -> Instant {
        sent + ttl.saturating_sub(self.cfg.drift_margin)
    }

    /// Our lease's validity ran out: we no longer lead, and need a new one.
    fn expire(&mut self, now: Instant) {
        if self.lease.is_some_and(|l| now >= l.valid_until) {
            self.lose_lease(now, "the lease could have expired at the store");
        }
    }

    fn lose_lease(&mut self, now: Instant, why: &str) {
        self.step_down(now, why);
        self.lease = None;
        self.next_renew = None;
        self.grant_after = now;
    }

    fn elected(&mut self, now: Instant, epoch: Epoch) {
        if self.role != (Role::Leader { epoch }) {
            self.role = Role::Leader { epoch };
            self.last_change = Some(now);
            self.events.push_back(ElectionEvent::Elected { epoch });
        }
    }

    fn follow(&mut self, holder: String, epoch: Epoch) {
        let Role::Follower { leader } = &mut self.role else { return };
        if leader.as_ref().is_none_or(|(h, e)| *h != holder || *e != epoch) {
            *leader = Some((holder.clone(), epoch));
            self.events.push_back(ElectionEvent::LeaderSeen { holder, epoch });
        }
    }

    fn step_down(&mut self, now: Instant, why: &str) {
        if let Role::Leader { epoch } = self.role {
            self.role = Role::Follower { leader: None };
            self.last_change = Some(now);
            self.events.push_back(ElectionEvent::SteppedDown { epoch, why: why.to_owned() });
        }
    }
}

#[cfg(test)]
#[path = "election_tests.rs"]
mod tests;
