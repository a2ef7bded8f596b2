//! [`LabBuilder`]: choosing a lab's shape and name, and bringing it up.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::addressing::TUN_NAME;
use crate::emulator::control::{self, Request};
use crate::emulator::{self, EmulatorConfig};
use crate::error::{LabError, Result};
use crate::lab::{EmulatorThread, Lab};
use crate::state::{EmulatorHost, LabState, state_dir};
use crate::topology::{Topology, validate_lab_name};
use crate::{links, netsetup, sys};

/// How long the emulator may take to answer its first ping.
const EMULATOR_START: Duration = Duration::from_secs(5);

/// Where the WAN emulator of a new lab runs.
#[derive(Clone, Debug, Default)]
pub enum EmulatorMode {
    /// On a thread of this process (default): it ends with the [`Lab`]. Right for
    /// tests: nothing to find on disk, nothing left behind if the test dies.
    #[default]
    Thread,
    /// As a daemon: `program args...` is started in its own process group and must
    /// call [`serve_lab`](crate::serve_lab) with the lab name. The `weft` CLI uses
    /// `weft lab emulator --name LAB` so the lab outlives `weft lab up`.
    Process {
        /// The program.
        program: PathBuf,
        /// Its arguments.
        args: Vec<OsString>,
    },
}

/// Builds a [`Lab`]; start with [`Lab::builder`].
#[derive(Clone, Debug)]
pub struct LabBuilder {
    name: Option<String>,
    prefix: String,
    sites: usize,
    uplinks: usize,
    topology: Option<Topology>,
    topology_file: Option<PathBuf>,
    via_emulator: bool,
    emulator: EmulatorMode,
    seed: Option<u64>,
}

impl Default for LabBuilder {
    fn default() -> Self {
        Self {
            name: None,
            prefix: "wl".into(),
            sites: 2,
            uplinks: 1,
            topology: None,
            topology_file: None,
            via_emulator: false,
            emulator: EmulatorMode::Thread,
            seed: None,
        }
    }
}

/// A name unique to this process and call: prefix, PID and a counter.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{n}", std::process::id())
}

impl LabBuilder {
    /// The exact lab name (otherwise `<prefix><pid>-<n>`, unique per process and call).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Prefix of the generated unique name (default `wl`).
    #[must_use]
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Number of sites (default 2), named `a`, `b`, ….
    #[must_use]
    pub fn sites(mut self, n: usize) -> Self {
        self.sites = n;
        self
    }

    /// Number of uplinks per site (default 1), named `u0`, `u1`, ….
    #[must_use]
    pub fn uplinks(mut self, n: usize) -> Self {
        self.uplinks = n;
        self
    }

    /// Uses this topology instead of `sites`/`uplinks`.
    #[must_use]
    pub fn topology(mut self, t: Topology) -> Self {
        self.topology = Some(t);
        self
    }

    /// Reads the topology from a TOML file (see [`crate::topology`]).
    #[must_use]
    pub fn topology_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.topology_file = Some(path.into());
        self
    }

    /// Diverts every uplink through the emulator, even when clean (to measure it).
    #[must_use]
    pub fn via_emulator(mut self, yes: bool) -> Self {
        self.via_emulator = yes;
        self
    }

    /// Where the emulator runs (default: a thread of this process).
    #[must_use]
    pub fn emulator(mut self, mode: EmulatorMode) -> Self {
        self.emulator = mode;
        self
    }

    /// Seed of the emulator's loss and jitter draws (default: from the clock).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Creates the lab. On failure everything created so far is removed again.
    pub fn build(self) -> Result<Lab> {
        sys::preflight()?;
        Lab::reap_stale();
        let mut topology = match (&self.topology_file, self.topology) {
            (Some(path), _) => Topology::from_file(path)?,
            (None, Some(t)) => t,
            (None, None) => Topology::uniform(self.sites, self.uplinks)?,
        };
        topology.via_emulator |= self.via_emulator;
        topology.validate()?;
        let name = match (self.name, &topology.name) {
            (Some(n), _) => n,
            (None, Some(n)) => n.clone(),
            (None, None) => unique_name(&self.prefix),
        };
        validate_lab_name(&name)?;
        let mut state = netsetup::plan(&name, &topology);
        netsetup::check_free(&state)?;
        state.save()?;
        let seed = self.seed.unwrap_or_else(clock_seed);
        let mut lab = Lab::from_parts(state.clone(), true);
        let result = (|| {
            netsetup::create(&state)?;
            let thread = start_emulator(&mut state, &self.emulator, seed)?;
            lab.set_emulator_thread(thread);
            lab.replace_state(state.clone());
            netsetup::route_to_emulator(&state)?;
            for (s, site) in topology.sites.iter().enumerate() {
                for (u, up) in site.uplinks.iter().enumerate() {
                    if state.via_emulator || !up.impairment.is_clean() {
                        links::apply(&mut state, s, u, up.impairment)?;
                    }
                }
            }
            lab.replace_state(state);
            Ok(())
        })();
        // On error, dropping `lab` tears down whatever was made.
        result.map(|()| lab)
    }
}

fn clock_seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
}

/// Starts the emulator, records where it runs in `state`, waits until it answers.
fn start_emulator(
    state: &mut LabState,
    mode: &EmulatorMode,
    seed: u64,
) -> Result<Option<EmulatorThread>> {
    let config = EmulatorConfig {
        netns: state.inet_ns.clone(),
        tun_name: TUN_NAME.into(),
        control: state.control_socket(),
        seed,
    };
    match mode {
        EmulatorMode::Thread => {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let handle = std::thread::Builder::new()
                .name(format!("wanem-{}", state.name))
                .spawn(move || emulator::run(&config, &flag))
                .map_err(|e| LabError::io("spawning the emulator thread", e))?;
            state.emulator = EmulatorHost::Thread { pid: std::process::id() };
            state.save()?;
            let mut thread = EmulatorThread { stop, handle: Some(handle) };
            if let Err(e) = wait_ready(state, || thread.finished()) {
                // Prefer the thread's own reason (e.g. no TUN) to "did not answer".
                return Err(thread.stop().err().unwrap_or(e));
            }
            Ok(Some(thread))
        }
        EmulatorMode::Process { program, args } => {
            let log_path = state_dir(&state.name).join("emulator.log");
            let log = std::fs::File::create(&log_path)
                .map_err(|e| LabError::io(format!("creating {}", log_path.display()), e))?;
            let mut child = Command::new(program)
                .args(args)
                .env("WEFT_LAB_SEED", seed.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .process_group(0)
                .spawn()
                .map_err(|e| {
                    LabError::io(format!("starting the emulator {}", program.display()), e)
                })?;
            state.emulator = EmulatorHost::Process { pid: child.id() };
            state.save()?;
            if let Err(e) = wait_ready(state, || child.try_wait().ok().flatten().is_some()) {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(LabError::Emulator(format!("{e}; its log says: {}", log.trim())));
            }
            Ok(None)
        }
    }
}

/// Pings the control socket until it answers, the emulator dies, or time runs out.
fn wait_ready(state: &LabState, mut exited: impl FnMut() -> bool) -> Result<()> {
    let socket = state.control_socket();
    let deadline = Instant::now() + EMULATOR_START;
    loop {
        match control::call(&socket, &Request::Ping) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) if exited() => return Err(LabError::Emulator("exited during start-up".into())),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}
