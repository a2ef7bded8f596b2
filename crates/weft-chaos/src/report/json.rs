//! The JSON report: machine-readable, with stable field names.
//!
//! ```json
//! { "version": 1, "runs": 4, "passed": 2, "failed": 2,
//!   "scenarios": [ { "name": "hub-loses-uplinks", "file": "scenarios/hub.toml",
//!                    "runs": 3, "passed": 2, "failed": 1,
//!                    "cases": [ { "scenario": "…", "file": "…", "seed": 0, "passed": true,
//!                                 "error": null, "assertions": [ … ],
//!                                 "wall_time_ms": 1234.5, "simulated_time_ms": 180000.0,
//!                                 "replay": "weft sim run scenarios/hub.toml --seed 0" } ] } ] }
//! ```
//!
//! Fields are only ever added; a removal or a change of meaning bumps
//! [`JSON_REPORT_VERSION`].

use serde::{Deserialize, Serialize};

use super::{CaseResult, by_file};

/// The `version` field of the reports this crate writes.
pub const JSON_REPORT_VERSION: u32 = 1;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Format version ([`JSON_REPORT_VERSION`]).
    pub version: u32,
    /// Cases run.
    pub runs: usize,
    /// Cases passed.
    pub passed: usize,
    /// Cases failed (an assertion failed or the run errored).
    pub failed: usize,
    /// One entry per scenario file, in order of first appearance.
    pub scenarios: Vec<ScenarioReport>,
}

/// The cases of one scenario file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// Cases run (one per seed).
    pub runs: usize,
    /// Cases passed.
    pub passed: usize,
    /// Cases failed.
    pub failed: usize,
    /// The cases, by seed.
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// Groups `results` by scenario file.
    pub fn from_results(results: &[CaseResult]) -> Self {
        let scenarios: Vec<ScenarioReport> = by_file(results)
            .into_iter()
            .map(|g| ScenarioReport {
                name: g.scenario.to_owned(),
                file: g.file.to_owned(),
                runs: g.cases.len(),
                passed: g.cases.len() - g.failed(),
                failed: g.failed(),
                cases: g.cases.into_iter().cloned().collect(),
            })
            .collect();
        let failed = scenarios.iter().map(|s| s.failed).sum();
        Self {
            version: JSON_REPORT_VERSION,
            runs: results.len(),
            passed: results.len() - failed,
            failed,
            scenarios,
        }
    }

    /// Every case, scenario by scenario.
    pub fn cases(&self) -> impl Iterator<Item = &CaseResult> {
        self.scenarios.iter().flat_map(|s| &s.cases)
    }
}

/// The JSON report of `results` (pretty-printed, ending in a newline).
pub fn json_report(results: &[CaseResult]) -> String {
    let mut s = serde_json::to_string_pretty(&Report::from_results(results))
        .expect("a report has string keys and finite numbers");
    s.push('\n');
    s
}

/// Reads a report [`json_report`] wrote (e.g. to compare two runs).
pub fn parse_json_report(text: &str) -> Result<Report, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::results;
    use super::*;

    #[test]
    fn a_report_reads_back_to_the_same_cases() {
        let results = results();
        let text = json_report(&results);
        let report = parse_json_report(&text).unwrap();
        assert_eq!(report, Report::from_results(&results));
        let mut back: Vec<CaseResult> = report.cases().cloned().collect();
        let mut want = results.clone();
        back.sort_by(|a, b| (&a.file, a.seed).cmp(&(&b.file, b.seed)));
        want.sort_by(|a, b| (&a.file, a.seed).cmp(&(&b.file, b.seed)));
        assert_eq!(back, want);
    }

    #[test]
    fn field_names_are_stable() {
        let v: serde_json::Value = serde_json::from_str(&json_report(&results())).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(
            (v["runs"].as_u64(), v["passed"].as_u64(), v["failed"].as_u64()),
            (Some(4), Some(2), Some(2))
        );
        let case = &v["scenarios"][0]["cases"][1];
        for key in [
            "scenario",
            "file",
            "seed",
            "passed",
            "error",
            "assertions",
            "wall_time_ms",
            "simulated_time_ms",
            "replay",
        ] {
            assert!(case.get(key).is_some(), "missing {key} in {case}");
        }
        assert_eq!(case["simulated_time_ms"], 180_000.0);
        let a = &case["assertions"][1];
        for key in ["name", "kind", "passed", "measured", "limit", "message"] {
            assert!(a.get(key).is_some(), "missing {key} in {a}");
        }
    }

    #[test]
    fn negative_durations_are_refused() {
        let mut v: serde_json::Value = serde_json::from_str(&json_report(&results())).unwrap();
        v["scenarios"][0]["cases"][0]["wall_time_ms"] = (-1.0).into();
        assert!(parse_json_report(&v.to_string()).is_err());
    }
}
