//! `weft`, the operator CLI.
//!
//! Thin by design: [`clap`] parses the command line into one enum per command
//! group (`src/cmd/<group>.rs`), and each group's `run` calls into the libraries.
//! Today: `weft lab …` and the key helpers `weft genkey` / `weft pubkey`;
//! `weft policy …` (lint, test, diff, apply, rollback, show, history);
//! `status` and the rest join as further variants of [`Command`]
//! with their own module.

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
    /// Policy as code: lint, test, diff, apply, rollback.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Print a new WireGuard private key (base64, like `wg genkey`).
    Genkey,
    /// Read a private key on stdin and print its public key (like `wg pubkey`).
    Pubkey,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lab(c) => cmd::lab::run(c),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Genkey => cmd::keys::genkey(),
        Command::Pubkey => cmd::keys::pubkey(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("weft: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
