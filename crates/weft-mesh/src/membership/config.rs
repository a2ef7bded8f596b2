//! [`MembershipConfig`]: the few knobs we expose, mapped onto `foca::Config`.

use std::num::{NonZeroU8, NonZeroU32, NonZeroUsize};
use std::time::Duration;

use foca::PeriodicParams;

/// Why a [`MembershipConfig`] was refused. Nothing was built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration that must be positive was zero.
    #[error("membership config: `{0}` must not be zero")]
    Zero(&'static str),
    /// The probe round trip must fit inside the probe interval.
    #[error("membership config: probe_rtt ({rtt:?}) must be shorter than interval ({interval:?})")]
    RttNotBelowInterval {
        /// The configured probe round-trip allowance.
        rtt: Duration,
        /// The configured probe interval.
        interval: Duration,
    },
    /// Datagrams this small cannot carry a header and one update.
    #[error("membership config: max_payload {0} is below the minimum of 512 bytes")]
    PayloadTooSmall(usize),
    /// The local member's metadata cannot be encoded.
    #[error("member info: {0}")]
    Info(&'static str),
}

/// Membership tuning. Build it with [`MembershipConfig::lan`] or
/// [`MembershipConfig::wan`] and adjust fields; [`MembershipConfig::validate`]
/// (called by `Membership::new`) refuses inconsistent values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipConfig {
    /// Probe period: every interval each member pings one random member.
    pub interval: Duration,
    /// How long to wait for a direct ack before asking others to probe.
    pub probe_rtt: Duration,
    /// Members asked to probe indirectly, and members each periodic gossip
    /// round is sent to.
    pub fanout: NonZeroUsize,
    /// Period of the extra gossip rounds that spread updates (joins, deaths)
    /// faster than probe piggybacking alone.
    pub gossip_interval: Duration,
    /// A suspect is declared down after
    /// `suspicion_multiplier × max(1, log10(expected_members)) × interval`.
    pub suspicion_multiplier: NonZeroU32,
    /// Expected cluster size, used to scale the suspicion timeout.
    pub expected_members: NonZeroU32,
    /// How many times each update is piggybacked before it is dropped
    /// (foca's `max_transmissions`).
    pub retransmit_limit: NonZeroU8,
    /// Largest foca payload; the envelope adds at most 76 bytes plus the tag.
    pub max_payload: NonZeroUsize,
    /// Period of announcements to a random member (heals partitions).
    pub announce_interval: Duration,
    /// Announcements accepted per sender in a burst.
    pub announce_burst: NonZeroU32,
    /// Announcement tokens each sender regains per minute.
    pub announce_per_minute: NonZeroU32,
}

const fn nz8(v: u8) -> NonZeroU8 {
    NonZeroU8::new(v).unwrap()
}
const fn nz32(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap()
}
const fn nzu(v: usize) -> NonZeroUsize {
    NonZeroUsize::new(v).unwrap()
}

impl MembershipConfig {
    /// Sites on one low-latency network (RTT well under 80 ms): 200 ms probes,
    /// gossip every 100 ms to 4 members, suspicion 4 × log10(n) × interval.
    pub const fn lan() -> Self {
        Self {
            interval: Duration::from_millis(200),
            probe_rtt: Duration::from_millis(80),
            fanout: nzu(4),
            gossip_interval: Duration::from_millis(100),
            suspicion_multiplier: nz32(4),
            expected_members: nz32(1000),
            retransmit_limit: nz8(12),
            max_payload: nzu(1200),
            announce_interval: Duration::from_secs(30),
            announce_burst: nz32(10),
            announce_per_minute: nz32(30),
        }
    }

    /// Sites across the internet: 1 s probes with 400 ms RTT allowance, gossip
    /// every 500 ms to 4 members, suspicion 6 × log10(n) × interval.
    pub const fn wan() -> Self {
        Self {
            interval: Duration::from_secs(1),
            probe_rtt: Duration::from_millis(400),
            fanout: nzu(4),
            gossip_interval: Duration::from_millis(500),
            suspicion_multiplier: nz32(6),
            expected_members: nz32(1000),
            retransmit_limit: nz8(12),
            max_payload: nzu(1200),
            announce_interval: Duration::from_mins(1),
            announce_burst: nz32(10),
            announce_per_minute: nz32(30),
        }
    }

    /// Checks the values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, d) in [
            ("interval", self.interval),
            ("probe_rtt", self.probe_rtt),
            ("gossip_interval", self.gossip_interval),
            ("announce_interval", self.announce_interval),
        ] {
            if d.is_zero() {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.probe_rtt >= self.interval {
            return Err(ConfigError::RttNotBelowInterval {
                rtt: self.probe_rtt,
                interval: self.interval,
            });
        }
        if self.max_payload.get() < 512 {
            return Err(ConfigError::PayloadTooSmall(self.max_payload.get()));
        }
        Ok(())
    }

    /// How long a suspect has to refute before it is declared down.
    pub fn suspicion_timeout(&self) -> Duration {
        let scale = f64::from(self.expected_members.get()).log10().max(1.0);
        self.interval.mul_f64(scale * f64::from(self.suspicion_multiplier.get()))
    }

    pub(crate) fn to_foca(&self) -> foca::Config {
        foca::Config {
            probe_period: self.interval,
            probe_rtt: self.probe_rtt,
            num_indirect_probes: self.fanout,
            max_transmissions: self.retransmit_limit,
            suspect_to_down_after: self.suspicion_timeout(),
            remove_down_after: Some(Duration::from_hours(24)),
            max_packet_size: self.max_payload,
            notify_down_members: true,
            periodic_announce: Some(PeriodicParams {
                frequency: self.announce_interval,
                num_members: nzu(1),
            }),
            // Partition healing: a site cut off from everyone (or everyone
            // from it) declares the others down; announcing to down members
            // is what brings the halves back together, so it runs every ten
            // probe periods (2 s LAN, 10 s WAN), not at the slow announce pace.
            periodic_announce_to_down_members: Some(PeriodicParams {
                frequency: self.interval * 10,
                num_members: nzu(2),
            }),
            periodic_gossip: Some(PeriodicParams {
                frequency: self.gossip_interval,
                num_members: self.fanout,
            }),
        }
    }
}
