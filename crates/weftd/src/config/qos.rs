//! The `[qos]` section: the per-uplink scheduler and bandwidth reservations.
//!
//! ```toml
//! [qos]
//! enabled = true          # shape every uplink that has a `capacity` (default true)
//! headroom = "95%"        # the shaper sends this share of the capacity (50%..=100%)
//! queue_time = "50ms"     # most queueing delay a class's queue holds (1ms..=1s)
//! reservable = "80%"      # the share of an uplink reservations may take (1%..=100%)
//! ```
//!
//! Only uplinks with a `capacity` written in their `[[uplink]]` section are
//! shaped: the default capacity the path engine assumes is not a figure to
//! shape to. Class weights, ceilings and DSCP marks are in the policy
//! (`[classes.NAME]`).

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use weft_types::{Ratio, parse_duration};

use super::validate::Checker;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQos {
    enabled: Option<bool>,
    headroom: Option<Spanned<String>>,
    queue_time: Option<Spanned<String>>,
    reservable: Option<Spanned<String>>,
}

/// What `[qos]` says (the defaults when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct QosConfig {
    /// Shape uplinks with a configured capacity.
    pub enabled: bool,
    /// Share of the capacity the shaper sends.
    pub headroom: f64,
    /// Most queueing delay per class queue.
    pub queue_time: Duration,
    /// Share of an uplink's capacity reservations may take.
    pub reservable: f64,
}

impl Default for QosConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            headroom: 0.95,
            queue_time: Duration::from_millis(50),
            reservable: 0.8,
        }
    }
}

fn share(c: &mut Checker<'_>, s: &Spanned<String>, lowest: f64, what: &str) -> Option<f64> {
    let r = c.parse(s, Ratio::parse)?.fraction();
    if r < lowest {
        c.err(s, format!("{what} must be {:.0}%..=100%", lowest * 100.0));
        return None;
    }
    Some(r)
}

/// Checks `[qos]` (absent: the defaults).
pub(super) fn qos(c: &mut Checker<'_>, raw: Option<&RawQos>) -> QosConfig {
    let mut q = QosConfig::default();
    let Some(raw) = raw else { return q };
    q.enabled = raw.enabled.unwrap_or(true);
    if let Some(h) = raw.headroom.as_ref().and_then(|h| share(c, h, 0.5, "headroom")) {
        q.headroom = h;
    }
    if let Some(r) = raw.reservable.as_ref().and_then(|r| share(c, r, 0.01, "reservable")) {
        q.reservable = r;
    }
    if let Some(t) = &raw.queue_time
        && let Some(d) = c.parse(t, parse_duration)
    {
        if (Duration::from_millis(1)..=Duration::from_secs(1)).contains(&d) {
            q.queue_time = d;
        } else {
            c.err(t, "queue_time must be 1ms..=1s");
        }
    }
    q
}
