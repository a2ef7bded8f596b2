//! The `JUnit` XML report, for CI systems that show test results.
//!
//! `<testsuites>` holds one `<testsuite>` per scenario file and one
//! `<testcase name="SCENARIO seed=N" classname="chaos.SCENARIO">` per run. A
//! failed run carries `<failure type="assertion">` (the first failing
//! assertion in `message`; every failing one, the seed and the replay command
//! in the body); a run that could not complete carries `<error type="run">`.

use std::fmt::Write as _;
use std::time::Duration;

use super::xml::{escape_attr, escape_text};
use super::{CaseResult, Group, by_file};

/// The `JUnit` XML report of `results`.
pub fn junit_xml(results: &[CaseResult]) -> String {
    let groups = by_file(results);
    let failures: usize = groups.iter().map(|g| g.failed() - g.errors()).sum();
    let errors: usize = groups.iter().map(Group::errors).sum();
    let time: Duration = groups.iter().map(Group::wall_time).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"weft-chaos\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">",
        results.len(),
        seconds(time)
    );
    for g in &groups {
        suite(&mut out, g);
    }
    out.push_str("</testsuites>\n");
    out
}

fn suite(out: &mut String, g: &Group<'_>) {
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" file=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\">",
        escape_attr(g.scenario),
        escape_attr(g.file),
        g.cases.len(),
        g.failed() - g.errors(),
        g.errors(),
        seconds(g.wall_time())
    );
    for case in &g.cases {
        let _ = write!(
            out,
            "    <testcase name=\"{} seed={}\" classname=\"chaos.{}\" file=\"{}\" time=\"{}\"",
            escape_attr(&case.scenario),
            case.seed,
            escape_attr(&case.scenario),
            escape_attr(&case.file),
            seconds(case.wall_time)
        );
        if case.passed {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        if let Some(error) = &case.error {
            let _ = writeln!(
                out,
                "      <error message=\"{}\" type=\"run\">{}</error>",
                escape_attr(error),
                escape_text(&body(case))
            );
        } else {
            let first = case.failures().next();
            let message = first.map_or_else(
                || "the case failed without a failing assertion".to_owned(),
                |a| format!("{}: {}", a.name, a.message),
            );
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"assertion\">{}</failure>",
                escape_attr(&message),
                escape_text(&body(case))
            );
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n");
}

/// What a failed case's element says: each failing assertion, the seed and
/// how to replay it.
fn body(case: &CaseResult) -> String {
    let mut b = String::new();
    if let Some(e) = &case.error {
        let _ = writeln!(b, "run error: {e}");
    }
    for a in case.failures() {
        let _ = write!(b, "{} [{}]: {}", a.name, a.kind, a.message);
        if let Some(m) = &a.measured {
            let _ = write!(b, " (measured {m}");
            let _ = write!(
                b,
                "{})",
                a.limit.as_ref().map(|l| format!(", limit {l}")).unwrap_or_default()
            );
        } else if let Some(l) = &a.limit {
            let _ = write!(b, " (limit {l})");
        }
        b.push('\n');
    }
    let _ = writeln!(b, "seed: {}", case.seed);
    let _ = write!(b, "replay: {}", case.replay);
    b
}

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::results;
    use super::*;

    #[test]
    fn the_report_has_one_suite_per_file_and_one_case_per_seed() {
        let x = junit_xml(&results());
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"weft-chaos\" tests=\"4\" failures=\"1\" errors=\"1\""), "{x}");
        assert_eq!(x.matches("<testsuite ").count(), 2);
        assert_eq!(x.matches("<testcase ").count(), 4);
        assert!(x.contains("<testsuite name=\"hub-loses-uplinks\" file=\"scenarios/hub.toml\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"3.704\">"), "{x}");
        assert!(x.contains("<testcase name=\"hub-loses-uplinks seed=0\" classname=\"chaos.hub-loses-uplinks\" file=\"scenarios/hub.toml\" time=\"1.235\"/>"), "{x}");
        assert!(x.ends_with("  </testsuite>\n</testsuites>\n"));
    }

    #[test]
    fn a_failure_names_the_assertion_the_seed_and_the_replay_command_escaped() {
        let x = junit_xml(&results());
        assert!(x.contains(
            "<failure message=\"voice fails over fast: flow &quot;voice&quot; went 2.5s without a packet &lt;after&gt; hub &amp; co\" type=\"assertion\">"
        ), "{x}");
        assert!(x.contains(
            "voice fails over fast [max-failover-gap]: flow \"voice\" went 2.5s without a packet &lt;after&gt; hub &amp; co (measured 2.5s, limit 1s)\nseed: 1\nreplay: weft sim run scenarios/hub.toml --seed 1</failure>"
        ), "{x}");
        assert!(x.contains("<error message=\"simulator refused: site s31 does not exist\" type=\"run\">run error: simulator refused"), "{x}");
    }

    #[test]
    fn hostile_names_cannot_break_the_document() {
        let mut r = results();
        r[2].scenario = "q\"<&>'\u{1}".into();
        r[2].assertions[1].message = "line\nbreak \u{1b}[31m".into();
        let x = junit_xml(&r);
        assert!(x.contains("name=\"q&quot;&lt;&amp;&gt;&apos;\\u{1} seed=1\""), "{x}");
        assert!(x.contains("message=\"voice fails over fast: line&#10;break \\u{1b}[31m\""), "{x}");
        assert!(!x.chars().any(|c| c.is_control() && c != '\n'), "{x}");
        assert_eq!(x.matches('<').count(), x.matches('>').count());
    }
}
