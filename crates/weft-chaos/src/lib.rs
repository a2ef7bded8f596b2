//! Weft's chaos suite, minus the simulator: the scenario format and the
//! reports.
//!
//! A scenario file (TOML, under `scenarios/`) describes a mesh — sites,
//! uplinks per site, full mesh or hub-and-spoke, link profiles — the traffic
//! crossing it, a schedule of faults (uplinks down, brownouts, flapping,
//! partitions, crashes, extra delay, random link failures) and assertions that
//! must hold in every run (failover gaps, convergence, no false deaths,
//! reachability, relaying only when direct paths are down, bounded path
//! churn). A runner executes each scenario over many seeds in the
//! deterministic simulator and reports every run.
//!
//! This crate parses and validates scenarios (every error names file, line and
//! column), expands seeded fault generators deterministically, and writes the
//! reports: a readable summary, JSON, and `JUnit` XML.
//!
//! It does **not** run anything, read a clock, or touch the file system:
//! functions take text and return values; reading scenario files and writing
//! reports is the caller's job.
//!
//! # How to drive it
//! 1. [`parse`] each file's text into a [`Scenario`] (a list of
//!    [`Diagnostic`]s on failure: print them, one per line).
//! 2. For each seed, take [`Scenario::faults_for_seed`] — the fault schedule
//!    with every `random-link-failures` generator drawn from that seed — and
//!    run the scenario in the simulator.
//! 3. Record each run as a [`CaseResult`] ([`CaseResult::new`] builds its
//!    replay command, [`CaseResult::record`] adds each [`AssertionOutcome`]).
//! 4. Write [`summary`], [`json_report`] and [`junit_xml`] of all the results.
//!
//! ```
//! use std::path::Path;
//! use weft_chaos::{CaseResult, DEFAULT_REPLAY_PREFIX, parse, summary};
//!
//! let text = r#"
//! [scenario]
//! name = "tiny"
//! duration = "1m"
//!
//! [topology]
//! sites = 3
//!
//! [[fault]]
//! at = "10s"
//! for = "5s"
//! kind = "crash"
//! site = "s1"
//! "#;
//! let scenario = parse(Path::new("tiny.toml"), text).unwrap();
//! assert_eq!(scenario.faults_for_seed(1).len(), 1);
//! let case = CaseResult::new("tiny.toml", &scenario.name, 1, DEFAULT_REPLAY_PREFIX);
//! assert!(summary(&[case]).starts_with("chaos: 1 scenario, 1 run: 1 passed, 0 failed"));
//! ```
//!
//! # The scenario format
//! See the files in `scenarios/` for commented examples. In short:
//! `[scenario]` (`name`, `description`, `duration`, `seeds`), `[topology]`
//! (`sites`, `uplinks`, `mode`, `hubs` / `hub_count`, `[topology.default_link]`
//! and `[[topology.link]]` with `delay`, `jitter`, `loss`, `rate`), an
//! optional `[control]` (`controllers`, `store`; see [`Control`]), `[[flow]]`
//! (`name`, `from`, `to`, `class`, `pps`, `start`, `stop`), `[[fault]]`
//! (`name`, `at`, `for`, `kind` and the kind's keys; see [`FaultKind`]),
//! `[[assert]]` (`name`, `kind` and the kind's keys; see [`AssertionKind`]).
//! Durations and times are strings with units (`"500ms"`, `"1m30s"`); times
//! count from the start of the run. Sets of sites are written `"s0-s14"`,
//! `"s1, s3"` or `["s1", "s5-s9"]`. Unknown keys are refused.
//!
//! # Layout
//! - [`duration`]: `"1m30s"` ⇄ [`Duration`](std::time::Duration).
//! - [`scenario`]: the validated model — [`Scenario`], [`Topology`],
//!   [`Flow`], [`Fault`], [`Assertion`] — and seeded fault expansion.
//! - `parse`: TOML with spans (`raw`), then checks of the scenario header
//!   and topology, faults, assertions and site sets, each in its own file.
//! - [`report`]: [`CaseResult`] and the summary, JSON and `JUnit` writers (with
//!   their XML escaping).
#![forbid(unsafe_code)]

pub mod duration;
mod parse;
pub mod report;
pub mod scenario;

pub use duration::{DurationError, format_duration, parse_duration};
pub use parse::parse;
pub use report::{
    AssertionOutcome, CaseResult, DEFAULT_REPLAY_PREFIX, Report, ScenarioReport, json_report,
    junit_xml, parse_json_report, replay_command, summary,
};
pub use scenario::{
    After, Assertion, AssertionKind, Control, DEFAULT_PPS, DEFAULT_SEEDS, Fault, FaultKind, Flow,
    LinkFailure, LinkProfile, Mode, RandomLinkFailures, Reachability, Scenario, Topology,
    TrafficClass,
};
pub use weft_types::Diagnostic;
