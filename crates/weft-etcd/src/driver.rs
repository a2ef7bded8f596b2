//! [`Controller`]: drives a `weft-control` [`Election`] against a
//! [`ControlStore`] (etcd, or SQLite for a single controller).

use std::time::{Duration, Instant};

use weft_control::{Election, ElectionConfig, ElectionError, ElectionEvent, Fence};

use crate::api::ControlStore;
use crate::store::EtcdStore;

/// One controller: its election and its store. Call [`Controller::turn`]
/// in a loop; between turns sleep for what it returns.
#[derive(Debug)]
pub struct Controller<S: ControlStore = EtcdStore> {
    election: Election,
    store: S,
}

impl<S: ControlStore> Controller<S> {
    /// A controller that starts campaigning now.
    pub fn new(cfg: ElectionConfig, store: S) -> Result<Self, ElectionError> {
        Ok(Self { election: Election::new(Instant::now(), cfg)?, store })
    }

    /// The election, to read its role and fence.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// The store, for leader work (fenced writes) and reads.
    pub fn store(&mut self) -> &mut S {
        &mut self.store
    }

    /// Makes the calls the election wants now (each with its deadline; once
    /// a call timeout's worth of time has gone, the rest wait for the next
    /// turn), hands `on_event` what changed, and returns how long to sleep
    /// at most before the next turn.
    pub fn turn(&mut self, mut on_event: impl FnMut(&ElectionEvent)) -> Duration {
        let timeout = self.election.config().call_timeout;
        let started = Instant::now();
        while let Some((id, request)) = self.election.poll_request(Instant::now()) {
            let result = self.store.call(&request, timeout);
            self.election.handle_response(Instant::now(), id, result);
            // With the store cut off every call takes its whole timeout,
            // by which time the retry is due again: without this bound the
            // loop would never end, and the caller would never see the
            // events (a step-down) nor publish that it no longer leads.
            if started.elapsed() >= timeout {
                break;
            }
        }
        while let Some(e) = self.election.poll_event() {
            on_event(&e);
        }
        let now = Instant::now();
        self.election
            .poll_timeout()
            .map_or(Duration::from_millis(50), |at| at.saturating_duration_since(now))
            .min(Duration::from_millis(50))
    }

    /// The fence for a write now, if we lead.
    pub fn fence(&self) -> Option<Fence> {
        self.election.fence(Instant::now())
    }

    /// A fenced write failed its comparison: step down.
    pub fn fenced_out(&mut self, fence: &Fence) {
        self.election.handle_fence_failed(Instant::now(), fence.epoch);
    }

    /// Resigns: the lease is revoked, so another controller leads at its
    /// next poll.
    pub fn resign(&mut self, on_event: impl FnMut(&ElectionEvent)) {
        self.election.resign(Instant::now());
        self.turn(on_event);
    }
}
