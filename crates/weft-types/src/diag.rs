//! Diagnostics that point into a text file (site configs, policies, lab
//! topologies): `file:line:col: message`, lines and columns 1-based.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem at a place in a file: `site.toml:12:9: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the error has no position, e.g. the file is unreadable).
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong and, where possible, what would be right.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at byte `span` of `source`.
    pub fn at(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = span.map_or((0, 0), |s| line_col(source, s.start));
        Self { file: file.to_owned(), line, column, message: message.into() }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
pub fn line_col(source: &str, at: usize) -> (usize, usize) {
    let at = at.min(source.len());
    let before = &source[..source.floor_char_boundary(at)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_columns() {
        let src = "a = 1\nbb = \"é\"\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 11), (2, 6));
        let d = Diagnostic::at(Path::new("s.toml"), src, Some(6..8), "bad");
        assert_eq!(d.to_string(), "s.toml:2:1: bad");
    }
}
