//! `weft policy …`: check policies offline, and apply them to an agent.
//!
//! Offline (no agent needed, fit for CI): `lint`, `test`, and `diff --against
//! OLD.toml`. Against the local agent: `diff` (with the running policy),
//! `apply`, `rollback`, `show`, `history`.
//!
//! Exit codes: 0 success; 1 the policy has errors or failing tests, or the
//! agent refused it; 2 bad usage; 3 the agent could not be reached.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use weft_policy::{CompiledPolicy, DiffReport, Finding, Severity, SiteDirectory, TestOutcome};

use super::http::{Agent, Unreachable};

/// Default token file of an agent with the default state directory.
const DEFAULT_TOKEN_FILE: &str = "/var/lib/weft/api.token";

/// Options shared by the commands that talk to an agent.
#[derive(Args, Debug, Clone)]
pub(crate) struct AgentOpts {
    /// The agent's API (`$WEFT_AGENT`, default 127.0.0.1:7420).
    #[arg(long, env = "WEFT_AGENT", default_value = "127.0.0.1:7420")]
    agent: String,
    /// File holding the agent's API token (`$WEFT_TOKEN_FILE`; `STATE_DIR/api.token`).
    #[arg(long, env = "WEFT_TOKEN_FILE", default_value = DEFAULT_TOKEN_FILE)]
    token_file: PathBuf,
}

impl AgentOpts {
    fn agent(&self) -> Agent {
        let token = std::fs::read_to_string(&self.token_file).ok().map(|t| t.trim().to_owned());
        Agent { addr: self.agent.clone(), token }
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
        agent: AgentOpts,
    },
    /// Apply a policy to the agent (checked there first; refused if anything fails).
    Apply {
        /// The policy file.
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentOpts,
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
        agent: AgentOpts,
    },
    /// The running policy.
    Show {
        /// Print the policy text only.
        #[arg(long)]
        source: bool,
        #[command(flatten)]
        agent: AgentOpts,
    },
    /// Stored versions and the audit log.
    History {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentOpts,
    },
}

/// Runs one `weft policy` command.
pub(crate) fn run(cmd: PolicyCommand) -> Result<ExitCode> {
    match run_command(cmd) {
        Err(e) if e.downcast_ref::<Unreachable>().is_some() => {
            eprintln!("weft: {e:#}");
            Ok(ExitCode::from(3))
        }
        other => other,
    }
}

fn run_command(cmd: PolicyCommand) -> Result<ExitCode> {
    match cmd {
        PolicyCommand::Lint { file, deny_warnings, json } => lint(&file, deny_warnings, json),
        PolicyCommand::Test { file, json } => test(&file, json),
        PolicyCommand::Diff { file, against: Some(old), json, .. } => diff_files(&old, &file, json),
        PolicyCommand::Diff { file, against: None, json, agent } => {
            let text = read(&file)?;
            let (status, body) =
                agent.agent().request("POST", "/api/v1/policy/check", Some(&text))?;
            if status != 200 {
                return Ok(refused(&file, &body, json));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&body["diff"])?);
            } else {
                let d: DiffReport =
                    serde_json::from_value(body["diff"].clone()).unwrap_or_default();
                println!("against the running policy (version {}):", body["running_version"]);
                print_diff(&d);
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Apply { file, json, agent } => {
            let text = read(&file)?;
            let (status, body) = agent.agent().request("POST", "/api/v1/policy", Some(&text))?;
            if status != 200 {
                return Ok(refused(&file, &body, json));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print_warnings(&body);
                let d: DiffReport =
                    serde_json::from_value(body["diff"].clone()).unwrap_or_default();
                print_diff(&d);
                println!(
                    "applied: policy {} is version {} and running",
                    body["name"], body["version"]
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Rollback { target, json, agent } => {
            let req = target.map(|v| json!({ "version": v }).to_string());
            let (status, body) =
                agent.agent().request("POST", "/api/v1/policy/rollback", req.as_deref())?;
            if status != 200 {
                return Ok(refused(Path::new("rollback"), &body, json));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                let d: DiffReport =
                    serde_json::from_value(body["diff"].clone()).unwrap_or_default();
                print_diff(&d);
                println!("rolled back: version {} is running", body["version"]);
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Show { source, agent } => {
            let (_, body) = agent.agent().request("GET", "/api/v1/policy", None)?;
            if source {
                print!("{}", body["source"].as_str().unwrap_or(""));
            } else {
                println!(
                    "policy {} version {} (default {})",
                    body["name"], body["version"], body["default"]
                );
                println!("  {}", body["summary"]);
                if let Some(d) = body["denied"].as_array().filter(|d| !d.is_empty()) {
                    println!("  denied packets by rule: {}", Value::Array(d.clone()));
                }
                print_warnings(&body);
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::History { json, agent } => {
            let a = agent.agent();
            let (_, versions) = a.request("GET", "/api/v1/policy/versions", None)?;
            let (_, audit) = a.request("GET", "/api/v1/audit", None)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "versions": versions, "audit": audit }))?
                );
            } else {
                println!("current version: {}", versions["current"]);
                for v in versions["versions"].as_array().into_iter().flatten() {
                    println!(
                        "  v{:<4} {:<20} stored {} by {}",
                        v["version"],
                        v["name"].as_str().unwrap_or(""),
                        utc(&v["stored_at"]),
                        v["by"].as_str().unwrap_or("")
                    );
                }
                println!("audit:");
                for r in audit["records"].as_array().into_iter().flatten() {
                    println!(
                        "  {} {:<16} {} -> {}  {}  ({})",
                        utc(&r["time"]),
                        r["action"].as_str().unwrap_or(""),
                        r["before"],
                        r["after"],
                        r["detail"].as_str().unwrap_or(""),
                        r["who"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
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
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "errors": errors, "warnings": warnings }))?
        );
    } else {
        for l in errors.iter().chain(&warnings) {
            println!("{l}");
        }
        println!("{}: {} error(s), {} warning(s)", file.display(), errors.len(), warnings.len());
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
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_tests(file, &results);
    }
    Ok(if results.iter().all(|t| t.passed) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_tests(file: &Path, results: &[TestOutcome]) {
    for t in results {
        match &t.failure {
            None => println!("PASS  {}", t.name),
            Some(f) => println!("FAIL  {} ({}:{}): {f}", t.name, file.display(), t.line),
        }
    }
    let passed = results.iter().filter(|t| t.passed).count();
    println!("{passed} of {} test(s) passed", results.len());
}

fn diff_files(old: &Path, new: &Path, json: bool) -> Result<ExitCode> {
    let (Ok((o, _)), Ok((n, _))) = (load(old)?, load(new)?) else {
        eprintln!("weft: both policies must compile (run `weft policy lint` on each)");
        return Ok(ExitCode::FAILURE);
    };
    let d = weft_policy::diff(&o, &n, 20);
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print_diff(&d);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_diff(d: &DiffReport) {
    if d.is_empty() {
        println!("no changes");
        return;
    }
    for r in &d.rules {
        println!("{r}");
    }
    for (title, list) in [("verdict changes", &d.verdicts), ("routing changes", &d.routing)] {
        if !list.is_empty() {
            println!("{title} (sample):");
            for c in list {
                println!("  {}: {} -> {}", c.flow, c.before, c.after);
            }
        }
    }
    if d.truncated {
        println!("(more changes not shown)");
    }
}

fn print_warnings(body: &Value) {
    for w in body["warnings"].as_array().into_iter().flatten() {
        println!("{}", w.as_str().unwrap_or(""));
    }
}

/// Prints why the agent refused; exit code 1.
fn refused(file: &Path, body: &Value, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
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

/// Unix seconds as `2026-12-01 22:57:41Z` (proleptic Gregorian, UTC).
fn utc(v: &Value) -> String {
    let Some(t) = v.as_u64() else { return v.to_string() };
    let (days, rem) = (t / 86_400, t % 86_400);
    // Civil from days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = i64::try_from(days).unwrap_or(i64::MAX / 2) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn unix_seconds_print_as_utc_dates() {
        assert_eq!(super::utc(&serde_json::json!(0)), "1970-01-01 00:00:00Z");
        assert_eq!(super::utc(&serde_json::json!(1_796_165_861)), "2026-12-01 22:57:41Z");
        assert_eq!(super::utc(&serde_json::json!(951_782_400)), "2000-02-29 00:00:00Z");
    }
}
