//! `weftd` — the Weft site agent.
//!
//! `weftd --config FILE` runs the site; `--check` only validates the file.

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: weftd --config FILE [--check]");
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
        Ok(cfg) => match weftd::agent::run(&cfg) {
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
