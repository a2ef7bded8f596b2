//! Deterministic expansion of fault generators from a seed.

use std::time::Duration;

use weft_types::{SeededRng, SiteId, UplinkId};

use super::{Fault, FaultKind, RandomLinkFailures, Scenario};

/// One outage drawn by [`RandomLinkFailures::expand`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFailure {
    /// The site.
    pub site: SiteId,
    /// Which of its uplinks.
    pub uplink: UplinkId,
    /// When it goes down.
    pub at: Duration,
    /// How long it stays down.
    pub lasting: Duration,
}

impl RandomLinkFailures {
    /// Draws the outages for one run: the same `seed` always gives the same
    /// list, sorted by start time. `start` is the fault's `at`; `uplinks` the
    /// topology's uplinks per site. Times have microsecond granularity.
    pub fn expand(&self, start: Duration, uplinks: u16, seed: u64) -> Vec<LinkFailure> {
        if self.sites.is_empty() || uplinks == 0 {
            return Vec::new();
        }
        let mut rng = SeededRng::new(seed);
        let window = micros(self.over).max(1);
        let spread = micros(self.max_lasting.saturating_sub(self.min_lasting)) + 1;
        let mut out: Vec<LinkFailure> = (0..self.count)
            .map(|_| {
                let site = self.sites[rng.below(self.sites.len() as u64) as usize].clone();
                let uplink = UplinkId(rng.below(u64::from(uplinks)) as u16);
                let at = start + Duration::from_micros(rng.below(window));
                let lasting = self.min_lasting + Duration::from_micros(rng.below(spread));
                LinkFailure { site, uplink, at, lasting }
            })
            .collect();
        out.sort_by_key(|f| f.at);
        out
    }
}

impl Scenario {
    /// The faults of one run with every generator expanded from `seed`: each
    /// `random-link-failures` becomes `uplink-down` faults named `NAME#1`,
    /// `NAME#2`, … (ending no later than the run). Sorted by start time, file
    /// order among equals. Each generator draws from its own stream, derived
    /// from `seed` and its name, so adding a fault does not reshuffle another.
    pub fn faults_for_seed(&self, seed: u64) -> Vec<Fault> {
        let mut out = Vec::with_capacity(self.faults.len());
        for fault in &self.faults {
            let FaultKind::RandomLinkFailures(generator) = &fault.kind else {
                out.push(fault.clone());
                continue;
            };
            let stream = seed ^ stable_hash(&fault.name);
            let drawn = generator.expand(fault.at, self.topology.uplinks, stream);
            out.extend(drawn.into_iter().enumerate().map(|(i, f)| Fault {
                name: format!("{}#{}", fault.name, i + 1),
                at: f.at,
                duration: Some(f.lasting.min(self.duration.saturating_sub(f.at))),
                kind: FaultKind::UplinkDown { site: f.site, uplinks: vec![f.uplink] },
            }));
        }
        out.sort_by_key(|f| f.at);
        out
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// FNV-1a: stable across processes and releases.
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SRC: &str = r#"
[scenario]
name = "churn"
duration = "10m"

[topology]
sites = 10
uplinks = 2

[[fault]]
name = "chaos"
at = "0s"
kind = "random-link-failures"
count = 100
over = "9m"
lasting = ["1s", "20s"]

[[fault]]
at = "30s"
for = "10s"
kind = "crash"
site = "s3"
"#;

    fn scenario() -> Scenario {
        crate::parse(Path::new("churn.toml"), SRC).unwrap()
    }

    #[test]
    fn random_failures_are_the_same_for_the_same_seed() {
        let s = scenario();
        assert_eq!(s.faults_for_seed(7), s.faults_for_seed(7));
    }

    #[test]
    fn random_failures_differ_across_seeds() {
        let s = scenario();
        assert_ne!(s.faults_for_seed(7), s.faults_for_seed(8));
    }

    #[test]
    fn expanded_failures_stay_within_their_bounds_and_are_sorted() {
        let s = scenario();
        let faults = s.faults_for_seed(42);
        let generated: Vec<_> = faults.iter().filter(|f| f.name.starts_with("chaos#")).collect();
        assert_eq!(generated.len(), 100);
        assert_eq!(faults.len(), 101, "the crash is kept");
        assert!(faults.windows(2).all(|w| w[0].at <= w[1].at));
        for f in generated {
            let FaultKind::UplinkDown { site, uplinks } = &f.kind else { panic!("{f:?}") };
            assert!(s.topology.has_site(site));
            assert!(uplinks.len() == 1 && uplinks[0].0 < 2);
            assert!(f.at < Duration::from_mins(9));
            let lasting = f.duration.unwrap();
            assert!((Duration::from_secs(1)..=Duration::from_secs(20)).contains(&lasting));
        }
    }

    #[test]
    fn failures_use_every_site_and_uplink_eventually() {
        let s = scenario();
        let faults = s.faults_for_seed(1);
        let sites: std::collections::BTreeSet<_> =
            faults.iter().filter_map(|f| f.kind.site().cloned()).collect();
        assert_eq!(sites.len(), 10);
    }
}
