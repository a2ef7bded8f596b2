//! Findings: errors and warnings about a policy, each at a place in its file
//! and with a stable code (`shadowed`, `unknown-site`, …) scripts can match.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::Location;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy cannot be applied.
    Error,
    /// The policy works, but probably not as meant.
    Warning,
}

/// One problem found in a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// The file.
    pub file: PathBuf,
    /// Where (line 0 = the file as a whole).
    pub at: Location,
    /// What is wrong and what would be right.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.at.line == 0 {
            write!(f, "{}: {sev}[{}]: {}", self.file.display(), self.code, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {sev}[{}]: {}",
                self.file.display(),
                self.at.line,
                self.at.column,
                self.code,
                self.message
            )
        }
    }
}

/// A collector of findings for one file.
#[derive(Debug, Clone)]
pub(crate) struct Findings {
    file: PathBuf,
    list: Vec<Finding>,
}

impl Findings {
    pub(crate) fn new(file: &Path) -> Self {
        Self { file: file.to_owned(), list: Vec::new() }
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        at: Location,
        code: &'static str,
        message: String,
    ) {
        let f = Finding { severity, code, file: self.file.clone(), at, message };
        if !self.list.contains(&f) {
            self.list.push(f);
        }
    }

    pub(crate) fn warn(&mut self, at: Location, code: &'static str, message: String) {
        self.push(Severity::Warning, at, code, message);
    }

    pub(crate) fn error(&mut self, at: Location, code: &'static str, message: String) {
        self.push(Severity::Error, at, code, message);
    }

    pub(crate) fn into_vec(mut self) -> Vec<Finding> {
        self.list.sort_by(|a, b| a.at.cmp(&b.at).then(a.severity.cmp(&b.severity)));
        self.list
    }
}
