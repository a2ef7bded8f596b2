//! A model of etcd as elections and fenced writes see it (feature `sim`),
//! for tests and the fabric simulator. Deterministic and clock-free: every
//! call says when it reaches the store.
//!
//! What it models: a lease expires `ttl` after its grant or last renewal
//! *arrived* (not when it was sent); the leader key goes with its lease;
//! revisions only grow, so a new leader key always has a higher create
//! revision (its epoch); a fenced write applies only if the leader key's
//! create revision equals the fence's epoch. Not modelled: quorum loss,
//! watches, compaction.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::election::{CallError, LeaseId, Request, Response};
use crate::fence::{Epoch, Fence};

/// A live lease: its TTL and when it expires.
#[derive(Debug, Clone, Copy)]
struct ModelLease {
    ttl: Duration,
    until: Instant,
}

/// The leader key: (value, create revision, lease).
#[derive(Debug, Clone)]
struct LeaderKey {
    holder: String,
    created: u64,
    lease: i64,
}

/// etcd, as far as elections and fenced writes see it. See the module
/// documentation.
#[derive(Debug, Default)]
pub struct ModelStore {
    revision: u64,
    next_lease: i64,
    leases: BTreeMap<i64, ModelLease>,
    leader: Option<LeaderKey>,
    writes: Vec<(Epoch, String)>,
}

impl ModelStore {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops the leases whose TTL ran out by `now`, and the leader key if
    /// its lease went (a delete: the revision grows).
    pub fn expire(&mut self, now: Instant) {
        self.leases.retain(|_, l| l.until > now);
        if self.leader.as_ref().is_some_and(|k| !self.leases.contains_key(&k.lease)) {
            self.leader = None;
            self.revision += 1;
        }
    }

    /// Applies `request` as it reaches the store at `at`.
    pub fn apply(&mut self, at: Instant, request: &Request) -> Result<Response, CallError> {
        self.expire(at);
        match request {
            Request::Grant { ttl } => {
                self.next_lease += 1;
                self.leases.insert(self.next_lease, ModelLease { ttl: *ttl, until: at + *ttl });
                Ok(Response::Granted { lease: LeaseId(self.next_lease), ttl: *ttl })
            }
            Request::KeepAlive { lease } => match self.leases.get_mut(&lease.0) {
                Some(l) => {
                    l.until = at + l.ttl;
                    Ok(Response::KeptAlive { ttl: l.ttl })
                }
                None => Ok(Response::KeptAlive { ttl: Duration::ZERO }),
            },
            Request::Campaign { value, lease, .. } => {
                if !self.leases.contains_key(&lease.0) {
                    return Err(CallError::Refused("lease not found".into()));
                }
                if let Some(k) = &self.leader {
                    return Ok(Response::Held {
                        holder: k.holder.clone(),
                        epoch: Epoch(k.created),
                        lease: LeaseId(k.lease),
                    });
                }
                self.revision += 1;
                self.leader = Some(LeaderKey {
                    holder: value.clone(),
                    created: self.revision,
                    lease: lease.0,
                });
                Ok(Response::Won { epoch: Epoch(self.revision) })
            }
            Request::Revoke { lease } => {
                self.leases.remove(&lease.0);
                self.expire(at);
                Ok(Response::Revoked)
            }
        }
    }

    /// A fenced write reaching the store at `at`: applied (and recorded)
    /// only if the leader key exists with create revision `fence.epoch`.
    pub fn fenced_write(&mut self, at: Instant, fence: &Fence, writer: &str) -> bool {
        self.expire(at);
        let ok = self.leader.as_ref().is_some_and(|k| k.created == fence.epoch.0);
        if ok {
            self.writes.push((fence.epoch, writer.to_owned()));
        }
        ok
    }

    /// The leader key's holder and epoch, if the key exists.
    pub fn holder(&self) -> Option<(String, Epoch)> {
        self.leader.as_ref().map(|k| (k.holder.clone(), Epoch(k.created)))
    }

    /// The fenced writes applied so far, in order: (epoch, writer).
    pub fn writes(&self) -> &[(Epoch, String)] {
        &self.writes
    }
}

#[cfg(test)]
mod tests {
    use weft_types::virtual_origin;

    use super::*;

    #[test]
    fn a_lease_lives_its_requested_ttl_from_each_renewal_s_arrival() {
        let t0 = virtual_origin();
        let mut store = ModelStore::new();
        let ttl = Duration::from_secs(5);
        let Ok(Response::Granted { lease, ttl: got }) = store.apply(t0, &Request::Grant { ttl })
        else {
            panic!("no grant")
        };
        assert_eq!(got, ttl);
        let at = t0 + Duration::from_secs(4);
        assert_eq!(store.apply(at, &Request::KeepAlive { lease }), Ok(Response::KeptAlive { ttl }));
        let campaign = Request::Campaign { key: "k".into(), value: "c0".into(), lease };
        assert_eq!(
            store.apply(at + Duration::from_millis(4900), &campaign),
            Ok(Response::Won { epoch: Epoch(1) })
        );
        store.expire(at + ttl);
        assert_eq!(store.holder(), None);
        let fence = Fence { key: "k".into(), epoch: Epoch(1) };
        assert!(!store.fenced_write(at + ttl, &fence, "c0"));
        assert!(store.writes().is_empty());
    }
}
