//! Admission control for bandwidth reservations, with preemption.
//!
//! A site reserves bandwidth toward another site on one of its uplinks. A
//! new reservation goes on the lowest-latency usable path whose uplink has
//! enough capacity left (the *constrained path*: enough residual bandwidth,
//! then lowest latency). When no path has room, lower-priority reservations
//! on one path may be preempted to make it (the fewest and lowest first);
//! each preempted one is moved to another path with room if there is one,
//! else it is held down until room returns. When nothing works the request
//! is refused with the figures that show why.
//!
//! Pure: the caller passes the uplinks' reservable capacity, the paths to
//! the destination (with their latency) and the reservations in force.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// A reservation that holds bandwidth on an uplink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    /// Its id.
    pub id: String,
    /// The site it reserves toward.
    pub to: String,
    /// Bits per second.
    pub rate_bps: u64,
    /// Higher preempts lower.
    pub priority: u8,
    /// The uplink it holds.
    pub uplink: String,
}

/// A reservation asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its id.
    pub id: String,
    /// The site it reserves toward.
    pub to: String,
    /// Bits per second.
    pub rate_bps: u64,
    /// Higher preempts lower.
    pub priority: u8,
}

/// A path to a destination as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The local uplink it leaves by.
    pub uplink: String,
    /// Its smoothed round-trip time, if measured.
    pub rtt: Option<Duration>,
    /// Whether it is up (a down path is never chosen).
    pub usable: bool,
}

/// A reservation moved (or not) to make room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// The preempted reservation.
    pub id: String,
    /// The uplink it moved to; `None`: held down until room returns.
    pub to_uplink: Option<String>,
}

/// The outcome of an admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Admitted on `uplink`, after preempting `preempted` (maybe none).
    Admitted {
        /// The uplink it holds.
        uplink: String,
        /// Reservations preempted to make room, and where they went.
        preempted: Vec<Moved>,
    },
    /// Refused; `reason` says what was free and why that was not enough.
    Refused {
        /// One sentence with the figures.
        reason: String,
    },
}

/// The reservable capacity of a site's uplinks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// Uplink name → bits per second reservations may take on it.
    pub reservable: BTreeMap<String, u64>,
}

/// `N Mbit/s` with one decimal.
pub fn mbit(bps: u64) -> String {
    format!("{:.1} Mbit/s", bps as f64 / 1e6)
}

impl Admission {
    /// What reservations `held` leave free on `uplink`.
    pub fn free_on(&self, uplink: &str, held: &[Held]) -> u64 {
        let cap = self.reservable.get(uplink).copied().unwrap_or(0);
        let used: u64 = held.iter().filter(|h| h.uplink == uplink).map(|h| h.rate_bps).sum();
        cap.saturating_sub(used)
    }

    /// The usable candidates with a known capacity, lowest latency first
    /// (unmeasured last).
    fn ordered<'a>(&self, candidates: &'a [Candidate]) -> Vec<&'a Candidate> {
        let mut c: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| c.usable && self.reservable.contains_key(&c.uplink))
            .collect();
        c.sort_by_key(|c| (c.rtt.is_none(), c.rtt));
        c.dedup_by(|a, b| a.uplink == b.uplink);
        c
    }

    /// Decides `request` given the reservations `held` (not including it)
    /// and the paths to its destination. `paths_to` gives the candidates
    /// toward any site (used to move preempted reservations).
    pub fn admit(
        &self,
        request: &Request,
        held: &[Held],
        paths_to: &dyn Fn(&str) -> Vec<Candidate>,
    ) -> Decision {
        let candidates = paths_to(&request.to);
        let ordered = self.ordered(&candidates);
        if ordered.is_empty() {
            return Decision::Refused {
                reason: format!(
                    "no usable path to {} leaves by an uplink with a known capacity",
                    request.to
                ),
            };
        }
        for c in &ordered {
            if self.free_on(&c.uplink, held) >= request.rate_bps {
                return Decision::Admitted { uplink: c.uplink.clone(), preempted: Vec::new() };
            }
        }
        for c in &ordered {
            if let Some(victims) = self.victims_on(&c.uplink, request, held) {
                let preempted = self.relocate(&victims, &c.uplink, request, held, paths_to);
                return Decision::Admitted { uplink: c.uplink.clone(), preempted };
            }
        }
        let free: Vec<String> = ordered
            .iter()
            .map(|c| format!("{} {}", c.uplink, mbit(self.free_on(&c.uplink, held))))
            .collect();
        let preempting = if request.priority == 0 {
            "and at priority 0 it preempts nothing".to_owned()
        } else {
            format!(
                "and preempting every reservation below priority {} on one uplink would not make room",
                request.priority
            )
        };
        Decision::Refused {
            reason: format!(
                "{} to {} does not fit: free {}, {preempting}",
                mbit(request.rate_bps),
                request.to,
                free.join(", "),
            ),
        }
    }

    /// The fewest lowest-priority reservations on `uplink` whose removal
    /// makes room for `request`, if that is possible.
    fn victims_on(&self, uplink: &str, request: &Request, held: &[Held]) -> Option<Vec<Held>> {
        let mut lower: Vec<&Held> =
            held.iter().filter(|h| h.uplink == uplink && h.priority < request.priority).collect();
        // Lowest priority first; among equals the biggest first (fewest moved).
        lower.sort_by_key(|h| (h.priority, std::cmp::Reverse(h.rate_bps)));
        let mut free = self.free_on(uplink, held);
        let mut victims = Vec::new();
        for h in lower {
            if free >= request.rate_bps {
                break;
            }
            free += h.rate_bps;
            victims.push(h.clone());
        }
        (free >= request.rate_bps).then_some(victims)
    }

    /// Moves each victim to another uplink with room once `request` holds
    /// `uplink`, highest priority first, without preempting anything else.
    fn relocate(
        &self,
        victims: &[Held],
        uplink: &str,
        request: &Request,
        held: &[Held],
        paths_to: &dyn Fn(&str) -> Vec<Candidate>,
    ) -> Vec<Moved> {
        let mut after: Vec<Held> =
            held.iter().filter(|h| !victims.iter().any(|v| v.id == h.id)).cloned().collect();
        after.push(Held {
            id: request.id.clone(),
            to: request.to.clone(),
            rate_bps: request.rate_bps,
            priority: request.priority,
            uplink: uplink.to_owned(),
        });
        let mut order: Vec<&Held> = victims.iter().collect();
        order.sort_by_key(|v| std::cmp::Reverse(v.priority));
        let mut moved = Vec::new();
        for v in order {
            let candidates = paths_to(&v.to);
            let to = self
                .ordered(&candidates)
                .into_iter()
                .find(|c| c.uplink != uplink && self.free_on(&c.uplink, &after) >= v.rate_bps)
                .map(|c| c.uplink.clone());
            if let Some(u) = &to {
                after.push(Held { uplink: u.clone(), ..v.clone() });
            }
            moved.push(Moved { id: v.id.clone(), to_uplink: to });
        }
        moved
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
