//! Parsing and validation: accepted scenarios, and refused ones with the
//! exact `file:line:col` of each problem.

use std::path::Path;
use std::time::Duration;

use weft_types::{Ratio, SiteId, UplinkId};

use crate::scenario::{AssertionKind, FaultKind, Mode, TrafficClass};
use crate::{Scenario, parse};

const HEAD: &str =
    "[scenario]\nname = \"t\"\nduration = \"10m\"\n\n[topology]\nsites = 4\nuplinks = 2\n";

fn ok(body: &str) -> Scenario {
    let src = format!("{HEAD}{body}");
    parse(Path::new("t.toml"), &src).unwrap_or_else(|e| panic!("{e:?}\n{src}"))
}

/// Every diagnostic as `file:line:col: message`.
fn errors(body: &str) -> Vec<String> {
    let src = format!("{HEAD}{body}");
    parse(Path::new("t.toml"), &src)
        .expect_err("should be refused")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn one_error(body: &str) -> String {
    let e = errors(body);
    assert_eq!(e.len(), 1, "{e:#?}");
    e[0].clone()
}

fn site(s: &str) -> SiteId {
    SiteId::new(s).unwrap()
}

#[test]
fn a_minimal_scenario_gets_sensible_defaults() {
    let s = ok("");
    assert_eq!((s.name.as_str(), s.duration, s.seeds), ("t", Duration::from_mins(10), 10));
    assert_eq!(s.topology.sites.len(), 4);
    assert_eq!(s.topology.sites[3], site("s3"));
    assert_eq!((s.topology.mode, s.topology.uplinks), (Mode::FullMesh, 2));
    assert_eq!(s.topology.link(&site("s0"), UplinkId(1)).delay, Duration::from_millis(10));
}

#[test]
fn a_bad_duration_is_reported_at_its_value() {
    let src = "[scenario]\nname = \"t\"\nduration = \"10 minutes\"\n[topology]\nsites = 2\n";
    let d = parse(Path::new("t.toml"), src).unwrap_err();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].line, d[0].column), (3, 12));
    assert!(d[0].message.contains("unknown unit \"minutes\""), "{}", d[0]);
    let src = "[scenario]\nname = \"t\"\nduration = 600\n[topology]\nsites = 2\n";
    let d = parse(Path::new("t.toml"), src).unwrap_err();
    assert_eq!(
        d[0].to_string(),
        "t.toml:3:12: durations are strings with a unit: write \"600s\" or \"600ms\" (units: us, ms, s, m, h)"
    );
    let e = one_error("[[fault]]\nat = \"90\"\nkind = \"crash\"\nsite = \"s1\"\n");
    assert!(e.starts_with("t.toml:9:6: \"90\" has no unit: write e.g. \"90s\""), "{e}");
}

#[test]
fn an_unknown_key_is_reported_at_the_key() {
    let e = one_error(
        "[[flow]]\nname = \"v\"\nfrom = \"s0\"\nto = \"s1\"\nclass = \"bulk\"\nrate = 5\n",
    );
    assert!(e.starts_with("t.toml:13:1: unknown field `rate`, expected one of"), "{e}");
    let e = one_error("[topology.default_link]\ndelay = \"5ms\"\nlos = 3\n");
    assert!(e.starts_with("t.toml:10:1: unknown field `los`"), "{e}");
}

#[test]
fn a_key_of_another_fault_kind_is_refused_with_what_the_kind_takes() {
    let e = one_error("[[fault]]\nat = \"1m\"\nkind = \"crash\"\nsite = \"s1\"\nloss = 30\n");
    assert!(
        e.starts_with(
            "t.toml:12:8: `loss` does not apply to kind \"crash\" (it takes `for`, `site`)"
        ),
        "{e}"
    );
}

#[test]
fn an_unknown_site_is_reported_at_its_name_with_the_sites_that_exist() {
    let e = one_error("[[flow]]\nname = \"v\"\nfrom = \"s0\"\nto = \"s9\"\nclass = \"bulk\"\n");
    assert_eq!(e, "t.toml:11:6: unknown site \"s9\" (sites are s0 to s3)");
    let e = one_error(
        "[[fault]]\nat = \"1m\"\nkind = \"partition\"\ngroups = [\"s0-s1\", \"s2, s7\"]\n",
    );
    assert!(e.starts_with("t.toml:11:25: unknown site \"s7\""), "{e}");
}

#[test]
fn times_past_the_end_of_the_run_are_refused() {
    let e = one_error("[[fault]]\nat = \"11m\"\nkind = \"crash\"\nsite = \"s1\"\n");
    assert_eq!(e, "t.toml:9:6: `at` = \"11m\" is after the end of the run (10m)");
    let e = one_error("[[fault]]\nat = \"9m\"\nfor = \"2m\"\nkind = \"crash\"\nsite = \"s1\"\n");
    assert!(e.starts_with("t.toml:10:7: the fault would end at 11m"), "{e}");
}

#[test]
fn percentages_must_lie_between_0_and_100() {
    let e = one_error("[[fault]]\nat = \"1m\"\nkind = \"brownout\"\nsite = \"s1\"\nloss = 130\n");
    assert_eq!(e, "t.toml:12:8: `loss` = 130% is not a percentage from 0 to 100");
    let e = one_error("[topology.default_link]\nloss = \"3 percent\"\n");
    assert!(e.starts_with("t.toml:9:8: `loss` is a percentage"), "{e}");
    let s = ok("[topology.default_link]\nloss = \"0.5%\"\n");
    assert_eq!(s.topology.default_link.loss, Ratio::from_percent(0.5));
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let e = errors(
        "[[flow]]\nname = \"v\"\nfrom = \"s0\"\nto = \"x\"\nclass = \"voice\"\n\n[[assert]]\nkind = \"max-path-changes\"\nflow = \"nope\"\nmax = 3\nwindow = \"1m\"\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].starts_with("t.toml:11:6: unknown site \"x\""), "{e:#?}");
    assert!(e[1].starts_with("t.toml:12:9: unknown class \"voice\""), "{e:#?}");
    assert!(e[2].starts_with("t.toml:16:8: unknown flow \"nope\""), "{e:#?}");
}

#[test]
fn hub_spoke_takes_hubs_by_name_or_count() {
    let head = "[scenario]\nname = \"h\"\nduration = \"1m\"\n[topology]\nsites = 5\nmode = \"hub-spoke\"\n";
    let s = parse(Path::new("h.toml"), &format!("{head}hub_count = 2\n")).unwrap();
    assert_eq!(s.topology.hubs, [site("s0"), site("s1")]);
    let s = parse(Path::new("h.toml"), &format!("{head}hubs = [\"s3\"]\n")).unwrap();
    assert!(s.topology.is_hub(&site("s3")));
    let e =
        parse(Path::new("h.toml"), &format!("{head}hubs = [\"s3\"]\nhub_count = 1\n")).unwrap_err();
    assert_eq!(e[0].to_string(), "h.toml:8:13: give `hubs` or `hub_count`, not both");
    let e = one_error("hubs = [\"s1\"]\n");
    assert_eq!(e, "t.toml:8:8: hubs only apply to mode = \"hub-spoke\"");
}

#[test]
fn link_overrides_start_from_the_default_profile() {
    let s = ok(
        "[topology.default_link]\ndelay = \"20ms\"\nrate = \"100mbit\"\n\n[[topology.link]]\nsite = \"s3\"\nuplink = 1\ndelay = \"40ms\"\n",
    );
    let l = s.topology.link(&site("s3"), UplinkId(1));
    assert_eq!(
        (l.delay, l.rate.map(weft_types::Bandwidth::bps)),
        (Duration::from_millis(40), Some(100_000_000))
    );
    assert_eq!(s.topology.link(&site("s3"), UplinkId(0)).delay, Duration::from_millis(20));
    let e = one_error("[[topology.link]]\nsite = \"s3\"\nuplink = 2\n");
    assert_eq!(e, "t.toml:10:10: `uplink` = 2 is out of range (0..=1)");
}

#[test]
fn every_fault_kind_parses() {
    let s = ok(r#"
[[fault]]
name = "dark"
at = "1m"
for = "30s"
kind = "uplink-down"
site = "s0"
uplink = "all"
[[fault]]
at = "1m"
kind = "brownout"
site = "s1"
uplink = 1
loss = 30
delay = "50ms"
[[fault]]
at = "2m"
for = "1m"
kind = "flap"
site = "s2"
uplink = [1]
down = "1s"
every = "5s"
[[fault]]
at = "3m"
for = "1m"
kind = "partition"
groups = ["s0"]
[[fault]]
at = "4m"
for = "20s"
kind = "crash"
site = "s3"
[[fault]]
at = "5m"
kind = "delay"
site = "s3"
delay = "200ms"
[[fault]]
at = "6m"
kind = "random-link-failures"
count = 10
over = "2m"
lasting = "5s"
sites = "s1-s2"
"#);
    let k: Vec<&str> = s.faults.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        k,
        ["uplink-down", "brownout", "flap", "partition", "crash", "delay", "random-link-failures"]
    );
    assert_eq!(s.faults[1].name, "brownout#2");
    let FaultKind::UplinkDown { uplinks, .. } = &s.faults[0].kind else { panic!() };
    assert_eq!(uplinks, &[UplinkId(0), UplinkId(1)]);
    let FaultKind::Partition { groups } = &s.faults[3].kind else { panic!() };
    assert_eq!(groups, &[vec![site("s0")], vec![site("s1"), site("s2"), site("s3")]]);
    assert!(s.faults[3].kind.separates(&site("s0"), &site("s2")));
    let FaultKind::Delay { uplinks, .. } = &s.faults[5].kind else { panic!() };
    assert_eq!(uplinks.len(), 2, "delay defaults to every uplink");
    assert_eq!(s.fault("dark").unwrap().settled_at(s.duration), Duration::from_secs(90));
}

#[test]
fn every_assertion_kind_parses() {
    let s = ok(r#"
[[flow]]
name = "voice"
from = "s0"
to = "s1"
class = "realtime"
pps = 50
[[fault]]
name = "dark"
at = "1m"
for = "30s"
kind = "uplink-down"
site = "s0"
[[assert]]
kind = "max-failover-gap"
class = "realtime"
max = "1s"
[[assert]]
name = "heals"
kind = "converged-within"
after = "dark"
within = "10s"
[[assert]]
kind = "converged-within"
after = "5m"
within = "10s"
[[assert]]
kind = "no-false-deaths"
[[assert]]
kind = "reachability"
at = "1m10s"
reachable = "all"
unreachable = [["s0", "s1-s2"]]
[[assert]]
kind = "relay-iff-direct-down"
flow = "voice"
tolerance = "2s"
[[assert]]
kind = "max-path-changes"
max = 4
window = "1m"
"#);
    assert_eq!(s.flows[0].class, TrafficClass::Realtime);
    assert_eq!(s.assertions.len(), 7);
    assert_eq!(s.assertions[0].name, "max-failover-gap#1");
    let AssertionKind::ConvergedWithin { after, .. } = &s.assertions[1].kind else { panic!() };
    assert_eq!((after.fault.as_deref(), after.at), (Some("dark"), Duration::from_secs(90)));
    let AssertionKind::Reachability(r) = &s.assertions[4].kind else { panic!() };
    assert_eq!(r.expect.len(), 6);
    assert_eq!(r.expected(&site("s2"), &site("s0")), Some(false));
    assert_eq!(r.expected(&site("s1"), &site("s2")), Some(true));
}

#[test]
fn assertions_refer_only_to_things_that_exist() {
    let e = one_error(
        "[[assert]]\nkind = \"converged-within\"\nafter = \"nothing\"\nwithin = \"5s\"\n",
    );
    assert!(e.starts_with("t.toml:10:9: `after` = \"nothing\" is neither a fault"), "{e}");
    let e = one_error("[[assert]]\nkind = \"max-failover-gap\"\nmax = \"1s\"\n");
    assert!(e.starts_with("t.toml:8:1: max-failover-gap needs `class`, `flow`, or both"), "{e}");
    let e =
        one_error("[[assert]]\nkind = \"converged-within\"\nafter = \"9m55s\"\nwithin = \"10s\"\n");
    assert!(e.contains("leaves no time to check it"), "{e}");
    let e = one_error(
        "[[assert]]\nkind = \"reachability\"\nat = \"1m\"\nreachable = [[\"s0\", \"s1\"]]\nunreachable = [[\"s1\", \"s0\"]]\n",
    );
    assert!(e.contains("s0 and s1 are listed both reachable and unreachable"), "{e}");
}

#[test]
fn a_missing_kind_key_is_reported_at_its_table() {
    let e = one_error("[[fault]]\nat = \"1m\"\nkind = \"flap\"\nsite = \"s1\"\nevery = \"5s\"\n");
    assert_eq!(e, "t.toml:8:1: kind \"flap\" needs `down`");
}

#[test]
fn toml_syntax_errors_have_a_position_too() {
    let d = parse(Path::new("t.toml"), "[scenario\nname = 1").unwrap_err();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].line, d[0].column), (1, 10));
}

#[test]
fn reachable_all_and_unreachable_pairs_agree_on_sites_that_sort_differently_as_text() {
    // "s10" sorts before "s2" as text: "all" and the explicit pairs must use
    // one key order, or the override is lost.
    let src = "[scenario]\nname = \"t\"\nduration = \"1m\"\n\n[topology]\nsites = 12\nuplinks = 1\n\
               [[assert]]\nkind = \"reachability\"\nat = \"30s\"\nreachable = \"all\"\n\
               unreachable = [[\"s0-s5\", \"s6-s11\"]]\n";
    let sc = parse(Path::new("t.toml"), src).unwrap_or_else(|e| panic!("{e:?}"));
    let AssertionKind::Reachability(r) = &sc.assertions[0].kind else { panic!("reachability") };
    assert_eq!(r.expect.len(), 66, "one entry per unordered pair");
    assert_eq!(r.expected(&site("s2"), &site("s10")), Some(false));
    assert_eq!(r.expected(&site("s10"), &site("s2")), Some(false));
    assert_eq!(r.expected(&site("s2"), &site("s3")), Some(true));
    assert_eq!(r.expected(&site("s10"), &site("s11")), Some(true));
}

const CONTROL: &str = "[control]\ncontrollers = [\"s0\", \"s1\", \"s2\"]\nstore = \"s3\"\n";

#[test]
fn a_control_table_takes_controllers_a_store_crash_leader_and_leader_assertions() {
    let s = ok(&format!(
        "{CONTROL}[[fault]]\nat = \"20s\"\nfor = \"20s\"\nkind = \"crash-leader\"\n\
         [[assert]]\nkind = \"max-leader-gap\"\nmax = \"3s\"\n[[assert]]\nkind = \"single-leader\"\n"
    ));
    let control = s.control.expect("a control plane");
    assert_eq!(control.controllers, vec![site("s0"), site("s1"), site("s2")]);
    assert_eq!(control.store, site("s3"));
    assert_eq!(s.faults[0].kind, FaultKind::CrashLeader);
    assert_eq!(s.faults[0].end(), Some(Duration::from_secs(40)));
    assert_eq!(s.assertions[0].kind, AssertionKind::MaxLeaderGap { max: Duration::from_secs(3) });
    assert_eq!(s.assertions[1].kind, AssertionKind::SingleLeader);
    assert!(ok("").control.is_none());
}

#[test]
fn a_store_on_a_controller_site_is_refused_at_its_value() {
    let e = one_error("[control]\ncontrollers = [\"s0\", \"s1\"]\nstore = \"s1\"\n");
    assert_eq!(e, "t.toml:10:9: the store's site s1 is also a controller: use another");
    let e = one_error("[control]\ncontrollers = [\"s0\", \"s7\"]\nstore = \"s3\"\n");
    assert!(e.starts_with("t.toml:9:22: unknown site \"s7\""), "{e}");
}

#[test]
fn leader_faults_and_assertions_need_a_control_table() {
    let e = one_error("[[fault]]\nat = \"20s\"\nkind = \"crash-leader\"\n");
    assert_eq!(e, "t.toml:10:8: crash-leader needs a [control] table (controllers, store)");
    let e = one_error("[[assert]]\nkind = \"single-leader\"\n");
    assert_eq!(e, "t.toml:9:8: single-leader needs a [control] table (controllers, store)");
    let e = one_error(&format!("{CONTROL}[[assert]]\nkind = \"max-leader-gap\"\nmax = 3\n"));
    assert!(e.starts_with("t.toml:13:7: `max` is the longest time without a leader"), "{e}");
}
