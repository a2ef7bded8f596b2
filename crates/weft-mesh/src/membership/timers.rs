//! foca asks for timer events *after a duration*; [`TimerQueue`] turns them
//! into deadlines so `poll_timeout` can report the earliest one.
//!
//! Due timers are handed back sorted by deadline and, within one deadline, by
//! foca's own `Ord` on `Timer` (which foca provides to correct out-of-order
//! delivery). Stale timers (those armed before foca changed identity or reset)
//! are still delivered: foca carries a token in each and ignores the ones that
//! no longer match, which is the documented contract, so the queue never has
//! to guess which are stale.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use foca::Timer;

use super::info::MemberId;

/// Pending foca timers keyed by (deadline, arrival order).
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    pending: BTreeMap<(Instant, u64), Timer<MemberId>>,
    next_seq: u64,
}

impl TimerQueue {
    pub(crate) fn push(&mut self, now: Instant, after: Duration, timer: Timer<MemberId>) {
        self.pending.insert((now + after, self.next_seq), timer);
        self.next_seq += 1;
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.pending.first_key_value().map(|((at, _), _)| *at)
    }

    /// Removes and returns every timer due at `now`, in delivery order.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Timer<MemberId>> {
        let mut due = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((at, _), timer) = entry.remove_entry();
            due.push((at, timer));
        }
        // Stable: equal (deadline, kind) keep arrival order.
        due.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        due.into_iter().map(|(_, t)| t).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}
