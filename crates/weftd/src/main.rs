//! `weftd` — the Weft site agent.
//!
//! Today it loads and validates a site configuration (`weftd --config FILE
//! --check`); the event loop that runs the data plane is being built (issue 4).

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: weftd --config FILE --check");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config: Option<PathBuf> = None;
    let mut check = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" | "-c" => match it.next() {
                Some(p) => config = Some(PathBuf::from(p)),
                None => return usage(),
            },
            "--check" => check = true,
            _ => return usage(),
        }
    }
    let Some(path) = config else { return usage() };
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
        Ok(_) => {
            eprintln!(
                "weftd: running the agent is not implemented yet; use --check to validate a config"
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
