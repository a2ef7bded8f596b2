//! The leader's side of mesh-wide reservations ([`super::super::te`]):
//! publishing the ledger when it changed, and the tick that ends expired
//! reservations and re-admits preempted ones.

use std::time::{Duration, Instant};

use weft_api::{Event, EventKind};
use weft_control::Fence;
use weft_etcd::{ControlStore, Txn, TxnOutcome};

use super::super::te;
use super::{LeaderLoop, unix_ms};

impl<S: ControlStore> LeaderLoop<S> {
    /// Publishes the reservation ledger when it changed.
    pub(super) fn publish_reservations(&mut self, fence: &Fence) {
        let timeout = self.timeout();
        let Ok(Some(kv)) = self.ctrl.store().get(te::DOC, timeout) else { return };
        let key = (fence.epoch.0, kv.mod_revision);
        if self.te_published == Some(key) {
            return;
        }
        let Some(p) = te::publication(fence.epoch.0, &kv) else {
            crate::log_warn!(Control, "the stored reservation ledger is unreadable; not published");
            self.te_published = Some(key);
            return;
        };
        if self.mesh.send(crate::mesh::ctl::MeshCtl::Publish(Box::new(p))).is_ok() {
            self.te_published = Some(key);
        }
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
