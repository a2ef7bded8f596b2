//! The leader's side of two mesh-wide documents: reservations
//! ([`super::super::te`]: publishing the ledger when it changed, and the
//! tick that ends expired reservations and re-admits preempted ones) and
//! connection profiles' clients ([`super::super::clients`]: publishing).

use std::time::{Duration, Instant};

use weft_api::{Event, EventKind};
use weft_control::Fence;
use weft_etcd::{ControlStore, Txn, TxnOutcome};

use super::super::te;
use super::{LeaderLoop, unix_ms};

impl<S: ControlStore> LeaderLoop<S> {
    /// Publishes the one-record document at `key` when its revision (or
    /// the epoch) moved past `last`; what was published last after this.
    fn publish_doc(
        &mut self,
        fence: &Fence,
        key: &str,
        last: Option<(u64, u64)>,
        make: fn(u64, &weft_etcd::Kv) -> Option<super::Publication>,
    ) -> Option<(u64, u64)> {
        let timeout = self.timeout();
        let Ok(Some(kv)) = self.ctrl.store().get(key, timeout) else { return last };
        let now = (fence.epoch.0, kv.mod_revision);
        if last == Some(now) {
            return last;
        }
        let Some(p) = make(fence.epoch.0, &kv) else {
            crate::log_warn!(Control, "the stored {key} is unreadable; not published");
            return Some(now);
        };
        if self.mesh.send(crate::mesh::ctl::MeshCtl::Publish(Box::new(p))).is_ok() {
            return Some(now);
        }
        last
    }

    /// Publishes the reservation ledger when it changed.
    pub(super) fn publish_reservations(&mut self, fence: &Fence) {
        self.te_published = self.publish_doc(fence, te::DOC, self.te_published, te::publication);
    }

    /// Publishes the client record when it changed.
    pub(super) fn publish_clients(&mut self, fence: &Fence) {
        self.clients_published = self.publish_doc(
            fence,
            super::super::clients::DOC,
            self.clients_published,
            super::super::clients::publication,
        );
    }

    /// Once a second while leading: expired reservations end, preempted
    /// ones that fit again come back, in one fenced transaction audited as
    /// the leader's.
    pub(super) fn tick_reservations(&mut self, fence: &Fence) {
        let now = Instant::now();
        if now < self.next_te {
            return;
        }
        self.next_te = now + Duration::from_secs(1);
        let timeout = self.timeout();
        let Ok(kv) = self.ctrl.store().get(te::DOC, timeout) else { return };
        let caps = te::Capacities::from_views(&self.links.views(), self.reservable);
        let actor = format!("leader {}", self.view.id);
        let Some((planned, said)) =
            te::plan_tick(fence.epoch.0, unix_ms(), &actor, &caps, kv.as_ref())
        else {
            return;
        };
        let txn = Txn { compares: planned.compares, puts: planned.puts, deletes: planned.deletes };
        if let Some(TxnOutcome::Applied(_)) = self.fenced(fence, &txn) {
            for line in said {
                let _ = self.events.send(Event::new(EventKind::ReservationChanged, line));
            }
            self.publish_reservations(fence);
        }
    }
}
