//! `weft generate-docs DIR` (hidden): the man pages and shell completions
//! of `weft`, from its clap definition, for the package
//! (`scripts/package.sh`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

/// Writes the pages and completions of `cmd` under `dir`, naming each file.
pub(crate) fn generate(cmd: &clap::Command, dir: &Path) -> Result<ExitCode> {
    let files = weft_docgen::write(cmd, dir)
        .with_context(|| format!("writing the man pages and completions to {}", dir.display()))?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
