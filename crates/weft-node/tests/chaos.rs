//! The chaos runner: scenarios pass, and a scenario can fail — a broken
//! assertion or a weakened failover setting gives a failing case whose
//! report says what, where, and how to replay it. The control plane's
//! assertions too: a crashed or cut-off leader is replaced in time, and a
//! weakened election fails the gap.

use std::path::Path;
use std::time::Duration;

use weft_chaos::{DEFAULT_REPLAY_PREFIX, Scenario, junit_xml, parse, summary};
use weft_node::sim::chaos::{run_case, run_case_sim, run_case_with};
use weft_path::{EngineConfig, IntervalMode};

fn scenario(name: &str, edit: impl Fn(String) -> String) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios").join(name);
    let text = std::fs::read_to_string(&path).expect("the scenario file");
    parse(Path::new(&format!("scenarios/{name}")), &edit(text)).expect("a valid scenario")
}

#[test]
fn the_brownout_scenario_passes_and_reports_what_it_measured() {
    let sc = scenario("brownout-realtime.toml", |t| t);
    let case = run_case(&sc, 3, DEFAULT_REPLAY_PREFIX);
    assert!(case.passed, "{}", summary(std::slice::from_ref(&case)));
    assert_eq!(case.assertions.len(), sc.assertions.len(), "every assertion judged");
    assert!(case.assertions.iter().all(|a| !a.message.is_empty()));
    assert_eq!(case.simulated_time, sc.duration);
}

#[test]
fn a_deliberately_broken_assertion_fails_with_the_flow_the_seed_and_the_replay_command() {
    let sc = scenario("brownout-realtime.toml", |t| t.replacen("max = \"1s\"", "max = \"1ms\"", 1));
    let case = run_case(&sc, 3, DEFAULT_REPLAY_PREFIX);
    assert!(!case.passed);
    let failed: Vec<_> = case.failures().collect();
    assert_eq!(failed.len(), 1, "only the broken one: {failed:?}");
    assert_eq!(failed[0].kind, "max-failover-gap");
    assert!(failed[0].message.contains("flow voice"), "{}", failed[0].message);
    assert_eq!(case.replay, "weft sim run scenarios/brownout-realtime.toml --seed 3");
    let text = summary(std::slice::from_ref(&case));
    assert!(text.contains("--seed 3") && text.contains("FAIL"), "{text}");
    let xml = junit_xml(&[case]);
    assert!(xml.contains("<failure") && xml.contains("seed=3"), "{xml}");
}

/// Four sites; s1's first uplink dies under a call from s0.
const UPLINK_CUT: &str = r#"
[scenario]
name = "uplink-cut"
duration = "40s"

[topology]
sites = 4
uplinks = 2

# s1's second uplink is too slow for a call: the call takes the first, which is cut.
[[topology.link]]
site = "s1"
uplink = 1
delay = "300ms"

[[flow]]
name = "call"
from = "s0"
to = "s1"
class = "realtime"
pps = 50

[[fault]]
name = "cut"
at = "20s"
for = "15s"
kind = "uplink-down"
site = "s1"
uplink = 0

[[assert]]
name = "the call moves within a second"
kind = "max-failover-gap"
flow = "call"
max = "1s"
"#;

#[test]
fn a_weakened_failover_setting_makes_a_passing_scenario_fail_on_its_gap() {
    let sc = parse(Path::new("uplink-cut.toml"), UPLINK_CUT).expect("a valid scenario");
    let fine = run_case(&sc, 5, DEFAULT_REPLAY_PREFIX);
    assert!(fine.passed, "{}", summary(std::slice::from_ref(&fine)));
    // Probes every 3 s whatever the traffic, no acceleration after a loss,
    // ten silent intervals before a path is down: the cut is noticed after
    // half a minute, and the call with it.
    let weak = run_case_with(&sc, 5, DEFAULT_REPLAY_PREFIX, |cfg| {
        cfg.engine = EngineConfig::fixed(Duration::from_secs(3));
        cfg.engine.probe.interval = IntervalMode::Fixed(Duration::from_secs(3));
        cfg.engine.probe.accel_probes = 0;
        cfg.engine.probe.detect_multiplier = std::num::NonZeroU8::new(10).expect("non-zero");
    });
    assert!(!weak.passed, "{}", summary(std::slice::from_ref(&weak)));
    let gap = weak.failures().next().expect("a failure");
    assert_eq!(gap.kind, "max-failover-gap");
    assert!(gap.message.contains("flow call went"), "{}", gap.message);
    assert!(gap.measured.as_deref().is_some_and(|m| m != "0s"), "{gap:?}");
}

/// Five sites, three controllers, the store on s3; the leader crashes at 10 s.
const LEADER_CRASH: &str = r#"
[scenario]
name = "leader-crash"
duration = "30s"

[topology]
sites = 5
uplinks = 2

[control]
controllers = ["s0", "s1", "s2"]
store = "s3"

[[fault]]
name = "crash"
at = "10s"
for = "10s"
kind = "crash-leader"

[[assert]]
name = "gap"
kind = "max-leader-gap"
max = "3s"

[[assert]]
name = "one leader"
kind = "single-leader"
"#;

#[test]
fn a_crashed_leader_is_replaced_within_3_s_by_one_new_leader() {
    let sc = parse(Path::new("leader-crash.toml"), LEADER_CRASH).expect("a valid scenario");
    let (case, sim) = run_case_sim(&sc, 2, DEFAULT_REPLAY_PREFIX, |_| {});
    assert!(case.passed, "{}", summary(std::slice::from_ref(&case)));
    let kinds: Vec<&str> = case.assertions.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["max-leader-gap", "single-leader"]);
    let st = sim.control().expect("a control plane");
    assert_eq!(st.elections, 2, "the first leader and its successor");
    assert!(st.max_gap.0 > Duration::from_secs(1), "the old lease had to expire: {st:?}");
    assert!(st.writes_landed > 200 && st.unfenced.is_empty());
    // Who led: one site, then another; the crashed one follows after its restart.
    let leaders: Vec<&Vec<usize>> = st.leaders.iter().map(|(_, l)| l).collect();
    assert!(leaders.iter().all(|l| l.len() <= 1), "{leaders:?}");
    let distinct: std::collections::BTreeSet<_> =
        leaders.iter().filter_map(|l| l.first()).collect();
    assert_eq!(distinct.len(), 2, "{leaders:?}");
    let trace = sim.trace(&[], Duration::ZERO, sc.duration);
    assert!(trace.iter().any(|l| l.contains("control: controller stopped (crash)")), "{trace:#?}");
    assert_eq!(trace.iter().filter(|l| l.contains("control: elected leader")).count(), 2);
}

#[test]
fn the_cut_off_leader_steps_down_before_its_successor_is_elected() {
    let sc = scenario("controller-partition.toml", |t| t);
    let (case, sim) = run_case_sim(&sc, 4, DEFAULT_REPLAY_PREFIX, |_| {});
    assert!(case.passed, "{}", summary(std::slice::from_ref(&case)));
    let st = sim.control().expect("a control plane");
    // s1 led first, lost the store at 30 s, and someone else leads at the end.
    assert_eq!(
        st.leaders.iter().find(|(_, l)| !l.is_empty()).map(|(_, l)| l.clone()),
        Some(vec![1])
    );
    assert!(st.elections >= 2, "{st:?}");
    // Its writes while cut off, before it stepped down, never reached the store.
    assert!(st.writes_lost > 0 && st.writes_refused == 0 && st.unfenced.is_empty(), "{st:?}");
    let last = &st.leaders.last().expect("a timeline").1;
    assert!(last.len() == 1 && last[0] != 1, "{last:?}");
    assert_eq!(st.split_brain.0, 0);
}

#[test]
fn a_weakened_election_makes_the_leader_gap_fail() {
    let sc = parse(Path::new("leader-crash.toml"), LEADER_CRASH).expect("a valid scenario");
    // Followers look at the leader key every 10 s instead of 200 ms: the
    // crashed leader's key expires, and nobody campaigns for seconds.
    let weak = run_case_with(&sc, 2, DEFAULT_REPLAY_PREFIX, |cfg| {
        cfg.control.as_mut().expect("a control plane").election.poll_every =
            Duration::from_secs(10);
    });
    assert!(!weak.passed, "{}", summary(std::slice::from_ref(&weak)));
    let failed: Vec<_> = weak.failures().collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].kind, "max-leader-gap");
    assert!(failed[0].message.contains("longest time without a leader"), "{}", failed[0].message);
}
