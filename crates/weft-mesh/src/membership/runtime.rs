//! The foca `Runtime` we hand in: it only records what foca asked for; the
//! membership drains it right after each call.

use std::time::Duration;

use foca::{Notification, OwnedNotification, Runtime, Timer};

use super::info::MemberId;

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) sends: Vec<(MemberId, Vec<u8>)>,
    pub(crate) timers: Vec<(Duration, Timer<MemberId>)>,
    pub(crate) notes: Vec<OwnedNotification<MemberId>>,
}

impl Runtime<MemberId> for Recorder {
    fn notify(&mut self, notification: Notification<'_, MemberId>) {
        self.notes.push(notification.to_owned());
    }

    fn send_to(&mut self, to: MemberId, data: &[u8]) {
        self.sends.push((to, data.to_vec()));
    }

    fn submit_after(&mut self, event: Timer<MemberId>, after: Duration) {
        self.timers.push((after, event));
    }
}
