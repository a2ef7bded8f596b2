//! `weftd` — the Weft site agent.
//!
//! `weftd --config FILE` runs the site; `--check` only validates the file;
//! `--join TOKEN --seed HOST:PORT` enrols the site in a mesh first (once: the
//! certificate is kept in the state directory and renewed automatically).
//! `--log-format json` writes JSON lines instead of `weftd[SITE]: ...`;
//! `--log-level` sets the starting level (changed at run time through
//! `PUT /api/v1/log`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, ValueEnum};
use weftd::agent::{JoinRequest, RunOptions};

/// The Weft site agent: runs one site of the mesh from its configuration file.
#[derive(Parser, Debug)]
#[command(name = "weftd", version, about)]
struct Args {
    /// The site configuration (TOML).
    #[arg(short, long, value_name = "FILE", required_unless_present = "generate_docs")]
    config: Option<PathBuf>,
    /// Only validate the configuration and print a summary.
    #[arg(long)]
    check: bool,
    /// Enrol in a mesh with this join token first (made by `weft token create`).
    #[arg(long, value_name = "TOKEN")]
    join: Option<String>,
    /// A member's mesh address to enrol through (with --join).
    #[arg(long, value_name = "HOST:PORT")]
    seed: Option<String>,
    /// How log lines are written: `human` (`weftd[SITE]: message`, the default)
    /// or `json` (one object per line: time, level, site, component, message,
    /// request id); wins over `[log] format`.
    #[arg(long, value_name = "FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// The most detailed level logged at start (default info; the API changes
    /// it at run time); wins over `[log] level`.
    #[arg(long, value_name = "LEVEL", value_enum)]
    log_level: Option<LogLevel>,
    /// Write the man page and shell completions under DIR (for packaging).
    #[arg(long, value_name = "DIR", hide = true)]
    generate_docs: Option<PathBuf>,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let format = args.log_format.map(|f| match f {
        LogFormat::Human => weftd::log::Format::Human,
        LogFormat::Json => weftd::log::Format::Json,
    });
    let level = args.log_level.map(|l| match l {
        LogLevel::Error => weftd::log::Level::Error,
        LogLevel::Warn => weftd::log::Level::Warn,
        LogLevel::Info => weftd::log::Level::Info,
        LogLevel::Debug => weftd::log::Level::Debug,
    });
    // The flags now (for the lines before the configuration is read), the
    // file's `[log]` where a flag is absent once it is.
    weftd::log::set_format(format.unwrap_or_default());
    weftd::log::set_level(level.unwrap_or(weftd::log::Level::Info));
    if let Some(dir) = &args.generate_docs {
        return match weft_docgen::write(&Args::command(), dir) {
            Ok(files) => {
                for f in &files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("weftd: writing the man page to {}: {e}", dir.display());
                ExitCode::from(1)
            }
        };
    }
    let Args { config, check, join: token, seed, .. } = args;
    let Some(path) = config else { return ExitCode::from(2) };
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
        Ok(cfg) => {
            weftd::log::set_format(format.or(cfg.log.format).unwrap_or_default());
            weftd::log::set_level(level.or(cfg.log.level).unwrap_or(weftd::log::Level::Info));
            match weftd::agent::run(&cfg, &RunOptions { join }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    weftd::log_error!(Agent, "{e:#}");
                    ExitCode::from(1)
                }
            }
        }
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
