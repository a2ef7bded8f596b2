//! Policy as code for Weft.
//!
//! A policy document (TOML) names SLA classes, application matchers, routing
//! rules, segmentation ACLs with explicit deny, and tests. This crate parses it
//! (every error with file, line and column), validates it, lints it (shadowed
//! and unreachable rules, unknown names, overlapping allow/deny), runs its
//! tests, diffs it against another version, and compiles it into a
//! [`Classifier`] the data plane queries once per new flow.
//!
//! It does **not** read files, talk to agents or touch packets: the caller hands
//! in the text, the [`SiteDirectory`] (which sites, roles and regions own which
//! prefixes) and gets plain values back.
//!
//! # How to drive it
//! 1. [`parse`] the text into a [`Document`] (diagnostics on failure).
//! 2. [`compile`] it with a [`SiteDirectory`] into a [`CompiledPolicy`].
//! 3. [`CompiledPolicy::classify`] a flow: a segmentation [`Verdict`] with the
//!    rule that decided it, and the routing [`RouteProfile`] (SLA class, path
//!    preference, balancing, uplinks) that flow should be pinned to.
//! 4. [`run_tests`], [`lint`] and [`diff`] before a policy goes live.
//!
//! # Layout
//! - [`space`]: flow space; flows are points, matchers are unions of boxes.
//! - [`classifier`]: the compiled first-match classifier over boxes.
//! - [`partition`]: splits a box by first matching rule (exact analyses).
//! - `diag`: diagnostics with `file:line:col`.
//! - `raw`: the document as written (serde, with spans).
//! - [`model`]: the validated document.
//! - `resolve`: groups, sites, roles and regions into address spans.
//! - [`compiled`]: the compiled policy and flow classification.
//! - [`identity`]: identity rules (SPIFFE callers → services) and their decision.
//! - `checks`: policy tests, lint, diff.
#![forbid(unsafe_code)]

pub mod classifier;
pub mod partition;
pub mod space;

pub use classifier::Classifier;
pub use space::{FlowBox, FlowPoint, Span};
mod checks;
pub mod compiled;
mod findings;
pub mod identity;
pub mod model;
mod raw;
mod resolve;
mod validate;
mod validate_identity;

pub use checks::{DiffReport, FlowChange, TestOutcome, diff, lint, run_tests};
pub use compiled::{Classification, CompileError, CompiledPolicy, RuleSet, compile};
pub use findings::{Finding, Severity};
pub use identity::{IdentityDecision, IdentityPattern, IdentityRule, IdentityRules, IdentityTest};
pub use model::{Action, ClassQos, Document, Location, SiteInfo};
pub use resolve::SiteDirectory;

/// Parses and validates a policy document; `file` names it in diagnostics.
pub fn parse(
    file: &std::path::Path,
    source: &str,
) -> Result<Document, Vec<weft_types::Diagnostic>> {
    let raw: raw::RawDocument = toml::from_str(source).map_err(|e| {
        vec![weft_types::Diagnostic::at(file, source, e.span(), e.message().trim_end())]
    })?;
    let mut c = validate::Checker::new(file, source);
    let doc = validate::validate(&mut c, &raw);
    if c.errors.is_empty() { Ok(doc) } else { Err(c.errors) }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_identity;
