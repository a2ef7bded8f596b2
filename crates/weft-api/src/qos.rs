//! `GET /api/v1/qos`: the QoS scheduler of every shaped uplink.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The scheduler state of one agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QosStatus {
    /// `[qos] enabled`.
    pub enabled: bool,
    /// Share of an uplink's capacity the shaper sends.
    pub headroom: f64,
    /// Most queueing delay per lane, milliseconds.
    pub queue_time_ms: u64,
    /// Every shaped uplink (those with a configured `capacity`).
    pub uplinks: Vec<QosUplink>,
}

/// One shaped uplink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QosUplink {
    /// Uplink name.
    pub uplink: String,
    /// Configured capacity, bits per second.
    pub capacity_bps: u64,
    /// The rate the shaper sends at, bits per second.
    pub shaped_bps: u64,
    /// One lane per class, then one per reservation.
    pub lanes: Vec<QosLane>,
}

/// One lane of a scheduler: a class's queue or a reservation's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QosLane {
    /// Class name, or the reservation's id.
    pub name: String,
    /// The class (for a reservation: the class it reserves for).
    pub class: String,
    /// Packets queued now.
    pub queued_packets: u64,
    /// Bytes queued now (wire size).
    pub queued_bytes: u64,
    /// Packets sent.
    pub sent_packets: u64,
    /// Bytes sent (wire size).
    pub sent_bytes: u64,
    /// Packets dropped with the lane full.
    pub dropped_packets: u64,
    /// Bytes dropped with the lane full.
    pub dropped_bytes: u64,
}
