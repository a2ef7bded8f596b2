//! Explanations: why a flow is on the path it is on.
//!
//! A [`Decision`] lists every candidate path with its verdict and score, the
//! pool the choice came from and the rule that picked it, in words an operator
//! can read (`weft explain`) and as data (the API).

use std::fmt;

use serde::Serialize;
use weft_types::{PathId, UplinkId};

use crate::metrics::Quality;
use crate::select::{Basis, Candidate, Choice, Rule, SelectionPolicy, Verdict, select, verdict};
use crate::state::PathState;

/// One candidate as the decision saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateReport {
    /// The path.
    pub path: PathId,
    /// Its uplink.
    pub uplink: UplinkId,
    /// Its state.
    pub state: PathState,
    /// Its quality.
    pub quality: Quality,
    /// Its score under the policy's preference (lower is better).
    pub score: f64,
    /// Its priority (lower is preferred).
    pub priority: u8,
    /// Why it is or is not in the pool.
    pub verdict: Verdict,
}

/// A full explanation of one choice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The policy's name.
    pub policy: String,
    /// The SLA class name.
    pub class: String,
    /// The preference's name.
    pub preference: &'static str,
    /// Every candidate.
    pub candidates: Vec<CandidateReport>,
    /// The choice.
    pub choice: Choice,
    /// One sentence saying why.
    pub summary: String,
}

impl Decision {
    /// Evaluates the same rules as [`select`] and records why.
    pub fn new(
        candidates: &[Candidate],
        policy: &SelectionPolicy,
        flow_hash: u64,
        incumbent: Option<PathId>,
        margin: f64,
    ) -> Self {
        let choice = select(candidates, policy, flow_hash, incumbent, margin);
        let reports: Vec<CandidateReport> = candidates
            .iter()
            .map(|c| CandidateReport {
                path: c.path,
                uplink: c.uplink,
                state: c.state,
                quality: c.quality,
                score: policy.preference.score(&c.quality, &c.attrs, c.tx_bps),
                priority: c.attrs.priority,
                verdict: verdict(policy, c),
            })
            .collect();
        let summary = summarise(&choice, policy, &reports, margin);
        Self {
            policy: policy.name.clone(),
            class: policy.sla.name.clone(),
            preference: policy.preference.name(),
            candidates: reports,
            choice,
            summary,
        }
    }
}

fn summarise(
    choice: &Choice,
    policy: &SelectionPolicy,
    reports: &[CandidateReport],
    margin: f64,
) -> String {
    let usable = reports.iter().filter(|r| r.verdict == Verdict::Usable).count();
    let pool = match choice.basis {
        Basis::Sla => format!("{usable} of {} paths meet {}", reports.len(), policy.sla.name),
        Basis::HeldDownOnly => format!("only paths in failback hold-down meet {}", policy.sla.name),
        Basis::BestOfTheBad => format!("no path meets {}; best of the bad", policy.sla.name),
        Basis::StrictDrop => {
            return format!("no path meets {}; strict-drop: flow dropped", policy.sla.name);
        }
        Basis::NoAlivePath => return "no path is alive: flow waits".to_owned(),
    };
    let path = choice.path.map_or_else(|| "none".to_owned(), |p| p.to_string());
    let rule = match choice.rule {
        Rule::Best => {
            format!("{path} ranks first by priority then {} score", policy.preference.name())
        }
        Rule::KeptIncumbent { challenger, improvement } => format!(
            "kept incumbent {path}: {challenger} is better by only {:.1}% (margin {:.0}%)",
            improvement * 100.0,
            margin * 100.0
        ),
        Rule::Sticky => format!("flow stays on its path {path}"),
        Rule::Hashed => format!("flow hash maps to {path}"),
        Rule::WeightedShare => format!("weighted share by available bandwidth gave {path}"),
        Rule::LeastLoaded => format!("{path} has the lowest load per capacity"),
        Rule::None => "nothing chosen".to_owned(),
    };
    format!("{pool}; {rule}")
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "policy {} (class {}, prefer {})", self.policy, self.class, self.preference)?;
        for r in &self.candidates {
            let mark = if Some(r.path) == self.choice.path { "*" } else { " " };
            let why = match r.verdict {
                Verdict::Usable => "eligible".to_owned(),
                Verdict::HeldDown => "eligible, in failback hold-down".to_owned(),
                Verdict::MissesSla(b) => format!("misses SLA: {b}"),
                Verdict::NotAlive { state } => format!("not alive ({state})"),
                Verdict::Excluded => "excluded by policy".to_owned(),
            };
            writeln!(
                f,
                " {mark} {:<8} {:<9} {:<9} rtt {:>7.1}ms jitter {:>5.1}ms loss {:>5.1}% prio {:>3} score {:>8.3}  {why}",
                r.path.to_string(),
                r.uplink.to_string(),
                r.state.to_string(),
                r.quality.rtt_ms(),
                r.quality.jitter_ms(),
                r.quality.loss * 100.0,
                r.priority,
                r.score,
            )?;
        }
        write!(f, "=> {}", self.summary)
    }
}
