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

/// A bandwidth reservation of this site toward another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reservation {
    /// Its id: `r1`, `r2`, ... for this site's own; `m1`, `m2`, ... for
    /// mesh-wide ones (made at a controller, in the control plane's ledger).
    pub id: String,
    /// The source site of a mesh-wide reservation (absent: this site's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The destination site.
    pub to: String,
    /// The class it reserves for (its traffic to `to`); for an app
    /// reservation, the class of the app's route.
    pub class: String,
    /// The app (of the running policy) it reserves for, if it is for one
    /// app rather than a whole class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Reserved rate, bits per second.
    pub rate_bps: u64,
    /// Higher preempts lower (0..=255).
    pub priority: u8,
    /// `admitted` (holds `uplink`), `preempted` (held down until room
    /// returns) or, for a mesh-wide one the control plane admitted,
    /// `waiting` at its source while no uplink there has room.
    pub state: String,
    /// The uplink it holds while admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// Why it is preempted (the reservation that took its room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was made (Unix ms).
    pub created_unix_ms: i64,
    /// When it ends by itself (Unix ms), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_unix_ms: Option<i64>,
}

/// `POST /api/v1/reservations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReservation {
    /// The source site: makes a **mesh-wide** reservation through the
    /// control plane (only at a controller), admitted against the source's
    /// uplink and the destination's downlink; absent, a reservation of this
    /// site alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The destination site.
    pub to: String,
    /// The class to reserve for (one of the running policy's classes);
    /// give this or `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// The app to reserve for (an app a route of the running policy names);
    /// give this or `class`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The rate: `20mbit`, `500kbit`, `1gbit`.
    pub rate: String,
    /// Higher preempts lower, 0..=255 (default 0); any JSON number without
    /// a fraction.
    #[serde(default, deserialize_with = "crate::common::integer")]
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 255)]
    pub priority: Option<u32>,
    /// Ends by itself after this long (`30m`, `2h`), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
}

/// What `POST /api/v1/reservations` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReservationMade {
    /// The new reservation (admitted).
    pub reservation: Reservation,
    /// Reservations it preempted, each with the uplink it moved to (none:
    /// held down until room returns).
    pub preempted: Vec<Reservation>,
}
