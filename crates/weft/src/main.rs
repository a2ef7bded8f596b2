//! `weft`, the operator CLI.
//!
//! Thin by design: [`clap`] parses the command line into one enum per command
//! group (`src/cmd/<group>.rs`), and each group's `run` calls into the libraries.
//! For now there is one group, `weft lab`; `genkey`, `status`, `policy …` and the
//! rest join as further variants of [`Command`] with their own module.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Weft: a path-aware mesh fabric.
#[derive(Parser, Debug)]
#[command(name = "weft", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The command groups.
#[derive(Subcommand, Debug)]
enum Command {
    /// Network-namespace labs with a WAN emulator (tests, benchmarks, demos).
    #[command(subcommand)]
    Lab(cmd::lab::LabCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lab(c) => cmd::lab::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("weft: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
