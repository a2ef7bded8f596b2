//! `weft log level [LEVEL]`: the agent's log level (`GET /api/v1/log`),
//! or a new one set at once (`PUT /api/v1/log`, scope admin, audited).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use weft_api::{LogLevel, LogLevelSet, LogSettings};

use super::client::AgentArgs;
use super::output::outln;

/// `weft log` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum LogCommand {
    /// Show the agent's log level and format, or set the level.
    Level {
        /// The new level; without it, the current one is shown.
        #[arg(value_enum)]
        level: Option<Level>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// A level as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl From<Level> for LogLevel {
    fn from(l: Level) -> Self {
        match l {
            Level::Error => Self::Error,
            Level::Warn => Self::Warn,
            Level::Info => Self::Info,
            Level::Debug => Self::Debug,
        }
    }
}

/// Runs one `weft log` command.
pub(crate) fn run(cmd: LogCommand) -> Result<ExitCode> {
    let LogCommand::Level { level, json, agent } = cmd;
    let client = agent.client();
    let s: LogSettings = match level {
        Some(l) => client.put("/api/v1/log", &LogLevelSet { level: l.into() })?,
        None => client.get("/api/v1/log")?,
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        outln!("{}", s.level.as_str());
    }
    Ok(ExitCode::SUCCESS)
}
