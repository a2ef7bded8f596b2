//! The lab's contact with the system: running `ip`/`tc`, entering namespaces,
//! checking privileges, signalling processes. No `unsafe`: rustix does the calls.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::error::{LabError, Result};

/// Where `ip netns` keeps its namespace handles.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// Renders a command line for error messages.
pub(crate) fn cmdline<S: AsRef<OsStr>>(program: &str, args: &[S]) -> String {
    let mut s = program.to_owned();
    for a in args {
        s.push(' ');
        s.push_str(&a.as_ref().to_string_lossy());
    }
    s
}

fn spawn_error(program: &str, line: &str, e: std::io::Error) -> LabError {
    if e.kind() == std::io::ErrorKind::NotFound {
        match program {
            "ip" => return LabError::MissingTool { tool: "ip", package: "iproute2" },
            "tc" => return LabError::MissingTool { tool: "tc", package: "iproute2" },
            _ => {}
        }
    }
    LabError::io(format!("cannot run `{line}`"), e)
}

fn check(line: String, out: &Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    Err(LabError::Command {
        cmd: line,
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Runs a program to completion; a non-zero exit becomes [`LabError::Command`].
pub(crate) fn run<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<String> {
    let line = cmdline(program, args);
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(program, &line, e))?;
    check(line, &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip [-n NS] -batch -` with `script` on stdin: many changes, one process.
pub(crate) fn ip_batch(netns: Option<&str>, script: &str) -> Result<()> {
    let mut args: Vec<&str> = Vec::new();
    if let Some(ns) = netns {
        args.extend(["-n", ns]);
    }
    args.extend(["-batch", "-"]);
    let line = format!("{} <<EOF\n{}EOF", cmdline("ip", &args), script);
    let mut child = Command::new("ip")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error("ip", &line, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| LabError::io(format!("writing to `{line}`"), e))?;
    }
    let out =
        child.wait_with_output().map_err(|e| LabError::io(format!("waiting for `{line}`"), e))?;
    check(line, &out)
}

/// Path of a named network namespace.
pub(crate) fn netns_path(ns: &str) -> std::path::PathBuf {
    Path::new(NETNS_DIR).join(ns)
}

/// True if the named namespace exists.
pub(crate) fn netns_exists(ns: &str) -> bool {
    netns_path(ns).exists()
}

/// Moves the calling thread into the named network namespace. Only this thread
/// moves: other threads of the process stay where they are.
pub(crate) fn enter_netns(ns: &str) -> Result<()> {
    let path = netns_path(ns);
    let f = File::open(&path)
        .map_err(|e| LabError::io(format!("opening namespace {}", path.display()), e))?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&f),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| LabError::io(format!("entering namespace {ns} (setns)"), e.into()))
}

/// Runs `f` on a fresh thread that first enters namespace `ns`; sockets and devices
/// it creates belong to that namespace for their whole life.
pub(crate) fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter_netns(ns)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Writes sysctls inside a namespace (`net.*` sysctls are per namespace and
/// resolved for the writing thread).
pub(crate) fn sysctls(ns: &str, settings: &[(&str, &str)]) -> Result<()> {
    in_netns(ns, || {
        for (key, value) in settings {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value)
                .map_err(|e| LabError::io(format!("setting {key}={value} in {ns}"), e))?;
        }
        Ok(())
    })?
}

/// Fails unless the process can build labs: root, `ip` installed, namespaces and
/// TUN available.
pub(crate) fn preflight() -> Result<()> {
    let euid = rustix::process::geteuid();
    if !euid.is_root() {
        return Err(LabError::NotRoot { euid: euid.as_raw() });
    }
    if !Path::new("/proc/self/ns/net").exists() {
        return Err(LabError::NoNamespaceSupport(
            "/proc/self/ns/net is missing (kernel without CONFIG_NET_NS?)".into(),
        ));
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err(LabError::NoNamespaceSupport(
            "/dev/net/tun is missing (no TUN support for the WAN emulator)".into(),
        ));
    }
    run("ip", &["-V"]).map(drop)
}

/// True if a process with this PID exists (and is not a zombie we could reap).
pub(crate) fn alive(pid: u32) -> bool {
    let Some(p) = Pid::from_raw(pid.cast_signed()) else { return false };
    if rustix::process::test_kill_process(p).is_err() {
        return false;
    }
    // A zombie still answers kill(0); treat it as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILL. Never signals this process.
pub(crate) fn terminate(pid: u32, grace: Duration) {
    if pid == std::process::id() {
        return;
    }
    let Some(p) = Pid::from_raw(pid.cast_signed()) else { return };
    if rustix::process::kill_process(p, Signal::TERM).is_err() {
        return;
    }
    let deadline = Instant::now() + grace;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if alive(pid) {
        let _ = rustix::process::kill_process(p, Signal::KILL);
    }
}
