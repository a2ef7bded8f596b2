//! `weft doctor`: checks a host before and after installing weftd and says
//! what to fix. Run it as weftd runs (root, or under the unit's
//! capabilities). Exit code 1 if any check fails, 0 otherwise (warnings
//! included).
//!
//! Checks ([`checks`]): the TUN device, network namespaces, the network
//! capabilities, clock synchronisation, the ports weftd binds (skipped when
//! the agent already answers on its socket), the state directory, the
//! site certificate's expiry and the seeds' addresses.

mod checks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use checks::{Check, Outcome};

/// `weft doctor` options.
#[derive(clap::Args, Debug)]
pub(crate) struct DoctorArgs {
    /// The agent's state directory.
    #[arg(long, value_name = "DIR", default_value = weft_layout::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// A port weftd will bind, as PROTO/ADDR:PORT (default: the API on tcp
    /// 127.0.0.1:7420, the mesh on udp 0.0.0.0:7946, WireGuard on udp 0.0.0.0:51820).
    #[arg(long = "port", value_name = "PROTO/ADDR:PORT", value_parser = parse_port)]
    ports: Vec<(String, SocketAddr)>,
    /// A seed to check (HOST:PORT; default: those in `STATE_DIR/mesh/seeds`).
    #[arg(long = "seed", value_name = "HOST:PORT")]
    seeds: Vec<String>,
}

fn parse_port(s: &str) -> Result<(String, SocketAddr), String> {
    let (proto, addr) = s.split_once('/').ok_or("PROTO/ADDR:PORT, e.g. udp/0.0.0.0:51820")?;
    if proto != "tcp" && proto != "udp" {
        return Err(format!("{proto:?}: tcp or udp"));
    }
    Ok((proto.to_owned(), addr.parse().map_err(|e| format!("{addr:?}: {e}"))?))
}

/// Runs every check, prints one line each (and the fix), returns 1 on a failure.
pub(crate) fn run(args: &DoctorArgs) -> ExitCode {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut all =
        vec![checks::tun(), checks::netns(), checks::capabilities(&status), checks::clock()];
    let socket = args.state_dir.join(weft_layout::API_SOCKET);
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        all.push(Check {
            name: "ports",
            outcome: Outcome::Ok,
            found: format!(
                "weftd is running (it answers on {}): its ports are its own",
                socket.display()
            ),
            fix: None,
        });
    } else {
        let defaults =
            [("tcp", weft_layout::DEFAULT_API), ("udp", "0.0.0.0:7946"), ("udp", "0.0.0.0:51820")];
        let ports: Vec<(String, SocketAddr)> = if args.ports.is_empty() {
            defaults.iter().filter_map(|(p, a)| Some(((*p).to_owned(), a.parse().ok()?))).collect()
        } else {
            args.ports.clone()
        };
        all.extend(ports.iter().map(|(p, a)| checks::port(p, *a)));
    }
    all.push(checks::state_dir(&args.state_dir));
    all.push(checks::certificate(&args.state_dir, now));
    all.extend(checks::seeds(&args.state_dir, &args.seeds));
    report(&all)
}

/// Prints the checks; the exit code is 1 if any failed.
fn report(all: &[Check]) -> ExitCode {
    for c in all {
        let tag = match c.outcome {
            Outcome::Ok => "ok  ",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
        };
        println!("{tag} {}: {}", c.name, c.found);
        if let Some(fix) = &c.fix {
            println!("     fix: {fix}");
        }
    }
    let failed = all.iter().filter(|c| c.outcome == Outcome::Fail).count();
    let warned = all.iter().filter(|c| c.outcome == Outcome::Warn).count();
    println!("{} checks: {failed} failed, {warned} warnings", all.len());
    if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
