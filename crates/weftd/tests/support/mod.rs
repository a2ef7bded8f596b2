//! The harness of the agent tests: a lab with `weftd` in some of its sites,
//! one log file per agent (printed when a test fails), status reads through
//! the agent's HTTP API and polling with deadlines.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use weft_lab::Lab;
use weftd::labgen::{GeneratedSite, LabOptions, LabSite, write_configs};

/// Overlay port used by the test flows (best-effort class).
pub(crate) const FLOW_PORT: u16 = 40_000;

/// Tags the TUN names of successive harnesses of this process.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Fails the test loudly (never skips) when not run as root.
pub(crate) fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?");
    assert_eq!(
        uid, "0",
        "the weftd agent tests need root (network namespaces, TUN devices); run them as root"
    );
}

/// A lab plus the agent configurations generated for its sites.
pub(crate) struct Harness {
    /// The lab (dropped last: kills every spawned process and removes namespaces).
    pub(crate) lab: Lab,
    /// Directory with keys, configurations and logs.
    pub(crate) dir: PathBuf,
    /// Configurations, by site index.
    pub(crate) sites: Vec<GeneratedSite>,
    logs: Vec<(String, PathBuf)>,
}

impl Harness {
    /// A lab of `sites` sites with `uplinks` uplinks each and a generated
    /// configuration for every site (nothing started yet). TUN names are unique
    /// per test: the UAPI socket directory is shared by every namespace.
    pub(crate) fn new(test: &str, sites: usize, uplinks: usize, probe_interval: &str) -> Self {
        Self::with_options(test, sites, uplinks, probe_interval, false)
    }

    /// Like [`Harness::new`]; `mesh`: configurations without static peers,
    /// with a `[mesh]` section instead (the zero-touch mesh).
    pub(crate) fn with_options(
        test: &str,
        sites: usize,
        uplinks: usize,
        probe_interval: &str,
        mesh: bool,
    ) -> Self {
        require_root();
        let lab = match Lab::builder().name_prefix("wd").sites(sites).uplinks(uplinks).build() {
            Ok(lab) => lab,
            Err(e) => panic!("building the lab for {test} failed: {e}"),
        };
        let dir = std::env::temp_dir().join(format!("weftd-agent-{}-{test}", lab.name()));
        let _ = std::fs::remove_dir_all(&dir);
        let lab_sites: Vec<LabSite> = lab
            .sites()
            .iter()
            .map(|s| LabSite {
                name: s.name.clone(),
                uplinks: s.uplinks.iter().map(|u| (u.name.clone(), u.addr)).collect(),
            })
            .collect();
        let opts =
            LabOptions { probe_interval: probe_interval.to_owned(), mesh, ..LabOptions::default() };
        let mut generated = write_configs(&dir, &lab_sites, &opts).expect("write configs");
        let tag = NEXT.fetch_add(1, Ordering::Relaxed);
        for (i, g) in generated.iter_mut().enumerate() {
            let unique = format!("wt{}x{tag}s{i}", std::process::id() % 100_000);
            assert!(unique.len() <= 15, "{unique}");
            let text = std::fs::read_to_string(&g.config).expect("read config");
            let text = text.replace(
                &format!("interface = \"{}\"", g.interface),
                &format!("interface = \"{unique}\""),
            );
            std::fs::write(&g.config, text).expect("write config");
            g.interface = unique;
        }
        Self { lab, dir, sites: generated, logs: Vec::new() }
    }

    /// Site name of index `i`.
    pub(crate) fn name(&self, i: usize) -> String {
        self.lab.sites()[i].name.clone()
    }

    /// Overlay address of site `i`.
    pub(crate) fn overlay(&self, i: usize) -> Ipv4Addr {
        self.sites[i].overlay
    }

    /// Starts `weftd` with the configuration of site `i`, stderr to a log file.
    pub(crate) fn start_agent(&mut self, i: usize) -> u32 {
        let config = self.sites[i].config.clone();
        self.start_agent_with(i, &config)
    }

    /// Starts `weftd` in site `i` with its configuration and `args` after it.
    pub(crate) fn start_agent_args(&mut self, i: usize, args: &[&str]) -> u32 {
        let config = self.sites[i].config.clone();
        self.spawn_agent(i, &config, args)
    }

    /// Runs `weftd` in site `i` with its configuration and `args` to its end
    /// (it must exit by itself within 20 s); its exit code and stderr.
    pub(crate) fn run_agent(&self, i: usize, args: &[&str]) -> (Option<i32>, String) {
        self.run_agent_with(i, &self.sites[i].config, args)
    }

    /// Like [`Harness::run_agent`] with the configuration file `config`.
    pub(crate) fn run_agent_with(
        &self,
        i: usize,
        config: &Path,
        args: &[&str],
    ) -> (Option<i32>, String) {
        let mut cmd = self.lab.command(i, env!("CARGO_BIN_EXE_weftd")).expect("command");
        cmd.arg("--config").arg(config).args(args).stdin(Stdio::null());
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn weftd");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return (status.code(), err);
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("weftd {args:?} in site {i} did not exit within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `POST path` with a JSON body on the agent of site `i`; the answer.
    pub(crate) fn post(&self, i: usize, path: &str, body: &Value) -> Option<Value> {
        let out = std::process::Command::new("curl")
            .args(["-sf", "--max-time", "5", "-H", "content-type: application/json", "-d"])
            .arg(body.to_string())
            .arg("--unix-socket")
            .arg(self.socket(i))
            .arg(format!("http://weft{path}"))
            .output()
            .ok()?;
        out.status.success().then_some(())?;
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The actions of the last 100 audit records of site `i`, oldest first.
    pub(crate) fn audit_actions(&self, i: usize) -> Vec<String> {
        let audit = self.get(i, "/api/v1/audit?limit=100").expect("audit");
        audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|r| r["action"].as_str().map(str::to_owned))
            .collect()
    }

    /// `METHOD path` (with a JSON body, if any) on the agent of site `i`: the
    /// status code and the JSON answer (`Null` if it is not JSON).
    pub(crate) fn call(
        &self,
        i: usize,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-s", "--max-time", "5", "-X", method, "-w", "\n%{http_code}"]);
        if let Some(b) = body {
            cmd.args(["-H", "content-type: application/json", "-d"]).arg(b.to_string());
        }
        let out = cmd
            .arg("--unix-socket")
            .arg(self.socket(i))
            .arg(format!("http://weft{path}"))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout);
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Starts `weftd` in site `i` with the configuration file `config`.
    pub(crate) fn start_agent_with(&mut self, i: usize, config: &Path) -> u32 {
        self.spawn_agent(i, config, &[])
    }

    /// `weftd --config CONFIG ARGS…` in site `i`, its output in a new log file.
    fn spawn_agent(&mut self, i: usize, config: &Path, args: &[&str]) -> u32 {
        let name = self.name(i);
        let log = self.dir.join(format!("weftd-{name}-{}.log", self.logs.len()));
        let file = std::fs::File::create(&log).expect("create log");
        let mut cmd = self.lab.command(i, env!("CARGO_BIN_EXE_weftd")).expect("command");
        cmd.arg("--config")
            .arg(config)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file);
        self.logs.push((format!("weftd in site {name}"), log));
        self.lab.spawn_command(cmd).expect("spawn weftd")
    }

    /// The text of the newest agent log of site `i` (empty if none).
    pub(crate) fn last_log(&self, i: usize) -> String {
        let what = format!("weftd in site {}", self.name(i));
        self.logs
            .iter()
            .rev()
            .find(|(w, _)| *w == what)
            .and_then(|(_, p)| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Registers another log file to print on failure.
    pub(crate) fn add_log(&mut self, what: &str, path: PathBuf) {
        self.logs.push((what.to_owned(), path));
    }

    /// The API socket of the agent of site `i` (in its state directory).
    pub(crate) fn socket(&self, i: usize) -> PathBuf {
        self.sites[i].state_dir.join("api.sock")
    }

    /// The `/metrics` text of the agent of site `i` (empty if it does not
    /// answer within 5 s).
    pub(crate) fn metrics_text(&self, i: usize) -> String {
        let out = std::process::Command::new("curl")
            .args(["-sf", "--max-time", "5", "--unix-socket"])
            .arg(self.socket(i))
            .arg("http://weft/metrics")
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `GET path` on the agent of site `i` over its unix socket; `None` if
    /// it does not answer (yet) or answers with an error.
    pub(crate) fn get(&self, i: usize, path: &str) -> Option<Value> {
        let out = std::process::Command::new("curl")
            .args(["-sf", "--max-time", "2", "--unix-socket"])
            .arg(self.socket(i))
            .arg(format!("http://weft{path}"))
            .output()
            .ok()?;
        out.status.success().then_some(())?;
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The agent's state in site `i` in one document: `paths` (every path,
    /// with `peer` = its site), `failovers` and `drops` as `[label, count]`
    /// lists, and `policy` (`version`, `denied`); `None` if it does not
    /// answer yet.
    pub(crate) fn try_status(&self, i: usize) -> Option<Value> {
        let status = self.get(i, "/api/v1/status")?;
        let page = self.get(i, "/api/v1/paths?limit=1000")?;
        let mut paths = page["items"].as_array()?.clone();
        for p in &mut paths {
            p["peer"] = p["site"].clone();
        }
        let pairs = |v: &Value| {
            Value::Array(
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| serde_json::json!([c["name"], c["count"]]))
                    .collect(),
            )
        };
        Some(serde_json::json!({
            "site": status["site"],
            "paths": paths,
            "failovers": pairs(&status["failovers_by_reason"]),
            "drops": pairs(&status["drops"]),
            "policy": {
                "name": status["policy_name"],
                "version": status["policy_version"],
                "denied": pairs(&status["policy_denied"]),
            },
        }))
    }

    /// One ping (of up to `count` echoes, 200 ms apart) from site `i` to `to`;
    /// the number of answers.
    pub(crate) fn ping(&self, i: usize, to: Ipv4Addr, count: u32) -> u32 {
        let out = self
            .lab
            .exec(
                i,
                &[
                    "ping",
                    "-n",
                    "-q",
                    "-c",
                    &count.to_string(),
                    "-i",
                    "0.2",
                    "-W",
                    "1",
                    &to.to_string(),
                ],
            )
            .expect("run ping");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.contains("packets transmitted"))
            .and_then(|l| l.split(", ").nth(1))
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Waits until a ping from site `i` to `to` is answered.
    pub(crate) fn wait_ping(&self, i: usize, to: Ipv4Addr, within: Duration) -> Duration {
        let t = Instant::now();
        wait_for(&format!("ping from site {i} to {to}"), within, || {
            (self.ping(i, to, 1) == 1).then_some(())
        });
        t.elapsed()
    }

    /// A UDP socket bound to `addr` inside site `i`.
    pub(crate) fn udp_in(&self, i: usize, addr: SocketAddr) -> UdpSocket {
        self.lab.in_site(i, || UdpSocket::bind(addr)).expect("in site").expect("bind UDP")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // weftd leaves its UAPI socket behind when killed; the lab kills it next.
        for g in &self.sites {
            let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", g.interface));
        }
        if std::thread::panicking() {
            for (what, path) in &self.logs {
                let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"));
                eprintln!("----- {what} ({}) -----\n{text}----- end -----", path.display());
            }
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `f` every 50 ms until it returns `Some`, panicking after `within`.
pub(crate) fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < within, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The paths of a status document.
pub(crate) fn paths(status: &Value) -> &[Value] {
    status["paths"].as_array().map_or(&[], Vec::as_slice)
}

/// The uplink name of the path currently active for `class` towards `peer`.
pub(crate) fn active_uplink(status: &Value, peer: &str, class: &str) -> Option<String> {
    paths(status)
        .iter()
        .find(|p| {
            p["peer"] == peer
                && p["active_for"].as_array().is_some_and(|a| a.iter().any(|c| c == class))
        })
        .and_then(|p| p["uplink"].as_str().map(str::to_owned))
}

/// A `[label, count]` list (`failovers`, `drops`) looked up by label (0 if absent).
pub(crate) fn count(list: &Value, label: &str) -> u64 {
    list.as_array()
        .into_iter()
        .flatten()
        .find(|e| e[0] == label)
        .and_then(|e| e[1].as_u64())
        .unwrap_or(0)
}

/// Every path's state, for messages.
pub(crate) fn states(status: &Value) -> Vec<String> {
    paths(status)
        .iter()
        .map(|p| format!("{}:{}->{} {}", p["peer"], p["uplink"], p["remote"], p["state"]))
        .collect()
}
