//! Man pages and shell completions for Weft's binaries, generated from
//! their clap definitions so they never drift from `--help`.
//!
//! Each binary calls [`write`] from a hidden option (`weft generate-docs
//! DIR`, `weftd --generate-docs DIR`); `scripts/package.sh` puts the files
//! in the Debian package. No I/O but the files written; nothing is read.
//!
//! # Layout
//! `DIR/man1/NAME.1` and one page per subcommand (`NAME-SUB.1`, recursively,
//! hidden commands left out); `DIR/completions/NAME.bash`, `_NAME` (zsh),
//! `NAME.fish`.
#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::Command;
use clap_complete::Shell;

/// Writes the man pages and completions of `cmd` under `dir`; returns the
/// files written.
pub fn write(cmd: &Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut cmd = cmd.clone();
    cmd.build();
    let mut written = Vec::new();
    let man = dir.join("man1");
    fs::create_dir_all(&man)?;
    man_pages(&cmd, cmd.get_name(), &man, &mut written)?;
    let completions = dir.join("completions");
    fs::create_dir_all(&completions)?;
    let name = cmd.get_name().to_owned();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let file = completions.join(match shell {
            Shell::Bash => format!("{name}.bash"),
            Shell::Zsh => format!("_{name}"),
            _ => format!("{name}.fish"),
        });
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), &name, &mut out);
        fs::write(&file, out)?;
        written.push(file);
    }
    Ok(written)
}

/// The page of `cmd` (named `title`, `weft-policy-apply` for a
/// subcommand), then its visible subcommands'.
fn man_pages(cmd: &Command, title: &str, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    // clap takes a `'static` name without its `string` feature (which would
    // rebuild clap for every crate); a one-shot generator can leak a few.
    let name: &'static str = Box::leak(title.to_owned().into_boxed_str());
    let page = cmd.clone().name(name);
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    let file = dir.join(format!("{title}.1"));
    fs::write(&file, out)?;
    written.push(file);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        man_pages(sub, &format!("{title}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_gets_a_page_per_visible_subcommand_and_three_completions() {
        let cmd = Command::new("demo")
            .about("A demo.")
            .subcommand(Command::new("run").about("Runs.").subcommand(Command::new("fast")))
            .subcommand(Command::new("secret").hide(true));
        let dir = std::env::temp_dir().join(format!("weft-docgen-{}", std::process::id()));
        let files = write(&cmd, &dir).unwrap();
        let names: Vec<String> =
            files.iter().map(|f| f.strip_prefix(&dir).unwrap().display().to_string()).collect();
        assert_eq!(
            names,
            [
                "man1/demo.1",
                "man1/demo-run.1",
                "man1/demo-run-fast.1",
                "completions/demo.bash",
                "completions/_demo",
                "completions/demo.fish"
            ]
        );
        let page = fs::read_to_string(dir.join("man1/demo.1")).unwrap();
        assert!(page.contains(".TH demo 1") && page.contains("A demo."), "{page}");
        let bash = fs::read_to_string(dir.join("completions/demo.bash")).unwrap();
        assert!(bash.contains("complete") && bash.contains("run"), "{bash}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
