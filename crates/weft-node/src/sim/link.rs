//! Simulated link impairments.

use std::time::Duration;

use weft_types::SeededRng;

/// How a simulated path treats each packet, in each direction: one-way delay,
/// jitter (uniform ±), random loss, and whether it is up at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkProfile {
    /// One-way delay.
    pub delay: Duration,
    /// Each packet's delay varies uniformly within ± this.
    pub jitter: Duration,
    /// Probability that a packet is lost, per direction.
    pub loss: f64,
    /// When false, every packet is lost.
    pub up: bool,
}

impl LinkProfile {
    /// An up link with `delay_ms` one-way delay and no jitter or loss.
    pub fn ms(delay_ms: u64) -> Self {
        Self { delay: Duration::from_millis(delay_ms), jitter: Duration::ZERO, loss: 0.0, up: true }
    }

    /// The same link with `pct` % loss per direction.
    #[must_use]
    pub fn loss_pct(mut self, pct: f64) -> Self {
        self.loss = pct / 100.0;
        self
    }

    /// The same link with ± `ms` jitter.
    #[must_use]
    pub fn jitter_ms(mut self, ms: u64) -> Self {
        self.jitter = Duration::from_millis(ms);
        self
    }

    /// The same link, cut.
    #[must_use]
    pub fn down(mut self) -> Self {
        self.up = false;
        self
    }

    /// The same link, restored.
    #[must_use]
    pub fn up(mut self) -> Self {
        self.up = true;
        self
    }

    /// The transit time of one packet, or `None` if it is lost.
    pub fn transit(&self, rng: &mut SeededRng) -> Option<Duration> {
        if !self.up || rng.chance(self.loss) {
            return None;
        }
        if self.jitter.is_zero() {
            return Some(self.delay);
        }
        let j = self.jitter.as_secs_f64() * rng.uniform(-1.0, 1.0);
        Some(Duration::from_secs_f64((self.delay.as_secs_f64() + j).max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_link_loses_everything_and_a_clean_one_nothing() {
        let mut rng = SeededRng::new(1);
        let down = LinkProfile::ms(10).down();
        assert!((0..100).all(|_| down.transit(&mut rng).is_none()));
        let clean = LinkProfile::ms(10);
        assert!((0..100).all(|_| clean.transit(&mut rng) == Some(Duration::from_millis(10))));
    }

    #[test]
    fn loss_and_jitter_follow_the_profile() {
        let mut rng = SeededRng::new(2);
        let l = LinkProfile::ms(20).loss_pct(10.0).jitter_ms(5);
        let mut lost = 0;
        for _ in 0..20_000 {
            match l.transit(&mut rng) {
                None => lost += 1,
                Some(d) => {
                    assert!(d >= Duration::from_millis(15) && d <= Duration::from_millis(25));
                }
            }
        }
        assert!((1_800..2_200).contains(&lost), "lost {lost}");
    }
}
