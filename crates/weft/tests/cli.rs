//! The CLI end to end: `weft lab` (up, status, link, exec, down, and its
//! errors; needs root) and `weft policy` (offline checks with their exit
//! codes, and apply / diff / rollback against agents in a lab).

use std::process::{Command, Output};

fn weft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft")).args(args).output().expect("run weft")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(args: &[&str]) -> String {
    let o = weft(args);
    assert!(o.status.success(), "weft {args:?} failed: {}", text(&o));
    text(&o)
}

fn fails(args: &[&str], expect: &str) {
    let o = weft(args);
    assert!(!o.status.success(), "weft {args:?} succeeded");
    assert!(text(&o).contains(expect), "weft {args:?}: expected {expect:?} in {}", text(&o));
}

fn root() {
    assert!(
        rustix_free_euid_is_root(),
        "the weft CLI integration test needs root (CI runs as root)"
    );
}

fn rustix_free_euid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// True if `pid` runs (a zombie waiting for init to reap it does not count).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, r)| !r.trim_start().starts_with('Z')))
}

/// Removes the lab even if an assertion fails half-way.
struct Down(String);
impl Drop for Down {
    fn drop(&mut self) {
        let _ = weft(&["lab", "down", "--name", &self.0]);
    }
}

#[test]
fn lab_up_status_link_exec_down_end_to_end() {
    root();
    let name = format!("cli{}", std::process::id());
    let _guard = Down(name.clone());
    let n = ["--name", name.as_str()];
    let out = ok(&["lab", "up", "--sites", "2", "--uplinks", "2", n[0], n[1]]);
    assert!(out.contains("198.18.2.6/30"), "{out}");
    let pid: u32 = out
        .split("emulator pid ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    fails(&["lab", "up", "--sites", "1", n[0], n[1]], "already exists");

    assert_eq!(
        ok(&["lab", "link", "a:0", "--delay", "20ms", n[0], n[1]]).trim(),
        "a:0: delay 20.0ms"
    );
    let status = ok(&["lab", "status", n[0], n[1]]);
    assert!(status.contains("delay 20.0ms"), "{status}");
    let ping = ok(&[
        "lab",
        "exec",
        n[0],
        n[1],
        "a",
        "--",
        "ping",
        "-c",
        "3",
        "-i",
        "0.05",
        "-q",
        "-I",
        "198.18.1.2",
        "198.18.2.2",
    ]);
    let avg: f64 =
        ping.split(" = ").nth(1).and_then(|v| v.split('/').nth(1)).unwrap().parse().unwrap();
    assert!((36.0..=44.0).contains(&avg), "RTT {avg} with 20 ms on a:0\n{ping}");

    ok(&["lab", "link", "a:u0", "--down", n[0], n[1]]);
    let o = weft(&[
        "lab",
        "exec",
        n[0],
        n[1],
        "a",
        "--",
        "ping",
        "-c",
        "1",
        "-W",
        "1",
        "-I",
        "198.18.1.2",
        "198.18.2.2",
    ]);
    assert!(!o.status.success(), "ping crossed a cut uplink");
    ok(&["lab", "link", "a:0", "--up", "--clear", n[0], n[1]]);
    ok(&[
        "lab",
        "exec",
        n[0],
        n[1],
        "a",
        "--",
        "ping",
        "-c",
        "1",
        "-W",
        "1",
        "-I",
        "198.18.1.2",
        "198.18.2.2",
    ]);

    fails(&["lab", "link", "zz:0", "--delay", "1ms", n[0], n[1]], "unknown site \"zz\"");
    fails(&["lab", "link", "a:2", "--delay", "1ms", n[0], n[1]], "uplink 2 is out of range");
    fails(&["lab", "link", "a:0", "--delay", "-5ms", n[0], n[1]], "delay cannot be negative");
    fails(&["lab", "link", "a:0", "--loss", "101%", n[0], n[1]], "more than 100%");
    fails(&["lab", "exec", n[0], n[1], "c", "--", "true"], "unknown site");

    ok(&["lab", "down", n[0], n[1]]);
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(&format!("{name}-")),
        "namespaces left"
    );
    assert!(!running(pid), "emulator {pid} left running");
    fails(&["lab", "status", n[0], n[1]], "no lab named");
}

#[test]
fn lab_up_without_root_says_so() {
    root();
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_weft"),
            "lab",
            "up",
            "--name",
            "nonroot",
        ])
        .output()
        .expect("setpriv (util-linux)");
    assert!(!o.status.success());
    assert!(text(&o).contains("needs root"), "{}", text(&o));
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policy/corp.toml");

fn scratch(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn policy_lint_and_test_pass_the_example_and_fail_broken_policies_with_positions() {
    let out = ok(&["policy", "lint", EXAMPLE]);
    assert!(out.contains("0 error(s), 0 warning(s)"), "{out}");
    let out = ok(&["policy", "test", EXAMPLE]);
    assert!(out.contains("4 of 4 test(s) passed"), "{out}");

    let bad = scratch(
        "bad.toml",
        "[policy]\nname = \"x\"\ndefault = \"allow\"\n\n[[acl]]\naction = \"deny\"\nports = \"70000\"\n",
    );
    let o = weft(&["policy", "lint", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("bad.toml:7:9: ports:"), "{}", text(&o));

    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let leaky = example.replace(
        "[[acl]]\nname = \"guest-to-finance\"",
        "[[acl]]\nname = \"oops\"\naction = \"allow\"\npriority = 1\nfrom = \"10.1.200.7\"\n\n[[acl]]\nname = \"guest-to-finance\"",
    );
    let leaky = scratch("leaky.toml", &leaky);
    let o = weft(&["policy", "test", leaky.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FAIL  guest cannot reach finance at all"), "{}", text(&o));
    assert!(text(&o).contains("10.1.200.7") && text(&o).contains("\"oops\""), "{}", text(&o));

    let out = ok(&["policy", "diff", leaky.to_str().unwrap(), "--against", EXAMPLE]);
    assert!(out.contains("+ acl \"oops\""), "{out}");
    assert!(
        out.contains("10.1.200.7")
            && out.contains("deny by \"guest-to-finance\" -> allow by \"oops\""),
        "{out}"
    );
    let o = weft(&["policy", "lint", "/nonexistent/policy.toml"]);
    assert!(
        !o.status.success() && text(&o).contains("reading /nonexistent/policy.toml"),
        "{}",
        text(&o)
    );
}

#[test]
fn policy_apply_diff_and_rollback_against_agents_in_a_lab() {
    root();
    let name = format!("pol{}", std::process::id());
    let _guard = Down(name.clone());
    let n = ["--name", name.as_str()];
    let out = ok(&["lab", "up", "--sites", "2", "--uplinks", "1", "--agents", n[0], n[1]]);
    let token = out
        .lines()
        .find(|l| l.starts_with("agent a:"))
        .and_then(|l| l.split("API token ").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    let me = env!("CARGO_BIN_EXE_weft");
    let policy = |args: &[&str]| {
        let mut v = vec!["lab", "exec", n[0], n[1], "a", "--", me, "policy"];
        v.extend_from_slice(args);
        weft(&v)
    };
    let lab_policy = scratch(
        "lab.toml",
        "[policy]\nname = \"lab\"\ndefault = \"allow\"\n\n[[acl]]\nname = \"no-telnet\"\naction = \"deny\"\nprotocol = \"tcp\"\nports = 23\n",
    );
    let file = lab_policy.to_str().unwrap();

    let sock = format!("/run/weft-lab/{name}/agents/a-state/api.sock");
    let tcp = ["--agent", "127.0.0.1:7420"];
    let o = policy(&["apply", file, tcp[0], tcp[1], "--token-file", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(4), "no token: refused (exit 4) {}", text(&o));
    assert!(text(&o).contains("unauthorized"), "{}", text(&o));

    let o = weft(&["policy", "diff", file, "--socket", &sock]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("+ acl \"no-telnet\""), "{}", text(&o));

    let o = policy(&["apply", file, tcp[0], tcp[1], "--token-file", &token]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("is version 1 and running"), "{}", text(&o));
    let o = weft(&["policy", "show", "--socket", &sock]);
    assert!(text(&o).contains("policy \"lab\" version 1"), "{}", text(&o));
    let o = weft(&["policy", "rollback", "--socket", &sock]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no_earlier_version"), "{}", text(&o));

    let o = weft(&["policy", "show", "--agent", "127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn operator_commands_read_and_steer_a_lab_agent_over_its_socket() {
    root();
    let name = format!("ops{}", std::process::id());
    let _guard = Down(name.clone());
    ok(&["lab", "up", "--sites", "2", "--uplinks", "2", "--agents", "--name", &name]);
    let sock = format!("/run/weft-lab/{name}/agents/a-state/api.sock");
    let run = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend_from_slice(&["--socket", &sock]);
        weft(&v)
    };
    // Wait for all four paths to b.
    let start = std::time::Instant::now();
    loop {
        let o = run(&["paths", "--site", "b", "--state", "up", "--json"]);
        let n = serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len));
        if n == Some(4) {
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "paths: {}", text(&o));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let o = run(&["status"]);
    assert!(o.status.success() && text(&o).contains("4/4 up"), "{}", text(&o));
    let o = run(&["ping", "b", "--probes", "3"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).lines().filter(|l| l.contains("3/3")).count(),
        4,
        "one line per path: {}",
        text(&o)
    );
    let o = run(&["explain", "udp", "10.77.1.1", "10.77.2.1:5060"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("allow") && text(&o).contains("u0"), "{}", text(&o));
    let o = run(&["explain", "icmp", "10.77.1.1:5", "10.77.2.1"]);
    assert_eq!(o.status.code(), Some(2), "icmp has no ports: {}", text(&o));
    for cmd in [&["peers"][..], &["sites"], &["routes"], &["flows"], &["topology"], &["events"]] {
        let o = run(cmd);
        assert!(o.status.success(), "weft {cmd:?}: {}", text(&o));
    }
    let o = run(&["events", "--json"]);
    assert!(text(&o).contains("path_up"), "{}", text(&o));
    let o = run(&["path", "test", "999999"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not_found"), "{}", text(&o));
    let o = weft(&["status", "--socket", "/nonexistent/api.sock"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn mesh_commands_mint_tokens_show_members_and_revoke_in_a_mesh_lab() {
    root();
    let name = format!("msh{}", std::process::id());
    let _guard = Down(name.clone());
    let up =
        ok(&["lab", "up", "--sites", "3", "--uplinks", "2", "--agents", "--mesh", "--name", &name]);
    assert!(up.contains("mesh CA") && up.contains("held by site a"), "{up}");
    let sock = |site: &str| format!("/run/weft-lab/{name}/agents/{site}-state/api.sock");
    let (a, b) = (sock("a"), sock("b"));
    let members = |socket: &str| -> Vec<(String, bool)> {
        let o = weft(&["mesh", "--json", "--socket", socket]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| (m["site"].as_str().unwrap_or("").to_owned(), m["peered"] == true))
            .collect()
    };
    let start = std::time::Instant::now();
    while members(&a) != [("b".to_owned(), true), ("c".to_owned(), true)] {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "members: {:?}", members(&a));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let table = ok(&["mesh", "--socket", &a]);
    assert!(table.contains("CA holder") || table.contains("ca holder"), "{table}");

    // A token alone on stdout, so `TOKEN=$(weft token create)` works.
    let o =
        weft(&["token", "create", "--uses", "2", "--ttl", "10m", "--role", "hub", "--socket", &a]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("weft1."), "{stdout}");
    // Only the CA holder mints and revokes.
    let o = weft(&["token", "create", "--socket", &b]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not_ca_holder"), "{}", text(&o));

    ok(&["cert", "revoke", "c", "--socket", &a]);
    let start = std::time::Instant::now();
    while members(&b).iter().any(|(s, peered)| s == "c" && *peered) {
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "b still peers with c");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let o = weft(&["cert", "revoke", "zz", "--socket", &a]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// A three-site scenario that passes, and a copy whose assertion cannot.
const SIM_SCENARIO: &str = r#"
[scenario]
name = "tiny"
duration = "20s"
seeds = 2

[topology]
sites = 3
uplinks = 2

[[flow]]
name = "call"
from = "s0"
to = "s2"
class = "realtime"
pps = 20

[[fault]]
name = "cut"
at = "10s"
for = "5s"
kind = "uplink-down"
site = "s2"
uplink = 0

[[assert]]
name = "the call survives the cut"
kind = "max-failover-gap"
flow = "call"
max = "MAX"
"#;

#[test]
fn sim_run_writes_json_and_junit_reports_and_fails_with_the_replay_command() {
    let dir = std::env::temp_dir().join(format!("weft-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("tiny.toml");
    std::fs::write(&good, SIM_SCENARIO.replace("MAX", "2s")).unwrap();
    let (json, junit) = (dir.join("out/report.json"), dir.join("out/junit.xml"));
    let out = ok(&[
        "sim",
        "run",
        good.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert!(out.contains("2 of 2 seeds passed"), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report.to_string().contains("\"seed\":2"), "{report}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 2, "one case per seed: {xml}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, SIM_SCENARIO.replace("MAX", "1ms")).unwrap();
    let o = weft(&["sim", "run", bad.to_str().unwrap(), "--seed", "7"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(&format!("weft sim run {} --seed 7", bad.display())), "{}", text(&o));

    // --trace: what happened at s2 around the cut, in time order.
    let o = weft(&[
        "sim",
        "run",
        bad.to_str().unwrap(),
        "--seed",
        "7",
        "--trace",
        "s2",
        "--trace-from",
        "9s",
        "--trace-to",
        "16s",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    let lines: Vec<&str> = t.lines().filter(|l| l.contains("s2  ")).collect();
    assert!(lines.iter().any(|l| l.contains("path ") && l.contains("-> down")), "{t}");
    let times: Vec<f64> =
        lines.iter().map(|l| l.trim().split('s').next().unwrap().parse().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]) && times.iter().all(|&t| (9.0..=16.0).contains(&t))
    );
    let o = weft(&["sim", "run", bad.to_str().unwrap(), "--seed", "7", "--trace", "s9"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("\"s9\" is not a site"), "{}", text(&o));

    // A scenario that does not parse: its file, line and column, exit 2.
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, SIM_SCENARIO.replace("MAX", "soon")).unwrap();
    let o = weft(&["sim", "run", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("broken.toml:30:"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
