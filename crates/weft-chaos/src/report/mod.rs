//! Results of chaos runs and the three ways to write them: a readable
//! [`summary`], a [`json_report`], and a [`junit_xml`] report for CI.
//!
//! The runner fills one [`CaseResult`] per (scenario, seed) and hands the
//! whole list to the writers; they group cases by scenario file, in the order
//! the files first appear.

mod json;
mod junit;
mod summary;
mod xml;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use json::{JSON_REPORT_VERSION, Report, ScenarioReport, json_report, parse_json_report};
pub use junit::junit_xml;
pub use summary::summary;
pub use xml::{escape_attr, escape_text};

/// The replay command prefix of the `weft` CLI: `weft sim run FILE --seed N`.
pub const DEFAULT_REPLAY_PREFIX: &str = "weft sim run";

/// How one assertion fared in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionOutcome {
    /// The assertion's name (see [`crate::Assertion::name`]).
    pub name: String,
    /// Its kind, as the scenario file writes it (`max-failover-gap`).
    pub kind: String,
    /// Whether it held.
    pub passed: bool,
    /// What was measured, for humans (`"1.42s"`, `"7 changes"`), if anything.
    pub measured: Option<String>,
    /// The limit it was held to (`"1s"`, `"3 per 1m"`), if any.
    pub limit: Option<String>,
    /// One sentence saying what happened (`"flow voice went 1.42s without a
    /// packet after uplink-down#1"`).
    pub message: String,
}

/// The result of running one scenario with one seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file, as the runner was given it.
    pub file: String,
    /// The seed.
    pub seed: u64,
    /// True when the run completed and every assertion held;
    /// [`CaseResult::record`] and [`CaseResult::set_error`] keep it so.
    pub passed: bool,
    /// The run itself failed (the simulator refused the scenario, a node
    /// panicked): no assertion could be judged.
    pub error: Option<String>,
    /// Every assertion's outcome, in file order.
    pub assertions: Vec<AssertionOutcome>,
    /// Real time the run took.
    #[serde(rename = "wall_time_ms", with = "millis")]
    pub wall_time: Duration,
    /// Virtual time simulated.
    #[serde(rename = "simulated_time_ms", with = "millis")]
    pub simulated_time: Duration,
    /// The shell command that replays exactly this run.
    pub replay: String,
}

impl CaseResult {
    /// A passing result with no assertions yet, and its replay command
    /// (`replay_prefix FILE --seed SEED`, e.g. with [`DEFAULT_REPLAY_PREFIX`]).
    pub fn new(file: &str, scenario: &str, seed: u64, replay_prefix: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            file: file.to_owned(),
            seed,
            passed: true,
            error: None,
            assertions: Vec::new(),
            wall_time: Duration::ZERO,
            simulated_time: Duration::ZERO,
            replay: replay_command(replay_prefix, file, seed),
        }
    }

    /// Adds an assertion outcome; a failed one fails the case.
    pub fn record(&mut self, outcome: AssertionOutcome) {
        self.passed &= outcome.passed;
        self.assertions.push(outcome);
    }

    /// Marks the run itself as failed.
    pub fn set_error(&mut self, error: impl Into<String>) {
        self.passed = false;
        self.error = Some(error.into());
    }

    /// The assertions that did not hold.
    pub fn failures(&self) -> impl Iterator<Item = &AssertionOutcome> {
        self.assertions.iter().filter(|a| !a.passed)
    }
}

/// `PREFIX FILE --seed SEED`, with `FILE` quoted for a POSIX shell when it
/// needs to be.
pub fn replay_command(prefix: &str, file: &str, seed: u64) -> String {
    let plain = !file.is_empty()
        && file.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@%=".contains(&b));
    let file = if plain { file.to_owned() } else { format!("'{}'", file.replace('\'', r"'\''")) };
    format!("{prefix} {file} --seed {seed}")
}

/// The cases of one scenario file.
pub(crate) struct Group<'a> {
    pub(crate) file: &'a str,
    pub(crate) scenario: &'a str,
    pub(crate) cases: Vec<&'a CaseResult>,
}

impl Group<'_> {
    pub(crate) fn failed(&self) -> usize {
        self.cases.iter().filter(|c| !c.passed).count()
    }

    pub(crate) fn errors(&self) -> usize {
        self.cases.iter().filter(|c| c.error.is_some()).count()
    }

    pub(crate) fn wall_time(&self) -> Duration {
        self.cases.iter().map(|c| c.wall_time).sum()
    }
}

/// Cases grouped by scenario file, files in order of first appearance, cases
/// by seed.
pub(crate) fn by_file(results: &[CaseResult]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for r in results {
        match groups.iter_mut().find(|g| g.file == r.file) {
            Some(g) => g.cases.push(r),
            None => groups.push(Group { file: &r.file, scenario: &r.scenario, cases: vec![r] }),
        }
    }
    for g in &mut groups {
        g.cases.sort_by_key(|c| c.seed);
    }
    groups
}

/// Durations as fractional milliseconds; reading rounds to the nanosecond,
/// so values round-trip exactly for any run shorter than a few days.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_nanos() as f64 / 1e6)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        if !ms.is_finite() || ms < 0.0 {
            return Err(serde::de::Error::custom(
                "a duration in milliseconds must be finite and non-negative",
            ));
        }
        Ok(Duration::from_nanos((ms * 1e6).round() as u64))
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use std::time::Duration;

    use super::{AssertionOutcome, CaseResult, DEFAULT_REPLAY_PREFIX};

    /// Two scenarios, three seeds of the first (one failing), one of the second.
    pub(crate) fn results() -> Vec<CaseResult> {
        let ok = |name: &str, kind: &str| AssertionOutcome {
            name: name.into(),
            kind: kind.into(),
            passed: true,
            measured: Some("180ms".into()),
            limit: Some("1s".into()),
            message: "longest gap 180ms".into(),
        };
        let mut out = Vec::new();
        for seed in [2, 0, 1] {
            let mut c = CaseResult::new(
                "scenarios/hub.toml",
                "hub-loses-uplinks",
                seed,
                DEFAULT_REPLAY_PREFIX,
            );
            c.wall_time = Duration::from_micros(1_234_567 + seed);
            c.simulated_time = Duration::from_mins(3);
            c.record(ok("voice fails over", "max-failover-gap"));
            if seed == 1 {
                c.record(AssertionOutcome {
                    passed: false,
                    measured: Some("2.5s".into()),
                    message: "flow \"voice\" went 2.5s without a packet <after> hub & co".into(),
                    ..ok("voice fails over fast", "max-failover-gap")
                });
            }
            out.push(c);
        }
        let mut c =
            CaseResult::new("scenarios/part.toml", "partition-heals", 9, DEFAULT_REPLAY_PREFIX);
        c.set_error("simulator refused: site s31 does not exist");
        out.push(c);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_commands_quote_files_only_when_needed() {
        assert_eq!(
            replay_command("weft sim run", "scenarios/a.toml", 7),
            "weft sim run scenarios/a.toml --seed 7"
        );
        assert_eq!(
            replay_command("weft sim run", "my dir/it's.toml", 1),
            r"weft sim run 'my dir/it'\''s.toml' --seed 1"
        );
    }

    #[test]
    fn a_failed_assertion_or_a_run_error_fails_the_case() {
        let r = fixtures::results();
        assert_eq!(r.iter().map(|c| c.passed).collect::<Vec<_>>(), [true, true, false, false]);
        assert_eq!(r[2].failures().count(), 1);
    }

    #[test]
    fn cases_group_by_file_in_first_appearance_order_sorted_by_seed() {
        let r = fixtures::results();
        let g = by_file(&r);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].cases.iter().map(|c| c.seed).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!((g[0].failed(), g[1].failed(), g[1].errors()), (1, 1, 1));
    }
}
