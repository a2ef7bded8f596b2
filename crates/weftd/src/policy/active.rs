//! The running policy as the data plane sees it: the compiled classifier, and
//! per peer and route profile the path the control loop chose, plus counters.
//!
//! It is swapped whole: the control loop builds a new one, publishes it, and
//! the send thread picks it up at its next batch (and forgets its pinned
//! flows, so every flow is classified again under the new rules).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use weft_path::Fallback;
use weft_policy::{Classification, CompiledPolicy};

use crate::agent::NO_PATH;

/// A compiled policy with the data plane's per-profile state.
#[derive(Debug)]
pub(crate) struct ActivePolicy {
    /// Stored version (0: the built-in policy, never stored).
    pub(crate) version: u64,
    /// The compiled policy.
    pub(crate) policy: CompiledPolicy,
    /// Its text.
    pub(crate) source: String,
    /// `[peer][profile]`: dense index of the current path, or [`NO_PATH`].
    pub(crate) primary: Vec<Box<[AtomicU32]>>,
    /// `[peer][profile]`: packets sent (the control loop marks profiles active).
    pub(crate) profile_tx: Vec<Box<[AtomicU64]>>,
    /// Per profile: when it has no eligible path, drop instead of borrowing
    /// another profile's path (strict-drop classes, excluded uplinks, metered avoidance).
    pub(crate) no_borrow: Box<[bool]>,
    /// Packets denied, per ACL (document index); the last slot is the default.
    pub(crate) denied: Box<[AtomicU64]>,
    /// Warnings it was accepted with.
    pub(crate) warnings: Vec<String>,
}

impl ActivePolicy {
    /// The data plane's view of `policy` for `peers` peers.
    pub(crate) fn new(
        version: u64,
        policy: CompiledPolicy,
        source: String,
        peers: usize,
        warnings: Vec<String>,
    ) -> Self {
        let n = policy.profiles.len();
        let slots = |v| (0..n).map(|_| AtomicU32::new(v)).collect::<Box<[_]>>();
        let no_borrow = policy
            .profiles
            .iter()
            .map(|p| {
                let strict = policy
                    .document
                    .classes
                    .get(&p.class)
                    .is_some_and(|c| c.fallback == Fallback::StrictDrop);
                // excluding an IPsec gateway (`ipsec:NAME`) leaves every
                // WireGuard path usable
                let excludes = p.exclude_uplinks.iter().any(|u| !u.starts_with("ipsec:"));
                strict || excludes || p.avoid_metered
            })
            .collect();
        let denied = (0..=policy.document.acls.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            version,
            source,
            primary: (0..peers).map(|_| slots(NO_PATH)).collect(),
            profile_tx: (0..peers).map(|_| (0..n).map(|_| AtomicU64::new(0)).collect()).collect(),
            no_borrow,
            denied,
            policy,
            warnings,
        }
    }

    /// Counts one denied packet against the rule that denied it.
    pub(crate) fn count_denied(&self, c: &Classification) {
        let slot = c.acl.map_or(self.denied.len() - 1, |i| i as usize);
        self.denied[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Denied packets by rule name (rules that denied nothing are left out).
    pub(crate) fn denied_by_rule(&self) -> Vec<(String, u64)> {
        let doc = &self.policy.document;
        self.denied
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let name = doc.acls.get(i).map_or("default", |a| a.name.as_str());
                (name.to_owned(), n.load(Ordering::Relaxed))
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The path for profile `profile` towards peer `peer`.
    ///
    /// When the profile has none: profiles that may not borrow get `None`
    /// (their flows are dropped: a strict class, or an uplink they must never
    /// use might be the only one left); others take another profile's path,
    /// and when no path of the peer is alive at all, `fallback` (the last path
    /// used or the first): every path failing at the same instant is more
    /// often a local stall than a real outage.
    pub(crate) fn path_for(
        &self,
        peer: usize,
        profile: usize,
        fallback: Option<u32>,
    ) -> Option<u32> {
        let slots = &self.primary[peer];
        let p = slots[profile].load(Ordering::Relaxed);
        if p != NO_PATH {
            return Some(p);
        }
        if self.no_borrow[profile] {
            return None;
        }
        let any = slots
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.no_borrow[*i])
            .map(|(_, a)| a.load(Ordering::Relaxed))
            .find(|p| *p != NO_PATH);
        any.or(fallback)
    }
}
