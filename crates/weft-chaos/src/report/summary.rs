//! The readable summary printed at the end of a chaos run.

use std::fmt::Write as _;

use super::{CaseResult, by_file};
use crate::duration::format_duration;

/// A readable summary: one line per scenario with its passed/failed counts
/// over seeds, then every failing case with its assertion messages and the
/// command that replays it.
///
/// ```text
/// chaos: 2 scenarios, 4 runs: 2 passed, 2 failed
///
/// FAIL  hub-loses-uplinks   2/3 seeds passed   scenarios/hub.toml
/// FAIL  partition-heals     0/1 seeds passed   scenarios/part.toml
///
/// failures:
///
/// hub-loses-uplinks seed=1 (simulated 3m, wall 1.23s)
///   FAIL voice fails over fast [max-failover-gap]: flow "voice" went 2.5s … (measured 2.5s, limit 1s)
///   replay: weft sim run scenarios/hub.toml --seed 1
/// ```
pub fn summary(results: &[CaseResult]) -> String {
    let groups = by_file(results);
    let failed: usize = groups.iter().map(super::Group::failed).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "chaos: {} scenario{}, {} run{}: {} passed, {} failed",
        groups.len(),
        plural(groups.len()),
        results.len(),
        plural(results.len()),
        results.len() - failed,
        failed
    );
    if groups.is_empty() {
        return out;
    }
    out.push('\n');
    let width = groups.iter().map(|g| g.scenario.chars().count()).max().unwrap_or(0);
    for g in &groups {
        let verdict = if g.failed() == 0 { "ok  " } else { "FAIL" };
        let counts = format!("{}/{} seeds passed", g.cases.len() - g.failed(), g.cases.len());
        let _ = writeln!(out, "{verdict}  {:width$}  {counts:<18}  {}", g.scenario, g.file);
    }
    if failed == 0 {
        return out;
    }
    out.push_str("\nfailures:\n");
    for case in groups.iter().flat_map(|g| &g.cases).filter(|c| !c.passed) {
        let _ = writeln!(
            out,
            "\n{} seed={} (simulated {}, wall {})",
            case.scenario,
            case.seed,
            format_duration(case.simulated_time),
            format_duration(case.wall_time)
        );
        if let Some(e) = &case.error {
            let _ = writeln!(out, "  ERROR {}", one_line(e));
        }
        for a in case.failures() {
            let _ =
                write!(out, "  FAIL {} [{}]: {}", one_line(&a.name), a.kind, one_line(&a.message));
            match (&a.measured, &a.limit) {
                (Some(m), Some(l)) => {
                    let _ = write!(out, " (measured {}, limit {})", one_line(m), one_line(l));
                }
                (Some(m), None) => {
                    let _ = write!(out, " (measured {})", one_line(m));
                }
                (None, Some(l)) => {
                    let _ = write!(out, " (limit {})", one_line(l));
                }
                (None, None) => {}
            }
            out.push('\n');
        }
        let _ = writeln!(out, "  replay: {}", case.replay);
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Keeps one failure on one line: newlines and other controls become spaces.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::results;
    use super::*;

    #[test]
    fn each_scenario_gets_one_line_with_its_counts() {
        let s = summary(&results());
        assert!(s.starts_with("chaos: 2 scenarios, 4 runs: 2 passed, 2 failed\n"), "{s}");
        assert!(s.contains("FAIL  hub-loses-uplinks  2/3 seeds passed"), "{s}");
        assert!(s.contains("FAIL  partition-heals    0/1 seeds passed"), "{s}");
    }

    #[test]
    fn failing_cases_show_their_messages_and_replay_commands() {
        let s = summary(&results());
        assert!(s.contains("hub-loses-uplinks seed=1 (simulated 3m, wall 1.234568s)"), "{s}");
        assert!(
            s.contains("  FAIL voice fails over fast [max-failover-gap]: flow \"voice\" went 2.5s"),
            "{s}"
        );
        assert!(s.contains("(measured 2.5s, limit 1s)"), "{s}");
        assert!(s.contains("  replay: weft sim run scenarios/hub.toml --seed 1\n"), "{s}");
        assert!(s.contains("  ERROR simulator refused"), "{s}");
        assert!(!s.contains("seed=0"), "passing cases are not listed:\n{s}");
    }

    #[test]
    fn an_all_green_run_is_short() {
        let all: Vec<_> = results().into_iter().filter(|c| c.passed).collect();
        let s = summary(&all);
        assert_eq!(s.lines().count(), 3, "{s}");
        assert!(s.contains("ok    hub-loses-uplinks  2/2 seeds passed"), "{s}");
    }
}
