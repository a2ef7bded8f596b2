//! SLA classes: the latency, jitter and loss a class of traffic tolerates.
//!
//! Latency is the probe round-trip time (sites have no synchronised clocks, so
//! one-way delay is not measured); jitter and loss are as the estimators define
//! them. A limit of `None` means "no limit".

use std::time::Duration;

use serde::Serialize;
use weft_types::Ratio;

use crate::metrics::Quality;
use crate::state::{Breach, Metric};

/// A named set of limits a path must meet to carry a class of traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaClass {
    /// Class name (`realtime`, `bulk`, …).
    pub name: String,
    /// Highest acceptable smoothed RTT.
    pub max_latency: Option<Duration>,
    /// Highest acceptable jitter.
    pub max_jitter: Option<Duration>,
    /// Highest acceptable loss.
    pub max_loss: Option<Ratio>,
    /// Which loss window the limit is judged over: the short one reacts within
    /// a couple of seconds; the long one needs more evidence, so a loose limit
    /// is not tripped by noise.
    pub loss_window: LossWindow,
}

/// Which of a path's two loss windows an SLA's loss limit is judged over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LossWindow {
    /// The last `loss_window` probes (default 100).
    Short,
    /// The last `long_loss_window` probes (default 500).
    Long,
}

impl SlaClass {
    /// Voice and video: RTT ≤ 150 ms, jitter ≤ 30 ms, loss ≤ 1 %.
    pub fn realtime() -> Self {
        Self::new("realtime", Some(150), Some(30), Some(1.0))
    }

    /// Remote desktops, SSH, APIs: RTT ≤ 300 ms, jitter ≤ 50 ms, loss ≤ 2 %.
    pub fn interactive() -> Self {
        Self::new("interactive", Some(300), Some(50), Some(2.0))
    }

    /// Backups, replication, downloads: loss ≤ 10 % over the long window, any latency.
    pub fn bulk() -> Self {
        Self { loss_window: LossWindow::Long, ..Self::new("bulk", None, None, Some(10.0)) }
    }

    /// Anything that is alive.
    pub fn best_effort() -> Self {
        Self::new("best-effort", None, None, None)
    }

    /// The four built-in classes.
    pub fn builtins() -> [Self; 4] {
        [Self::realtime(), Self::interactive(), Self::bulk(), Self::best_effort()]
    }

    /// Looks up a built-in class by name.
    pub fn builtin(name: &str) -> Option<Self> {
        Self::builtins().into_iter().find(|c| c.name == name)
    }

    fn new(
        name: &str,
        latency_ms: Option<u64>,
        jitter_ms: Option<u64>,
        loss_pct: Option<f64>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            max_latency: latency_ms.map(Duration::from_millis),
            max_jitter: jitter_ms.map(Duration::from_millis),
            max_loss: loss_pct.map(Ratio::from_percent),
            loss_window: LossWindow::Short,
        }
    }

    /// `Ok` when `q` meets every limit, else the first breach (latency, then
    /// jitter, then loss). Limits are inclusive: exactly at the limit passes.
    pub fn check(&self, q: &Quality) -> Result<(), Breach> {
        self.limits().check(q)
    }

    /// The limits in the integer form [`SlaLimits::check`] compares fastest;
    /// compute once, check many paths.
    pub fn limits(&self) -> SlaLimits {
        SlaLimits::new(
            self.max_latency,
            self.max_jitter,
            self.max_loss,
            self.loss_window == LossWindow::Long,
        )
    }
}

/// An [`SlaClass`]'s limits, pre-converted for fast checks (no limit = max).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlaLimits {
    max_rtt_us: u64,
    max_jitter_us: u64,
    max_loss: f64,
    long_window: bool,
}

impl SlaLimits {
    /// Limits from optional values (`None`: no limit); `long_window` selects
    /// which loss figure of a [`Quality`] is judged.
    pub fn new(
        max_latency: Option<Duration>,
        max_jitter: Option<Duration>,
        max_loss: Option<Ratio>,
        long_window: bool,
    ) -> Self {
        let us = |d: Option<Duration>| {
            d.map_or(u64::MAX, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        };
        Self {
            max_rtt_us: us(max_latency),
            max_jitter_us: us(max_jitter),
            max_loss: max_loss.map_or(f64::INFINITY, |r| r.fraction() + 1e-12),
            long_window,
        }
    }

    /// `Ok` when `q` meets every limit, else the first breach (latency, then
    /// jitter, then loss). Limits are inclusive.
    #[inline]
    pub fn check(&self, q: &Quality) -> Result<(), Breach> {
        let loss = if self.long_window { q.loss_long } else { q.loss };
        if u64::from(q.rtt_us) <= self.max_rtt_us
            && u64::from(q.jitter_us) <= self.max_jitter_us
            && loss <= self.max_loss
        {
            return Ok(());
        }
        Err(self.breach(q, loss))
    }

    #[cold]
    fn breach(&self, q: &Quality, loss: f64) -> Breach {
        if u64::from(q.rtt_us) > self.max_rtt_us {
            Breach {
                metric: Metric::Latency,
                measured: q.rtt_ms(),
                limit: self.max_rtt_us as f64 / 1e3,
            }
        } else if u64::from(q.jitter_us) > self.max_jitter_us {
            Breach {
                metric: Metric::Jitter,
                measured: q.jitter_ms(),
                limit: self.max_jitter_us as f64 / 1e3,
            }
        } else {
            Breach {
                metric: Metric::Loss,
                measured: loss * 100.0,
                limit: (self.max_loss - 1e-12) * 100.0,
            }
        }
    }
}

/// Checks `q` (with `loss` from the window the caller chose) against optional
/// limits; the brownout thresholds use it. SLA classes use [`SlaLimits`].
pub(crate) fn check_limits(
    q: &Quality,
    loss: f64,
    max_latency: Option<Duration>,
    max_jitter: Option<Duration>,
    max_loss: Option<Ratio>,
) -> Result<(), Breach> {
    let probe = Quality { loss, loss_long: loss, ..*q };
    SlaLimits::new(max_latency, max_jitter, max_loss, false).check(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(rtt_ms: u32, jitter_ms: u32, loss: f64) -> Quality {
        Quality { rtt_us: rtt_ms * 1000, jitter_us: jitter_ms * 1000, loss, loss_long: loss }
    }

    #[test]
    fn bulk_judges_loss_over_the_long_window() {
        let short_spike = Quality { rtt_us: 10_000, jitter_us: 0, loss: 0.12, loss_long: 0.05 };
        assert!(SlaClass::bulk().check(&short_spike).is_ok());
        assert!(SlaClass::realtime().check(&short_spike).is_err());
        let sustained = Quality { loss_long: 0.11, ..short_spike };
        assert!(SlaClass::bulk().check(&sustained).is_err());
    }

    #[test]
    fn realtime_accepts_a_good_path_and_names_the_first_breach() {
        let rt = SlaClass::realtime();
        assert!(rt.check(&q(40, 2, 0.0)).is_ok());
        assert!(rt.check(&q(150, 30, 0.01)).is_ok(), "limits are inclusive");
        let b = rt.check(&q(40, 2, 0.05)).unwrap_err();
        assert_eq!(b.metric, Metric::Loss);
        assert_eq!(b.to_string(), "loss 5.0% > 1.0%");
        assert_eq!(rt.check(&q(200, 40, 0.5)).unwrap_err().metric, Metric::Latency);
    }

    #[test]
    fn five_percent_loss_breaks_realtime_but_not_bulk() {
        let browned = q(40, 2, 0.05);
        assert!(SlaClass::realtime().check(&browned).is_err());
        assert!(SlaClass::interactive().check(&browned).is_err());
        assert!(SlaClass::bulk().check(&browned).is_ok());
        assert!(SlaClass::best_effort().check(&q(900, 300, 0.9)).is_ok());
    }

    #[test]
    fn builtins_are_found_by_name() {
        assert_eq!(SlaClass::builtin("bulk").unwrap(), SlaClass::bulk());
        assert!(SlaClass::builtin("gold").is_none());
    }
}
