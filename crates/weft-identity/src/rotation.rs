//! When each SVID is renewed: a sans-IO schedule over wall time in Unix
//! seconds (passed in). An SVID is renewed once `renew_fraction` of its life
//! has passed (half, by default), so a renewal that fails has the other half
//! to be retried before anything expires; established connections keep the
//! certificate they were made with and are never dropped by a renewal.
//!
//! Drive it: [`Schedule::handle_issued`] after every issue,
//! [`Schedule::poll_due`] at or after [`Schedule::poll_timeout`], and
//! [`Schedule::revoke`] to stop renewing an identity (its current SVID then
//! runs out within one TTL, and the proxies refuse it at once).

use std::collections::{BTreeMap, BTreeSet};

use weft_types::SpiffeId;

use crate::x509::Validity;

/// How long SVIDs live and when they are renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Lifetime of each SVID, seconds.
    pub ttl_secs: u64,
    /// Renew after this many parts per thousand of the lifetime (500: half).
    pub renew_permille: u16,
}

impl Default for RotationPolicy {
    /// One-hour SVIDs renewed at half life.
    fn default() -> Self {
        Self { ttl_secs: 3600, renew_permille: 500 }
    }
}

impl RotationPolicy {
    /// When an SVID valid for `v` is due for renewal.
    pub fn renew_at(&self, v: Validity) -> u64 {
        let life = v.not_after.saturating_sub(v.not_before);
        v.not_before + life * u64::from(self.renew_permille.min(1000)) / 1000
    }
}

/// The renewal schedule of the identities one issuer serves.
#[derive(Debug, Default)]
pub struct Schedule {
    policy: RotationPolicy,
    due: BTreeMap<SpiffeId, u64>,
    revoked: BTreeSet<SpiffeId>,
}

impl Schedule {
    /// An empty schedule under `policy`.
    pub fn new(policy: RotationPolicy) -> Self {
        Self { policy, ..Self::default() }
    }

    /// The policy.
    pub fn policy(&self) -> RotationPolicy {
        self.policy
    }

    /// Records that an SVID for `id` valid for `v` was issued. Ignored for a
    /// revoked identity (it is never scheduled again).
    pub fn handle_issued(&mut self, id: &SpiffeId, v: Validity) {
        if !self.revoked.contains(id) {
            self.due.insert(id.clone(), self.policy.renew_at(v));
        }
    }

    /// Stops renewing `id`. Returns whether it was not revoked already.
    pub fn revoke(&mut self, id: &SpiffeId) -> bool {
        self.due.remove(id);
        self.revoked.insert(id.clone())
    }

    /// Whether `id` is revoked.
    pub fn is_revoked(&self, id: &SpiffeId) -> bool {
        self.revoked.contains(id)
    }

    /// The revoked identities.
    pub fn revoked(&self) -> impl Iterator<Item = &SpiffeId> {
        self.revoked.iter()
    }

    /// The earliest renewal deadline, if any identity is scheduled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        self.due.values().min().copied()
    }

    /// The identities due for renewal at `now`. Each is taken off the
    /// schedule until its new SVID is reported through `handle_issued`.
    #[must_use]
    pub fn poll_due(&mut self, now: u64) -> Vec<SpiffeId> {
        let due: Vec<SpiffeId> =
            self.due.iter().filter(|(_, t)| **t <= now).map(|(id, _)| id.clone()).collect();
        for id in &due {
            self.due.remove(id);
        }
        due
    }
}
