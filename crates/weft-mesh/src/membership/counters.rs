//! [`Counters`]: what went in and out, and what was refused and why.

/// Running totals since the membership was created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams received (accepted or not).
    pub datagrams_in: u64,
    /// Datagrams emitted through `poll_transmit`.
    pub datagrams_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes emitted.
    pub bytes_out: u64,
    /// Refused: not an envelope.
    pub rejected_malformed: u64,
    /// Refused: unknown or revoked sender, or bad tag.
    pub rejected_unauthenticated: u64,
    /// Refused: replayed counter.
    pub rejected_replayed: u64,
    /// Refused: header names another site than the signer.
    pub rejected_sender_mismatch: u64,
    /// Refused: announcement over the sender's rate.
    pub rejected_rate_limited: u64,
    /// Refused by foca (undecodable or inconsistent SWIM payload).
    pub rejected_protocol: u64,
    /// Timer events foca reported an error for.
    pub timer_errors: u64,
    /// Fresh starts after the cluster declared us down (see the rejoin in
    /// [`Membership`](super::Membership)).
    pub restarts: u64,
}

impl Counters {
    /// All refused datagrams.
    pub fn rejected(&self) -> u64 {
        self.rejected_malformed
            + self.rejected_unauthenticated
            + self.rejected_replayed
            + self.rejected_sender_mismatch
            + self.rejected_rate_limited
            + self.rejected_protocol
    }
}
