//! [`Lab`]: a running lab, owned (torn down on drop) or attached to.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::builder::LabBuilder;
use crate::emulator::control::{self, EmulatorStats, Request, Response};
use crate::error::{LabError, Result};
use crate::impairment::{Impairment, LinkChange};
use crate::select::{SiteSel, UplinkSel, site_index, uplink_index};
use crate::state::{LabState, SiteState, UplinkState};
use crate::status::LabStatus;
use crate::{links, netsetup, sys};

/// The emulator running on a thread of this process.
pub(crate) struct EmulatorThread {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) handle: Option<JoinHandle<Result<()>>>,
}

impl EmulatorThread {
    pub(crate) fn finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the thread and returns how it ended.
    pub(crate) fn stop(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(LabError::Emulator("the emulator thread panicked".into())),
            None => Ok(()),
        }
    }
}

/// A running lab.
///
/// A lab made by [`Lab::builder`] is *owned*: dropping it (also while a test
/// panics) kills the processes it spawned, stops the emulator and deletes its
/// namespaces. A lab from [`Lab::attach`] is not: drop leaves it running; call
/// [`Lab::down`] to remove it.
pub struct Lab {
    state: LabState,
    owned: bool,
    emulator: Option<EmulatorThread>,
    children: Vec<Child>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("name", &self.state.name)
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

impl Lab {
    /// Starts describing a new lab.
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    pub(crate) fn from_parts(state: LabState, owned: bool) -> Self {
        Self { state, owned, emulator: None, children: Vec::new() }
    }

    pub(crate) fn set_emulator_thread(&mut self, t: Option<EmulatorThread>) {
        self.emulator = t;
    }

    pub(crate) fn replace_state(&mut self, state: LabState) {
        self.state = state;
    }

    /// Attaches to a lab built by another process (or earlier), from its state file.
    /// Dropping the handle leaves the lab running.
    pub fn attach(name: &str) -> Result<Self> {
        crate::topology::validate_lab_name(name)?;
        Ok(Self::from_parts(LabState::load(name)?, false))
    }

    /// Removes lab `name` from its state file: processes, emulator, namespaces.
    /// Works on a half-built lab.
    pub fn destroy(name: &str) -> Result<()> {
        sys::preflight()?;
        Self::attach(name)?.down()
    }

    /// Removes labs left behind by test processes that died without unwinding
    /// (killed, aborted): their emulator ran on a thread of a process that no longer
    /// exists. Returns the names removed. [`LabBuilder::build`] calls this first.
    pub fn reap_stale() -> Vec<String> {
        let mut reaped = Vec::new();
        for name in LabState::list() {
            let Ok(state) = LabState::load(&name) else { continue };
            if let crate::state::EmulatorHost::Thread { pid } = state.emulator
                && !sys::alive(pid)
                && netsetup::destroy(&state).is_ok()
            {
                reaped.push(name);
            }
        }
        reaped
    }

    /// Leaves the lab running when this handle is dropped; returns its name.
    /// Only for labs whose emulator runs as a process ([`crate::EmulatorMode::Process`]).
    pub fn keep(mut self) -> String {
        self.owned = false;
        self.children.clear();
        self.state.name.clone()
    }

    /// The lab name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Everything known about the lab (names, addresses, impairments).
    pub fn state(&self) -> &LabState {
        &self.state
    }

    /// The sites, by index.
    pub fn sites(&self) -> &[SiteState] {
        &self.state.sites
    }

    /// One site, by index or name.
    pub fn site(&self, site: impl Into<SiteSel>) -> Result<&SiteState> {
        Ok(&self.state.sites[site_index(&self.state, &site.into())?])
    }

    /// The internet namespace, where the emulator runs.
    pub fn inet_netns(&self) -> &str {
        &self.state.inet_ns
    }

    fn indices(
        &self,
        site: impl Into<SiteSel>,
        uplink: impl Into<UplinkSel>,
    ) -> Result<(usize, usize)> {
        let s = site_index(&self.state, &site.into())?;
        let u = uplink_index(&self.state.sites[s], &uplink.into())?;
        Ok((s, u))
    }

    /// One uplink of a site.
    pub fn uplink(
        &self,
        site: impl Into<SiteSel>,
        uplink: impl Into<UplinkSel>,
    ) -> Result<&UplinkState> {
        let (s, u) = self.indices(site, uplink)?;
        Ok(&self.state.sites[s].uplinks[u])
    }

    /// A site's address on one of its uplinks.
    pub fn addr(&self, site: impl Into<SiteSel>, uplink: impl Into<UplinkSel>) -> Result<Ipv4Addr> {
        Ok(self.uplink(site, uplink)?.addr)
    }

    /// A command that will run `program` inside the site's namespace
    /// (`ip netns exec <ns> program`); add arguments and run it yourself.
    pub fn command(&self, site: impl Into<SiteSel>, program: impl AsRef<OsStr>) -> Result<Command> {
        let ns = &self.site(site)?.netns;
        let mut c = Command::new("ip");
        c.args(["netns", "exec"]).arg(ns).arg(program);
        Ok(c)
    }

    /// Runs `argv` in the site to completion and returns its output, whatever its
    /// exit status.
    pub fn exec<S: AsRef<OsStr>>(&self, site: impl Into<SiteSel>, argv: &[S]) -> Result<Output> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| LabError::io("exec", std::io::ErrorKind::InvalidInput.into()))?;
        let line = sys::cmdline(&program.as_ref().to_string_lossy(), args);
        self.command(site, program)?
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| LabError::io(format!("running `{line}`"), e))
    }

    /// Like [`exec`](Self::exec), but a non-zero exit is an error; returns stdout.
    pub fn exec_ok<S: AsRef<OsStr>>(&self, site: impl Into<SiteSel>, argv: &[S]) -> Result<String> {
        let out = self.exec(site, argv)?;
        if !out.status.success() {
            let program =
                argv.first().map(|p| p.as_ref().to_string_lossy().into_owned()).unwrap_or_default();
            return Err(LabError::Command {
                cmd: sys::cmdline(&program, &argv[1..]),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `argv` in the site in the background (stdin and stdout to /dev/null,
    /// stderr inherited) and returns its PID. The lab kills it when dropped.
    pub fn spawn<S: AsRef<OsStr>>(&mut self, site: impl Into<SiteSel>, argv: &[S]) -> Result<u32> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| LabError::io("spawn", std::io::ErrorKind::InvalidInput.into()))?;
        let mut cmd = self.command(site, program)?;
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null());
        self.spawn_command(cmd)
    }

    /// Starts a prepared [`command`](Self::command) in the background and returns its
    /// PID. The lab kills it when dropped.
    pub fn spawn_command(&mut self, mut cmd: Command) -> Result<u32> {
        let child = cmd.spawn().map_err(|e| LabError::io(format!("starting {cmd:?}"), e))?;
        let pid = child.id();
        self.children.push(child);
        self.state.pids.push(pid);
        self.state.save()?;
        Ok(pid)
    }

    /// Stops a process started by [`spawn`](Self::spawn) (SIGTERM, then SIGKILL).
    pub fn kill(&mut self, pid: u32) {
        sys::terminate(pid, std::time::Duration::from_secs(1));
        if let Some(i) = self.children.iter().position(|c| c.id() == pid) {
            let mut child = self.children.swap_remove(i);
            let _ = child.wait();
        }
        self.state.pids.retain(|p| *p != pid);
        let _ = self.state.save();
    }

    /// Runs `f` on a thread inside the site's namespace and returns its result.
    /// Sockets it creates stay in that namespace, so a test can bind a UDP socket
    /// "in site a" and use it from anywhere.
    pub fn in_site<T: Send>(
        &self,
        site: impl Into<SiteSel>,
        f: impl FnOnce() -> T + Send,
    ) -> Result<T> {
        sys::in_netns(&self.site(site)?.netns, f)
    }

    /// The current impairment of an uplink.
    pub fn link(
        &self,
        site: impl Into<SiteSel>,
        uplink: impl Into<UplinkSel>,
    ) -> Result<Impairment> {
        Ok(self.uplink(site, uplink)?.impairment)
    }

    /// Replaces an uplink's impairment (see [`Impairment`] for the semantics).
    pub fn set_link(
        &mut self,
        site: impl Into<SiteSel>,
        uplink: impl Into<UplinkSel>,
        imp: Impairment,
    ) -> Result<()> {
        let (s, u) = self.indices(site, uplink)?;
        links::apply(&mut self.state, s, u, imp)
    }

    /// Changes only the given fields of an uplink's impairment; returns the result.
    pub fn change_link(
        &mut self,
        site: impl Into<SiteSel>,
        uplink: impl Into<UplinkSel>,
        change: &LinkChange,
    ) -> Result<Impairment> {
        let (s, u) = self.indices(site, uplink)?;
        let imp = change.apply(self.state.sites[s].uplinks[u].impairment)?;
        links::apply(&mut self.state, s, u, imp)?;
        Ok(imp)
    }

    /// The emulator's counters.
    pub fn emulator_stats(&self) -> Result<EmulatorStats> {
        match control::call(&self.state.control_socket(), &Request::Stats)? {
            Response::Stats(s) => Ok(s),
            other => Err(LabError::Emulator(format!("unexpected answer {other:?}"))),
        }
    }

    /// Sites, uplinks, addresses, impairments and the emulator's counters.
    pub fn status(&self) -> LabStatus {
        LabStatus { state: self.state.clone(), emulator: self.emulator_stats().ok() }
    }

    /// Tears the lab down now: spawned processes, emulator, namespaces, state.
    pub fn down(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        self.owned = false;
        for child in &mut self.children {
            sys::terminate(child.id(), std::time::Duration::from_secs(1));
            let _ = child.wait();
        }
        self.children.clear();
        if let Some(mut t) = self.emulator.take() {
            let _ = control::call(&self.state.control_socket(), &Request::Shutdown);
            let _ = t.stop();
        }
        netsetup::destroy(&self.state)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.owned
            && let Err(e) = self.teardown()
        {
            eprintln!("weft-lab: tearing down lab {}: {e}", self.state.name);
        }
    }
}
