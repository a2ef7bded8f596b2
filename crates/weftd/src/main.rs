//! `weftd` — the Weft site agent.
//!
//! `weftd --config FILE` runs the site; `--check` only validates the file;
//! `--join TOKEN --seed HOST:PORT` enrols the site in a mesh first (once: the
//! certificate is kept in the state directory and renewed automatically).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use weftd::agent::{JoinRequest, RunOptions};

fn usage() -> ExitCode {
    eprintln!("usage: weftd --config FILE [--check] [--join TOKEN --seed HOST:PORT]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config: Option<PathBuf> = None;
    let mut check = false;
    let mut token: Option<String> = None;
    let mut seed: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" | "-c" => match it.next() {
                Some(p) => config = Some(PathBuf::from(p)),
                None => return usage(),
            },
            "--check" => check = true,
            "--join" => match it.next() {
                Some(t) => token = Some(t.clone()),
                None => return usage(),
            },
            "--seed" => match it.next() {
                Some(s) => seed = Some(s.clone()),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    let Some(path) = config else { return usage() };
    let join = match (token, seed) {
        (None, None) => None,
        (Some(_), None) => {
            eprintln!("weftd: --join needs --seed HOST:PORT (a member's mesh address)");
            return ExitCode::from(2);
        }
        (None, Some(_)) => {
            eprintln!("weftd: --seed needs --join TOKEN (make one with `weft token create`)");
            return ExitCode::from(2);
        }
        (Some(token), Some(seed)) => match resolve(&seed) {
            Ok(seed) => Some(JoinRequest { token, seed }),
            Err(e) => {
                eprintln!("weftd: --seed {seed}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match weftd::config::load(&path) {
        Ok(cfg) if check => {
            println!(
                "{}: ok (site {}, {} uplinks, {} peers)",
                path.display(),
                cfg.name,
                cfg.uplinks.len(),
                cfg.peers.len()
            );
            ExitCode::SUCCESS
        }
        Ok(cfg) => match weftd::agent::run(&cfg, &RunOptions { join }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("weftd: {e:#}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn resolve(seed: &str) -> Result<SocketAddr, String> {
    let mut addrs = seed.to_socket_addrs().map_err(|e| format!("not HOST:PORT ({e})"))?;
    addrs.next().ok_or_else(|| "resolves to no address".to_owned())
}
