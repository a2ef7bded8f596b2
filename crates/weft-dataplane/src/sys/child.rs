//! Helper processes the agent runs beside itself (BIRD for BGP): they must
//! not outlive it, even when it is killed with SIGKILL.

use std::process::Command;

/// Makes the process `cmd` starts receive SIGTERM when the thread that
/// spawned it (the agent) dies (`prctl(PR_SET_PDEATHSIG)` in the child,
/// before `exec`).
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and calls
    // only prctl, which is async-signal-safe and touches no memory of ours.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
