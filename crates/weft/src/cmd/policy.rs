//! `weft policy …`: check policies offline, and apply them to an agent.
//!
//! Offline (no agent needed, fit for CI): `lint`, `test`, and `diff --against
//! OLD.toml`. Against the agent (see [`AgentArgs`] for how it is reached):
//! `diff` (with the running policy), `apply`, `rollback`, `show`, `history`.
//!
//! Exit codes: 0 success; 1 the policy has errors or failing tests, or the
//! agent refused it; 2 bad usage; 3 the agent could not be reached; 4 the
//! agent refused the credentials (no or wrong token, or a scope below admin).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::{Value, json};
use weft_api::AuditRecord;
use weft_policy::{CompiledPolicy, DiffReport, Finding, Severity, SiteDirectory, TestOutcome};

use super::client::{AgentArgs, Body, ClientError, Query};
use super::output::{out, outln};
use super::output::{utc, utc_ms};

/// Content type of a policy document.
const TOML: &str = "application/toml";

/// Sends a policy request and returns (status, JSON body) whatever the status,
/// except refused credentials (401, 403), which are errors (exit code 4).
fn request(
    agent: &AgentArgs,
    method: &str,
    path: &str,
    body: Option<Body<'_>>,
) -> Result<(u16, Value), ClientError> {
    let r = agent.client().send(method, path, body)?;
    match r.error() {
        Some(e @ ClientError::Auth { .. }) => Err(e),
        _ => Ok((r.head.status, r.json())),
    }
}

/// `weft policy` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum PolicyCommand {
    /// Check a policy: errors and warnings with `file:line:col`.
    Lint {
        /// The policy file.
        file: PathBuf,
        /// Fail (exit 1) on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run the policy's own [[test]] tables.
    Test {
        /// The policy file.
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// What would change: rules, and sample flows whose verdict or path changes.
    Diff {
        /// The candidate policy file.
        file: PathBuf,
        /// Compare with this file instead of the agent's running policy.
        #[arg(long)]
        against: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Apply a policy to the agent (checked there first; refused if anything
    /// fails). On a controller the policy goes to every site of the mesh.
    Apply {
        /// The policy file.
        file: PathBuf,
        /// Controllers: these sites (comma-separated) get it first; the others
        /// keep the current version until `weft policy promote`.
        #[arg(long, value_name = "SITE,...")]
        canary: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Go back to an earlier stored version (default: the one before the running one).
    Rollback {
        /// The version to run.
        #[arg(value_name = "VERSION")]
        target: Option<u64>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Controllers: every site's mesh-wide policy version and state.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Controllers: end the canary stage, every site gets the canary's version.
    Promote {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// The running policy.
    Show {
        /// Print the policy text only.
        #[arg(long, conflicts_with = "json")]
        source: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Stored versions and the audit log.
    History {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Runs one `weft policy` command.
pub(crate) fn run(cmd: PolicyCommand) -> Result<ExitCode> {
    match cmd {
        PolicyCommand::Lint { file, deny_warnings, json } => lint(&file, deny_warnings, json),
        PolicyCommand::Test { file, json } => test(&file, json),
        PolicyCommand::Diff { file, against: Some(old), json, .. } => diff_files(&old, &file, json),
        PolicyCommand::Diff { file, against: None, json, agent } => {
            let text = read(&file)?;
            let (status, body) =
                request(&agent, "POST", "/api/v1/policy/check", Some((TOML, text.as_bytes())))?;
            if status != 200 {
                return Ok(refused(&file, &body, json));
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&body["diff"])?);
            } else {
                let d: DiffReport =
                    serde_json::from_value(body["diff"].clone()).unwrap_or_default();
                outln!("against the running policy (version {}):", body["running_version"]);
                print_diff(&d);
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Apply { file, canary, json, agent } => {
            let text = read(&file)?;
            let target = match &canary {
                Some(sites) => format!("/api/v1/policy?canary={}", sites.replace(' ', "")),
                None => "/api/v1/policy".to_owned(),
            };
            let (status, body) = request(&agent, "POST", &target, Some((TOML, text.as_bytes())))?;
            if status != 200 {
                return Ok(refused(&file, &body, json));
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&body)?);
            } else if super::control::print_change(&body) {
            } else {
                print_warnings(&body);
                let d: DiffReport =
                    serde_json::from_value(body["diff"].clone()).unwrap_or_default();
                print_diff(&d);
                outln!(
                    "applied: policy {} is version {} and running",
                    body["name"],
                    body["version"]
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Rollback { target, json, agent } => {
            let req = target.map(|v| json!({ "version": v }).to_string());
            let req = req.as_ref().map(|r| ("application/json", r.as_bytes()));
            let (status, body) = request(&agent, "POST", "/api/v1/policy/rollback", req)?;
            if status != 200 {
                return Ok(refused(Path::new("rollback"), &body, json));
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&body)?);
            } else if super::control::print_change(&body) {
            } else {
                let d: DiffReport =
                    serde_json::from_value(body["diff"].clone()).unwrap_or_default();
                print_diff(&d);
                outln!("rolled back: version {} is running", body["version"]);
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Status { json, agent } => super::control::policy_status(&agent, json),
        PolicyCommand::Promote { json, agent } => {
            let (status, body) = request(&agent, "POST", "/api/v1/policy/promote", None)?;
            if status != 200 {
                return Ok(refused(Path::new("promote"), &body, json));
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                super::control::print_change(&body);
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Show { source, json, agent } => {
            let body: Value = agent.client().get("/api/v1/policy")?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&body)?);
            } else if source {
                out!("{}", body["source"].as_str().unwrap_or(""));
            } else {
                outln!(
                    "policy {} version {} (default {})",
                    body["name"],
                    body["version"],
                    body["default"]
                );
                outln!("  {}", body["summary"]);
                if let Some(d) = body["denied"].as_array().filter(|d| !d.is_empty()) {
                    outln!("  denied packets by rule: {}", Value::Array(d.clone()));
                }
                print_warnings(&body);
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::History { json, agent } => {
            let client = agent.client();
            let versions: Value = client.get("/api/v1/policy/versions")?;
            let audit = client.get_all("/api/v1/audit", &Query::default())?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "versions": versions, "audit": audit }))?
                );
            } else {
                print_history(&versions, &audit);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Stored versions, then the policy records of the audit log.
fn print_history(versions: &Value, audit: &[Value]) {
    outln!("current version: {}", versions["current"]);
    for v in versions["versions"].as_array().into_iter().flatten() {
        let stored = match v["stored_unix_ms"].as_i64() {
            Some(ms) => utc_ms(ms),
            None => v["stored_at"].as_i64().map_or_else(|| "-".to_owned(), utc),
        };
        outln!(
            "  v{:<4} {:<20} stored {stored} by {}",
            v["version"],
            v["name"].as_str().unwrap_or(""),
            v["by"].as_str().unwrap_or("")
        );
    }
    outln!("audit:");
    for r in audit {
        let Ok(r) = serde_json::from_value::<AuditRecord>(r.clone()) else { continue };
        if !r.action.starts_with("policy") {
            continue;
        }
        outln!(
            "  {} {:<16} {} -> {}  {}  ({})",
            utc_ms(r.at_unix_ms),
            r.action,
            r.before.as_deref().unwrap_or("-"),
            r.after.as_deref().unwrap_or("-"),
            r.detail,
            r.who
        );
    }
}

fn read(file: &Path) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// Parses and compiles a file against its own inventory; prints errors.
/// A compiled policy with its warnings, or the error lines.
type Loaded = std::result::Result<(CompiledPolicy, Vec<Finding>), Vec<String>>;

fn load(file: &Path) -> Result<Loaded> {
    let text = read(file)?;
    let doc = match weft_policy::parse(file, &text) {
        Ok(d) => d,
        Err(diags) => return Ok(Err(diags.iter().map(|d| format!("{d}")).collect())),
    };
    let dir = SiteDirectory::from_document(&doc);
    Ok(weft_policy::compile(&doc, &dir).map_err(|e| e.0.iter().map(ToString::to_string).collect()))
}

fn lint(file: &Path, deny_warnings: bool, json: bool) -> Result<ExitCode> {
    let (errors, warnings) = match load(file)? {
        Err(errors) => (errors, Vec::new()),
        Ok((policy, mut findings)) => {
            findings.extend(weft_policy::lint(&policy));
            let errors = findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(ToString::to_string)
                .collect();
            let warnings: Vec<String> = findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .map(ToString::to_string)
                .collect();
            (errors, warnings)
        }
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({ "errors": errors, "warnings": warnings }))?
        );
    } else {
        for l in errors.iter().chain(&warnings) {
            outln!("{l}");
        }
        outln!("{}: {} error(s), {} warning(s)", file.display(), errors.len(), warnings.len());
    }
    let fail = !errors.is_empty() || (deny_warnings && !warnings.is_empty());
    Ok(if fail { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn test(file: &Path, json: bool) -> Result<ExitCode> {
    let policy = match load(file)? {
        Ok((p, _)) => p,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let results = weft_policy::run_tests(&policy);
    if json {
        outln!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_tests(file, &results);
    }
    Ok(if results.iter().all(|t| t.passed) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_tests(file: &Path, results: &[TestOutcome]) {
    for t in results {
        match &t.failure {
            None => outln!("PASS  {}", t.name),
            Some(f) => outln!("FAIL  {} ({}:{}): {f}", t.name, file.display(), t.line),
        }
    }
    let passed = results.iter().filter(|t| t.passed).count();
    outln!("{passed} of {} test(s) passed", results.len());
}

fn diff_files(old: &Path, new: &Path, json: bool) -> Result<ExitCode> {
    let (Ok((o, _)), Ok((n, _))) = (load(old)?, load(new)?) else {
        eprintln!("weft: both policies must compile (run `weft policy lint` on each)");
        return Ok(ExitCode::FAILURE);
    };
    let d = weft_policy::diff(&o, &n, 20);
    if json {
        outln!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print_diff(&d);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_diff(d: &DiffReport) {
    if d.is_empty() {
        outln!("no changes");
        return;
    }
    for r in &d.rules {
        outln!("{r}");
    }
    for (title, list) in [("verdict changes", &d.verdicts), ("routing changes", &d.routing)] {
        if !list.is_empty() {
            outln!("{title} (sample):");
            for c in list {
                outln!("  {}: {} -> {}", c.flow, c.before, c.after);
            }
        }
    }
    if d.truncated {
        outln!("(more changes not shown)");
    }
}

fn print_warnings(body: &Value) {
    for w in body["warnings"].as_array().into_iter().flatten() {
        outln!("{}", w.as_str().unwrap_or(""));
    }
}

/// Prints why the agent refused; exit code 1.
fn refused(file: &Path, body: &Value, json: bool) -> ExitCode {
    if json {
        outln!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "weft: refused ({}): {}",
        body["code"].as_str().unwrap_or("?"),
        body["message"].as_str().unwrap_or("")
    );
    for f in body["findings"].as_array().into_iter().flatten() {
        eprintln!("{}", f.as_str().unwrap_or(""));
    }
    let tests: Vec<TestOutcome> = serde_json::from_value(body["tests"].clone()).unwrap_or_default();
    if !tests.is_empty() {
        print_tests(file, &tests);
    }
    eprintln!("the running policy is unchanged");
    ExitCode::FAILURE
}
