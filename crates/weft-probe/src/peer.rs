//! Per-peer probe state: the send counter and the replay window.

use crate::{
    KeyId, ProbeError, ProbeFields, ProbeKey, ProbeKind, ProbeMessage, ReplayVerdict, ReplayWindow,
    encode, open,
};

/// Everything one site keeps to exchange probes with one peer: the shared
/// key, the counter for the messages it sends, and the replay window for the
/// messages it receives.
///
/// One per peer (not per path): the counter and window span all paths, so a
/// probe captured on one path cannot be replayed on another.
#[derive(Debug, Clone)]
pub struct PeerProbeState {
    key: ProbeKey,
    next_counter: u64,
    window: ReplayWindow,
}

impl PeerProbeState {
    /// State for the peer of `key`, whose first message will carry
    /// `first_counter`.
    ///
    /// The peer's replay window survives our restart, so counters must keep
    /// growing across restarts: pass a value that does, such as the current
    /// Unix time in microseconds (the caller reads the clock; this type
    /// never does).
    pub fn new(key: ProbeKey, first_counter: u64) -> Self {
        Self { key, next_counter: first_counter, window: ReplayWindow::new() }
    }

    /// The key shared with this peer.
    pub fn key(&self) -> &ProbeKey {
        &self.key
    }

    /// The peer's key id, as found by [`peek_key_id`](crate::peek_key_id).
    pub fn peer_key_id(&self) -> KeyId {
        self.key.peer_key_id()
    }

    /// The counter the next message sent will carry.
    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    /// Writes a probe with the next counter; returns its length.
    pub fn seal_probe(
        &mut self,
        fields: &ProbeFields,
        out: &mut [u8],
    ) -> Result<usize, ProbeError> {
        self.seal(ProbeKind::Probe, fields, out)
    }

    /// Writes the echo of `probe` with the next counter; returns its length.
    pub fn seal_echo(&mut self, probe: &ProbeFields, out: &mut [u8]) -> Result<usize, ProbeError> {
        self.seal(ProbeKind::Echo, probe, out)
    }

    fn seal(
        &mut self,
        kind: ProbeKind,
        fields: &ProbeFields,
        out: &mut [u8],
    ) -> Result<usize, ProbeError> {
        let counter = self.next_counter;
        let next = counter.checked_add(1).ok_or(ProbeError::CounterExhausted)?;
        let n = encode(&self.key, kind, counter, fields, out)?;
        self.next_counter = next;
        Ok(n)
    }

    /// Opens a datagram from this peer and refuses replays.
    ///
    /// The replay window is updated only after the MAC verified, so forged
    /// datagrams change no state.
    pub fn open_checked(&mut self, datagram: &[u8]) -> Result<ProbeMessage, ProbeError> {
        self.open_checked_at(datagram, u64::MAX)
    }

    /// Like [`open_checked`](Self::open_checked), and also refuses counters more
    /// than [`MAX_COUNTER_LEAD_US`] ahead of `now_unix_us` (the receiver's Unix
    /// time in microseconds), so a peer whose clock once ran far ahead cannot
    /// lock out its own later probes.
    pub fn open_checked_at(
        &mut self,
        datagram: &[u8],
        now_unix_us: u64,
    ) -> Result<ProbeMessage, ProbeError> {
        let message = open(&self.key, datagram)?;
        if message.counter > now_unix_us.saturating_add(MAX_COUNTER_LEAD_US) {
            return Err(ProbeError::FromTheFuture(message.counter));
        }
        match self.window.accept(message.counter) {
            ReplayVerdict::Fresh => Ok(message),
            ReplayVerdict::Duplicate => Err(ProbeError::Replayed(message.counter)),
            ReplayVerdict::TooOld => Err(ProbeError::TooOld(message.counter)),
        }
    }
}

/// How far ahead of the receiver's clock a probe counter may be: one hour
/// (sites' clocks are NTP-synchronised to far better than that).
pub const MAX_COUNTER_LEAD_US: u64 = 3_600_000_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE_LEN, tests_support::pair};

    #[test]
    fn a_counter_far_ahead_of_the_clock_is_refused_and_does_not_poison_the_window() {
        let now_us = 1_800_000_000_000_000;
        let (mut a, mut b) = pair(now_us + 2 * MAX_COUNTER_LEAD_US, 7);
        let fields = ProbeFields::default();
        let mut buf = [0u8; MESSAGE_LEN];
        let n = a.seal_probe(&fields, &mut buf).unwrap();
        assert!(matches!(b.open_checked_at(&buf[..n], now_us), Err(ProbeError::FromTheFuture(_))));
        // The same peer, after fixing its clock: honest counters near now are
        // still accepted by the same receiver.
        let (mut honest, _) = pair(now_us + 10, 7);
        let n = honest.seal_probe(&fields, &mut buf).unwrap();
        assert!(b.open_checked_at(&buf[..n], now_us).is_ok());
    }

    #[test]
    fn a_probe_and_its_echo_travel_between_two_peers() {
        let (mut a, mut b) = pair(100, 7);
        let fields = ProbeFields { path_token: 0xdead_beef, seq: 42, timestamp_us: 1_234_567 };
        let mut buf = [0u8; MESSAGE_LEN];
        let n = a.seal_probe(&fields, &mut buf).unwrap();
        let probe = b.open_checked(&buf[..n]).unwrap();
        assert_eq!((probe.kind, probe.counter, probe.fields), (ProbeKind::Probe, 100, fields));
        assert_eq!(probe.sender, a.key().local_key_id());

        let n = b.seal_echo(&probe.fields, &mut buf).unwrap();
        let echo = a.open_checked(&buf[..n]).unwrap();
        assert_eq!((echo.kind, echo.counter, echo.fields), (ProbeKind::Echo, 7, fields));
        assert_eq!(a.next_counter(), 101);
    }

    #[test]
    fn a_replayed_probe_is_refused_and_a_newer_one_still_accepted() {
        let (mut a, mut b) = pair(0, 0);
        let mut first = [0u8; MESSAGE_LEN];
        let mut second = [0u8; MESSAGE_LEN];
        a.seal_probe(&ProbeFields::default(), &mut first).unwrap();
        a.seal_probe(&ProbeFields::default(), &mut second).unwrap();
        assert!(b.open_checked(&first).is_ok());
        assert_eq!(b.open_checked(&first), Err(ProbeError::Replayed(0)));
        assert!(b.open_checked(&second).is_ok());
        assert_eq!(b.open_checked(&second), Err(ProbeError::Replayed(1)));
    }

    #[test]
    fn a_probe_older_than_the_window_is_refused() {
        let (mut a, mut b) = pair(0, 0);
        let mut old = [0u8; MESSAGE_LEN];
        a.seal_probe(&ProbeFields::default(), &mut old).unwrap();
        let mut late = PeerProbeState::new(a.key().clone(), 5000);
        let mut buf = [0u8; MESSAGE_LEN];
        late.seal_probe(&ProbeFields::default(), &mut buf).unwrap();
        assert!(b.open_checked(&buf).is_ok());
        assert_eq!(b.open_checked(&old), Err(ProbeError::TooOld(0)));
    }

    #[test]
    fn our_own_probe_reflected_back_is_refused() {
        let (mut a, _) = pair(0, 0);
        let mut buf = [0u8; MESSAGE_LEN];
        a.seal_probe(&ProbeFields::default(), &mut buf).unwrap();
        assert_eq!(a.open_checked(&buf), Err(ProbeError::UnknownKeyId));
    }

    #[test]
    fn a_forged_probe_does_not_advance_the_replay_window() {
        let (mut a, mut b) = pair(10, 0);
        let mut buf = [0u8; MESSAGE_LEN];
        a.seal_probe(&ProbeFields::default(), &mut buf).unwrap();
        let mut forged = buf;
        forged[12..20].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(b.open_checked(&forged), Err(ProbeError::BadMac));
        assert!(b.open_checked(&buf).is_ok());
    }

    #[test]
    fn the_send_counter_refuses_to_wrap() {
        let (a, _) = pair(0, 0);
        let mut a = PeerProbeState::new(a.key().clone(), u64::MAX);
        let mut buf = [0u8; MESSAGE_LEN];
        assert_eq!(
            a.seal_probe(&ProbeFields::default(), &mut buf),
            Err(ProbeError::CounterExhausted)
        );
    }
}
