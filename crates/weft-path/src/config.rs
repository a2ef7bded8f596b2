//! Engine configuration: probe timers, liveness, brownout thresholds, hysteresis.
//!
//! Start from [`EngineConfig::default`] (100 ms probes on busy peers, 1 s on idle
//! ones, detect multiplier 3, hold-down 5 s) or [`EngineConfig::fast`] (20 ms
//! probes), then adjust fields and call [`EngineConfig::validate`].

use std::num::NonZeroU8;
use std::time::Duration;

use weft_types::Ratio;

/// How often to probe a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalMode {
    /// `active` on paths of peers that carry traffic (the active path and its
    /// backups alike, so backups stay warm), `idle` on peers with no recent traffic.
    Adaptive {
        /// Interval for peers with traffic in the last [`ProbeConfig::activity_timeout`].
        active: Duration,
        /// Interval for idle peers.
        idle: Duration,
    },
    /// The same interval on every path.
    Fixed(Duration),
}

/// Probe timers and liveness rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// Nominal probe interval; each actual gap is 75–100 % of it (RFC 5880 §6.8.7).
    pub interval: IntervalMode,
    /// Fastest interval the engine ever uses (loss-triggered acceleration probes at this rate).
    pub min_interval: Duration,
    /// A path with no proof of life for `detect_multiplier` intervals is Down
    /// (BFD's detection time), and so is one whose last `detect_multiplier`
    /// probes were all lost.
    pub detect_multiplier: NonZeroU8,
    /// Consecutive echoes that move a path from Init to Up.
    pub up_after: NonZeroU8,
    /// While a path is Down its probe interval doubles from the nominal one up to
    /// this cap ("slow start"): dead paths cost little, and recovery is still seen
    /// within about this long.
    pub down_interval: Duration,
    /// Hybrid monitoring: a path that received authenticated traffic within the
    /// last interval already has proof of life, so its probes go out this many
    /// times less often (1 disables it).
    pub busy_factor: u32,
    /// A peer counts as active (fast probing) this long after its last traffic.
    pub activity_timeout: Duration,
    /// After a lost probe on an active peer's path, this many probes go out at
    /// `min_interval`, so a brownout is measured in a fraction of a second.
    pub accel_probes: u32,
    /// Probe outcomes in the short loss window.
    pub loss_window: usize,
    /// Probe outcomes in the long loss window (SLA classes with loose loss
    /// limits, like bulk, are judged over it).
    pub long_loss_window: usize,
    /// RTT samples kept for percentiles.
    pub rtt_window: usize,
}

/// When an alive path counts as browned out (state Degraded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrownoutThresholds {
    /// Loss over the window above which the path is Degraded.
    pub max_loss: Ratio,
    /// Jitter above which the path is Degraded (`None`: no limit).
    pub max_jitter: Option<Duration>,
    /// Smoothed RTT above which the path is Degraded (`None`: no limit).
    pub max_latency: Option<Duration>,
    /// A Degraded path is Up again only below this fraction of each threshold
    /// (hysteresis; 1.0 disables it).
    pub clear_ratio: f64,
}

/// Everything the [`PathEngine`](crate::PathEngine) can be tuned by.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Probe timers and liveness.
    pub probe: ProbeConfig,
    /// When an alive path is Degraded.
    pub brownout: BrownoutThresholds,
    /// A path that stopped being eligible for a class takes flows of that class
    /// back only after it has been eligible again for this long (failback hysteresis).
    pub hold_down: Duration,
    /// Flap dampening: every flap doubles the hold-down, up to this cap; the
    /// penalty is forgiven after the path stays eligible for the cap.
    pub max_hold_down: Duration,
    /// In active-backup, a challenger of equal priority replaces the incumbent
    /// only if its score is better by this fraction.
    pub failback_margin: f64,
    /// How often flow groups are re-evaluated when only metrics (not states) changed.
    pub reoptimise_interval: Duration,
}

/// Why a configuration was refused. Refusing it changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An interval below 1 ms or above 60 s.
    #[error("{field} = {value:?} is out of range (1ms..=60s)")]
    IntervalOutOfRange {
        /// Which field.
        field: &'static str,
        /// The offered value.
        value: Duration,
    },
    /// `min_interval` is larger than the nominal interval it must undercut.
    #[error("min_interval {min:?} is larger than the probe interval {interval:?}")]
    MinAboveInterval {
        /// The minimum.
        min: Duration,
        /// The nominal interval.
        interval: Duration,
    },
    /// A window of zero probes.
    #[error("{0} must be at least 1")]
    EmptyWindow(&'static str),
    /// A margin or ratio out of range (`failback_margin` in `[0, 1)`,
    /// `brownout.clear_ratio` in `[0, 1]`).
    #[error("margin out of range: {0}")]
    Margin(String),
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval: IntervalMode::Adaptive {
                active: Duration::from_millis(100),
                idle: Duration::from_secs(1),
            },
            min_interval: Duration::from_millis(20),
            detect_multiplier: NonZeroU8::new(3).expect("non-zero"),
            up_after: NonZeroU8::new(3).expect("non-zero"),
            down_interval: Duration::from_secs(1),
            busy_factor: 2,
            activity_timeout: Duration::from_secs(10),
            accel_probes: 25,
            loss_window: 100,
            long_loss_window: 500,
            rtt_window: 128,
        }
    }
}

impl Default for BrownoutThresholds {
    fn default() -> Self {
        Self {
            max_loss: Ratio::from_percent(5.0),
            max_jitter: Some(Duration::from_millis(50)),
            max_latency: None,
            clear_ratio: 0.5,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            probe: ProbeConfig::default(),
            brownout: BrownoutThresholds::default(),
            hold_down: Duration::from_secs(5),
            max_hold_down: Duration::from_mins(1),
            failback_margin: 0.10,
            reoptimise_interval: Duration::from_secs(1),
        }
    }
}

impl EngineConfig {
    /// Defaults with 20 ms probes on active peers (detection in 60 ms), for
    /// sites that value failover speed over a little probe bandwidth.
    pub fn fast() -> Self {
        let mut c = Self::default();
        c.probe.interval = IntervalMode::Adaptive {
            active: Duration::from_millis(20),
            idle: Duration::from_secs(1),
        };
        c.probe.min_interval = Duration::from_millis(10);
        // Fast failover wants every path probed at the full rate, busy or not.
        c.probe.busy_factor = 1;
        c
    }

    /// Every path probed at `interval`, whatever its traffic.
    pub fn fixed(interval: Duration) -> Self {
        let mut c = Self::default();
        c.probe.interval = IntervalMode::Fixed(interval);
        c.probe.min_interval = c.probe.min_interval.min(interval);
        c
    }

    /// Checks ranges and relations between fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |field, value: Duration| {
            if value < Duration::from_millis(1) || value > Duration::from_mins(1) {
                Err(ConfigError::IntervalOutOfRange { field, value })
            } else {
                Ok(())
            }
        };
        let p = &self.probe;
        let fastest = match p.interval {
            IntervalMode::Adaptive { active, idle } => {
                range("interval.active", active)?;
                range("interval.idle", idle)?;
                active.min(idle)
            }
            IntervalMode::Fixed(d) => {
                range("interval", d)?;
                d
            }
        };
        range("min_interval", p.min_interval)?;
        range("down_interval", p.down_interval)?;
        if p.min_interval > fastest {
            return Err(ConfigError::MinAboveInterval { min: p.min_interval, interval: fastest });
        }
        if p.loss_window == 0 {
            return Err(ConfigError::EmptyWindow("loss_window"));
        }
        if p.long_loss_window < p.loss_window {
            return Err(ConfigError::EmptyWindow("long_loss_window (must be >= loss_window)"));
        }
        if p.rtt_window == 0 {
            return Err(ConfigError::EmptyWindow("rtt_window"));
        }
        if !(0.0..=1.0).contains(&self.brownout.clear_ratio) {
            return Err(ConfigError::Margin(format!(
                "brownout.clear_ratio {}",
                self.brownout.clear_ratio
            )));
        }
        if !(0.0..1.0).contains(&self.failback_margin) {
            return Err(ConfigError::Margin(self.failback_margin.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_presets_validate() {
        EngineConfig::default().validate().unwrap();
        EngineConfig::fast().validate().unwrap();
        EngineConfig::fixed(Duration::from_millis(5)).validate().unwrap();
    }

    #[test]
    fn impossible_values_are_refused_with_the_field_name() {
        let mut c = EngineConfig::default();
        c.probe.interval = IntervalMode::Fixed(Duration::ZERO);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::IntervalOutOfRange { field: "interval", .. })
        ));
        let mut c = EngineConfig::default();
        c.probe.min_interval = Duration::from_millis(500);
        assert!(matches!(c.validate(), Err(ConfigError::MinAboveInterval { .. })));
        let mut c = EngineConfig::default();
        c.probe.loss_window = 0;
        assert_eq!(c.validate(), Err(ConfigError::EmptyWindow("loss_window")));
        let c = EngineConfig { failback_margin: 1.5, ..EngineConfig::default() };
        assert!(matches!(c.validate(), Err(ConfigError::Margin(_))));
    }
}
