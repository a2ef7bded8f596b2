//! Teardown leaves nothing behind: namespaces, links, processes, state.

use std::path::Path;

use weft_lab::Lab;

use crate::common::{lab, namespaces};

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')').is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
        })
}

fn assert_gone(name: &str, pids: &[u32]) {
    let left: Vec<_> =
        namespaces().into_iter().filter(|ns| ns.starts_with(&format!("{name}-"))).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    assert!(!Path::new("/run/weft-lab").join(name).exists(), "state directory left behind");
    for pid in pids {
        assert!(!pid_alive(*pid), "process {pid} left behind");
    }
}

#[test]
fn down_leaves_no_namespaces_links_or_processes() {
    let mut lab = lab(3, 2);
    let name = lab.name().to_owned();
    let sleeper = lab.spawn("b", &["sleep", "60"]).unwrap();
    assert!(pid_alive(sleeper));
    assert_eq!(namespaces().iter().filter(|ns| ns.starts_with(&format!("{name}-"))).count(), 4);
    lab.down().unwrap();
    assert_gone(&name, &[sleeper]);
    // The veth ends lived only in the lab's namespaces; none reached the root one.
    let root_links = std::process::Command::new("ip").args(["-br", "link"]).output().unwrap();
    let root_links = String::from_utf8_lossy(&root_links.stdout);
    assert!(
        !root_links.lines().any(|l| l.starts_with("s0u0") || l.starts_with("wanem0")),
        "{root_links}"
    );
}

#[test]
fn dropping_a_lab_in_a_panicking_test_removes_it() {
    let mut name = String::new();
    let mut pid = 0;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut lab = lab(2, 1);
        name = lab.name().to_owned();
        pid = lab.spawn("a", &["sleep", "60"]).unwrap();
        panic!("a test failing half-way");
    }));
    assert!(result.is_err());
    assert_gone(&name, &[pid]);
}

#[test]
fn down_succeeds_on_a_half_built_lab() {
    let lab = lab(2, 1);
    // A lab whose build died after creating only its internet namespace.
    let mut half = lab.state().clone();
    half.name = format!("{}h", lab.name());
    half.inet_ns = format!("{}-inet", half.name);
    for s in &mut half.sites {
        s.netns = format!("{}-{}", half.name, s.name);
    }
    half.emulator = weft_lab::state::EmulatorHost::None;
    half.save().unwrap();
    let out =
        std::process::Command::new("ip").args(["netns", "add", &half.inet_ns]).output().unwrap();
    assert!(out.status.success());
    Lab::destroy(&half.name).unwrap();
    assert_gone(&half.name, &[]);
}

#[test]
fn labs_of_test_processes_that_died_are_reaped_by_the_next_build() {
    let lab = lab(1, 1);
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let mut stale = lab.state().clone();
    stale.name = format!("{}s", lab.name());
    stale.inet_ns = format!("{}-inet", stale.name);
    for s in &mut stale.sites {
        s.netns = format!("{}-{}", stale.name, s.name);
    }
    stale.emulator = weft_lab::state::EmulatorHost::Thread { pid: dead_pid };
    stale.save().unwrap();
    assert!(
        std::process::Command::new("ip")
            .args(["netns", "add", &stale.inet_ns])
            .status()
            .unwrap()
            .success()
    );
    let reaped = Lab::reap_stale();
    assert!(reaped.contains(&stale.name), "{reaped:?}");
    assert_gone(&stale.name, &[]);
}
