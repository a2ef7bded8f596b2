//! Policies in the agent: where they come from, how they are checked before
//! they run, where they are kept, and how the data plane sees them.
//!
//! A candidate policy (from the API, or the config's `[policy] file` at first
//! start) is parsed, compiled against this agent's [`SiteDirectory`] and its
//! own tests are run; any error or failed test refuses it and the running
//! policy stays. An accepted one is stored as a new version, made current,
//! written to the audit log, and handed to the control loop, which installs
//! its route profiles in the path engine and publishes it to the data plane
//! in one swap.
//!
//! - versions and the audit log live in the SQLite store (`crate::store`).
//! - `active`: the compiled policy as the data plane uses it.

mod active;

use std::fmt::Write as _;
use std::path::Path;

use weft_policy::{CompiledPolicy, Finding, Severity, SiteDirectory, SiteInfo, TestOutcome};

use crate::config::{ClassMap, SiteConfig};

pub(crate) use active::ActivePolicy;

/// Why a candidate policy was refused.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Refusal {
    /// Stable code: `policy_invalid`, `policy_tests_failed`.
    pub code: &'static str,
    /// One-line summary.
    pub message: String,
    /// Every error and warning (`file:line:col: ...`).
    pub findings: Vec<String>,
    /// Every test result.
    pub tests: Vec<TestOutcome>,
}

/// A policy that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The compiled policy.
    pub policy: CompiledPolicy,
    /// Its warnings (lint included).
    pub warnings: Vec<Finding>,
    /// Its test results (all passed).
    pub tests: Vec<TestOutcome>,
}

/// Parses, compiles, lints and tests `text`; `label` names it in diagnostics.
pub fn check(label: &Path, text: &str, directory: &SiteDirectory) -> Result<Checked, Refusal> {
    let doc = weft_policy::parse(label, text).map_err(|diags| Refusal {
        code: "policy_invalid",
        message: format!("the policy has {} error(s)", diags.len()),
        findings: diags.iter().map(ToString::to_string).collect(),
        tests: Vec::new(),
    })?;
    let mut dir = directory.clone();
    dir.fill_from(&SiteDirectory::from_document(&doc));
    let (policy, mut warnings) = weft_policy::compile(&doc, &dir).map_err(|e| Refusal {
        code: "policy_invalid",
        message: format!(
            "the policy has {} error(s)",
            e.0.iter().filter(|f| f.severity == Severity::Error).count()
        ),
        findings: e.0.iter().map(ToString::to_string).collect(),
        tests: Vec::new(),
    })?;
    warnings.extend(weft_policy::lint(&policy));
    let tests = weft_policy::run_tests(&policy);
    let failed = tests.iter().filter(|t| !t.passed).count();
    if failed > 0 {
        return Err(Refusal {
            code: "policy_tests_failed",
            message: format!("{failed} of {} policy test(s) failed", tests.len()),
            findings: warnings.iter().map(ToString::to_string).collect(),
            tests,
        });
    }
    Ok(Checked { policy, warnings, tests })
}

/// What this agent knows of sites: itself and its peers, with prefixes,
/// roles, regions and (for itself) uplink names.
pub fn directory(cfg: &SiteConfig) -> SiteDirectory {
    let mut dir = SiteDirectory::default();
    dir.insert(
        cfg.name.to_string(),
        SiteInfo {
            prefixes: cfg.prefixes.clone(),
            role: cfg.role.clone(),
            region: cfg.region.clone(),
            uplinks: cfg.uplinks.iter().map(|u| u.name.clone()).collect(),
        },
    );
    for p in &cfg.peers {
        dir.insert(
            p.name.to_string(),
            SiteInfo {
                prefixes: p.prefixes.clone(),
                role: p.role.clone(),
                region: p.region.clone(),
                uplinks: Vec::new(),
            },
        );
    }
    dir
}

/// The policy an agent runs when none was ever applied: allow everything,
/// classes from the site config's `[[class]]` rules.
pub fn builtin_text(classes: &ClassMap) -> String {
    let mut s = String::from(
        "# Built in: allow everything; classes from the site config's [[class]] rules.\n\
         [policy]\nname = \"builtin\"\ndefault = \"allow\"\n",
    );
    for (i, r) in classes.rules.iter().enumerate() {
        let _ = write!(
            s,
            "\n[[route]]\nname = \"class-rule-{}\"\nprotocol = \"{}\"\n",
            i + 1,
            r.protocol.0
        );
        // Ports only where the protocol has them (ICMP rules match the whole protocol).
        if r.protocol.has_ports() {
            let _ = writeln!(s, "ports = \"{}-{}\"", r.ports.start(), r.ports.end());
        }
        let _ = writeln!(s, "class = \"{}\"", r.class);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClassRule;
    use weft_types::IpProtocol;

    #[test]
    fn the_builtin_policy_keeps_the_config_class_rules_in_order() {
        let classes = ClassMap {
            rules: vec![
                ClassRule {
                    protocol: IpProtocol::UDP,
                    ports: 5060..=5061,
                    class: "realtime".into(),
                },
                ClassRule { protocol: IpProtocol::TCP, ports: 0..=65535, class: "bulk".into() },
            ],
        };
        let checked =
            check(Path::new("builtin"), &builtin_text(&classes), &SiteDirectory::default())
                .unwrap();
        let flow = |proto, port| {
            let key = weft_types::FlowKey {
                src: "10.1.0.1".parse().unwrap(),
                dst: "10.2.0.1".parse().unwrap(),
                protocol: proto,
                src_port: 40000,
                dst_port: port,
            };
            let c = checked.policy.classify(&weft_policy::FlowPoint::new(&key, 0));
            (c.action, checked.policy.profiles[c.profile as usize].class.clone())
        };
        assert_eq!(
            flow(IpProtocol::UDP, 5060),
            (weft_policy::Action::Allow, "realtime".to_owned())
        );
        assert_eq!(flow(IpProtocol::TCP, 22), (weft_policy::Action::Allow, "bulk".to_owned()));
        assert_eq!(
            flow(IpProtocol::ICMP, 0),
            (weft_policy::Action::Allow, "best-effort".to_owned())
        );
    }

    #[test]
    fn the_builtin_policy_of_an_icmp_rule_lints_clean() {
        let classes = ClassMap {
            rules: vec![ClassRule {
                protocol: IpProtocol::ICMP,
                ports: 0..=65535,
                class: "interactive".into(),
            }],
        };
        let checked =
            check(Path::new("builtin"), &builtin_text(&classes), &SiteDirectory::default())
                .unwrap();
        assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
    }
}
