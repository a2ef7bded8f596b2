//! What the WAN emulator does to one uplink: delay, jitter, loss, rate, outage.
//!
//! Semantics: an impairment set on `SITE:UPLINK` applies to **every packet crossing
//! that uplink, in both directions**. A 40 ms delay on one uplink therefore adds 80 ms
//! to a round trip that goes out and back over it; a packet between two impaired
//! uplinks gets both impairments (delays add, losses are independent draws).
//!
//! - `delay`: fixed one-way delay per crossing.
//! - `jitter`: each packet's delay is `delay + U(-jitter, +jitter)`, clamped at 0.
//!   With zero jitter packet order is kept; with jitter packets may reorder (as on a
//!   real WAN and as with netem).
//! - `loss`: independent random loss per packet per crossing.
//! - `rate`: a token bucket (`tbf`) on both ends of the uplink's veth pair.
//! - `down`: every packet crossing the uplink is dropped; the site's interface stays
//!   up and keeps its address, like a cable cut beyond the CPE.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_types::{Bandwidth, Ratio, format_duration, parse_duration};

use crate::error::{LabError, Result};

/// Longest delay or jitter accepted (a lab is not a satellite link to Mars).
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// The impairment of one uplink. `Impairment::default()` is a clean link.
#[derive(Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Impairment {
    /// One-way delay added to each crossing.
    #[serde(with = "serde_duration")]
    pub delay: Duration,
    /// Maximum deviation from `delay`, uniformly distributed.
    #[serde(with = "serde_duration")]
    pub jitter: Duration,
    /// Probability that a crossing packet is dropped.
    pub loss: Ratio,
    /// Rate limit in both directions; `None` is unlimited.
    pub rate: Option<Bandwidth>,
    /// The uplink is cut: nothing crosses it.
    pub down: bool,
}

impl Impairment {
    /// A clean link: no delay, jitter, loss, rate limit or outage.
    pub const NONE: Self = Self {
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: Ratio::ZERO,
        rate: None,
        down: false,
    };

    /// A link with only a one-way delay.
    pub fn delay(delay: Duration) -> Self {
        Self { delay, ..Self::NONE }
    }

    /// A link with only random loss, given as a fraction in `[0, 1]`.
    pub fn loss(fraction: f64) -> Self {
        Self { loss: Ratio::from_fraction(fraction), ..Self::NONE }
    }

    /// A link that is cut.
    pub fn down() -> Self {
        Self { down: true, ..Self::NONE }
    }

    /// Checks the values are possible; the emulator is never handed anything else.
    pub fn validate(&self) -> Result<()> {
        for (field, d) in [("delay", self.delay), ("jitter", self.jitter)] {
            if d > MAX_DELAY {
                return Err(LabError::InvalidImpairment {
                    field,
                    value: format_duration(d),
                    reason: format!("the limit is {}", format_duration(MAX_DELAY)),
                });
            }
        }
        if !(0.0..=1.0).contains(&self.loss.fraction()) {
            return Err(LabError::InvalidImpairment {
                field: "loss",
                value: self.loss.to_string(),
                reason: "must be between 0% and 100%".into(),
            });
        }
        if let Some(rate) = self.rate
            && rate.bps() < 8_000
        {
            return Err(LabError::InvalidImpairment {
                field: "rate",
                value: rate.to_string(),
                reason: "the smallest rate is 8kbit (use --down to cut the link)".into(),
            });
        }
        Ok(())
    }

    /// True when packets must pass through the userspace emulator (delay, jitter,
    /// loss or outage); rate alone is done by the kernel.
    pub fn needs_emulator(&self) -> bool {
        self.down || !self.delay.is_zero() || !self.jitter.is_zero() || self.loss.fraction() > 0.0
    }

    /// True for a clean link.
    pub fn is_clean(&self) -> bool {
        *self == Self::NONE
    }
}

impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.down {
            parts.push("DOWN".to_owned());
        }
        if !self.delay.is_zero() {
            parts.push(format!("delay {}", format_duration(self.delay)));
        }
        if !self.jitter.is_zero() {
            parts.push(format!("jitter {}", format_duration(self.jitter)));
        }
        if self.loss.fraction() > 0.0 {
            parts.push(format!("loss {}", self.loss));
        }
        if let Some(rate) = self.rate {
            parts.push(format!("rate {rate}"));
        }
        if parts.is_empty() { f.write_str("none") } else { f.write_str(&parts.join(" ")) }
    }
}

impl fmt::Debug for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A partial change to an impairment, as typed on the command line: only the given
/// fields change. Strings are parsed with `weft-types`' unit parsers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkChange {
    /// New delay, e.g. `40ms`.
    pub delay: Option<String>,
    /// New jitter, e.g. `5ms`.
    pub jitter: Option<String>,
    /// New loss, e.g. `2%`.
    pub loss: Option<String>,
    /// New rate, e.g. `50mbit`; `none` or `0` removes the limit.
    pub rate: Option<String>,
    /// `Some(true)` cuts the link, `Some(false)` restores it.
    pub down: Option<bool>,
    /// Start from a clean link instead of the current impairment.
    pub clear: bool,
}

impl LinkChange {
    /// Applies the change to `current` and validates the result.
    pub fn apply(&self, current: Impairment) -> Result<Impairment> {
        let mut imp = if self.clear { Impairment::NONE } else { current };
        if let Some(s) = &self.delay {
            imp.delay = parse_time("delay", s)?;
        }
        if let Some(s) = &self.jitter {
            imp.jitter = parse_time("jitter", s)?;
        }
        if let Some(s) = &self.loss {
            imp.loss = Ratio::parse(s).map_err(|e| LabError::InvalidImpairment {
                field: "loss",
                value: s.clone(),
                reason: e.to_string(),
            })?;
        }
        if let Some(s) = &self.rate {
            imp.rate = parse_rate(s)?;
        }
        if let Some(down) = self.down {
            imp.down = down;
        }
        imp.validate()?;
        Ok(imp)
    }
}

fn parse_time(field: &'static str, s: &str) -> Result<Duration> {
    if s.trim_start().starts_with('-') {
        return Err(LabError::InvalidImpairment {
            field,
            value: s.to_owned(),
            reason: format!("a {field} cannot be negative"),
        });
    }
    parse_duration(s).map_err(|e| LabError::InvalidImpairment {
        field,
        value: s.to_owned(),
        reason: e.to_string(),
    })
}

fn parse_rate(s: &str) -> Result<Option<Bandwidth>> {
    if matches!(s.trim(), "none" | "0" | "unlimited") {
        return Ok(None);
    }
    Bandwidth::parse(s).map(Some).map_err(|e| LabError::InvalidImpairment {
        field: "rate",
        value: s.to_owned(),
        reason: e.to_string(),
    })
}

/// Durations as human strings (`"40ms"`) in state and topology files.
pub(crate) mod serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}us", d.as_micros()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim_start().starts_with('-') {
            return Err(serde::de::Error::custom(format!("{s:?}: a duration cannot be negative")));
        }
        weft_types::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> LinkChange {
        LinkChange::default()
    }

    #[test]
    fn a_change_only_touches_the_given_fields() {
        let cur = Impairment { delay: Duration::from_millis(10), ..Impairment::NONE };
        let c = LinkChange { loss: Some("2%".into()), ..change() };
        let new = c.apply(cur).unwrap();
        assert_eq!(new.delay, Duration::from_millis(10));
        assert!((new.loss.fraction() - 0.02).abs() < 1e-12);
        let c = LinkChange { down: Some(true), ..change() };
        assert!(c.apply(new).unwrap().down);
    }

    #[test]
    fn clear_starts_from_a_clean_link() {
        let cur = Impairment::delay(Duration::from_millis(40));
        let c = LinkChange { clear: true, jitter: Some("1ms".into()), ..change() };
        assert_eq!(
            c.apply(cur).unwrap(),
            Impairment { jitter: Duration::from_millis(1), ..Impairment::NONE }
        );
    }

    #[test]
    fn impossible_values_are_refused_with_the_field_named() {
        let cases = [
            (LinkChange { delay: Some("-40ms".into()), ..change() }, "delay"),
            (LinkChange { jitter: Some("5 parsecs".into()), ..change() }, "jitter"),
            (LinkChange { loss: Some("101%".into()), ..change() }, "loss"),
            (LinkChange { loss: Some("-1%".into()), ..change() }, "loss"),
            (LinkChange { rate: Some("fast".into()), ..change() }, "rate"),
            (LinkChange { rate: Some("1kbit".into()), ..change() }, "rate"),
            (LinkChange { delay: Some("11s".into()), ..change() }, "delay"),
        ];
        for (c, field) in cases {
            match c.apply(Impairment::NONE) {
                Err(LabError::InvalidImpairment { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{c:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn rate_none_removes_the_limit() {
        let cur = Impairment { rate: Some(Bandwidth(50_000_000)), ..Impairment::NONE };
        let c = LinkChange { rate: Some("none".into()), ..change() };
        assert_eq!(c.apply(cur).unwrap().rate, None);
    }

    #[test]
    fn only_delay_jitter_loss_and_down_need_the_emulator() {
        assert!(!Impairment::NONE.needs_emulator());
        assert!(
            !Impairment { rate: Some(Bandwidth(1_000_000)), ..Impairment::NONE }.needs_emulator()
        );
        assert!(Impairment::delay(Duration::from_millis(1)).needs_emulator());
        assert!(Impairment::loss(0.1).needs_emulator());
        assert!(Impairment::down().needs_emulator());
    }

    #[test]
    fn impairments_display_compactly() {
        assert_eq!(Impairment::NONE.to_string(), "none");
        let i = Impairment {
            delay: Duration::from_millis(40),
            loss: Ratio::from_percent(2.0),
            ..Impairment::NONE
        };
        assert_eq!(i.to_string(), "delay 40.0ms loss 2.00%");
    }

    #[test]
    fn impairments_round_trip_through_json() {
        let i = Impairment {
            delay: Duration::from_millis(40),
            jitter: Duration::from_micros(500),
            loss: Ratio::from_percent(2.0),
            rate: Some(Bandwidth(50_000_000)),
            down: true,
        };
        let s = serde_json::to_string(&i).unwrap();
        assert_eq!(serde_json::from_str::<Impairment>(&s).unwrap(), i);
    }
}
