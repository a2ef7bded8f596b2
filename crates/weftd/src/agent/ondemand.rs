//! Answers to the API the control loop renders from the node's results:
//! flow explanations and path-test reports.

use weft_api::{Candidate, Explanation, PathTestResult};
use weft_node::PathTestReport;
use weft_path::{Decision, Verdict};

pub(crate) use weft_node::node::{MAX_RUNNING_TESTS, MAX_TEST_PROBES};

/// The API's view of a finished path test.
pub(crate) fn test_result(r: PathTestReport) -> PathTestResult {
    let got: Vec<f64> = r.rtts.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    let (sent, received) = (r.sent, got.len() as u32);
    PathTestResult {
        path: r.path,
        site: r.site,
        uplink: r.uplink,
        remote: r.remote,
        sent,
        received,
        loss_pct: if sent == 0 {
            0.0
        } else {
            f64::from(sent.saturating_sub(received)) * 100.0 / f64::from(sent)
        },
        rtt_min_ms: got.iter().copied().reduce(f64::min),
        rtt_avg_ms: (!got.is_empty()).then(|| got.iter().sum::<f64>() / got.len() as f64),
        rtt_max_ms: got.iter().copied().reduce(f64::max),
    }
}

/// What an explanation needs to know about the agent's paths.
pub(crate) struct PathNames<'a> {
    /// (engine id, uplink name, remote) of every path.
    pub(crate) paths: Vec<(u32, &'a str, String)>,
}

/// Renders the path engine's decision for the API.
pub(crate) fn explanation(
    flow: String,
    head: ExplainHead,
    decision: Option<&Decision>,
    names: &PathNames<'_>,
) -> Explanation {
    let Some(d) = decision else {
        let summary = if head.verdict == "deny" {
            format!("denied by {}: no path is chosen", head.rule)
        } else {
            "no site serves the destination: the flow is dropped (no_route)".to_owned()
        };
        return Explanation {
            flow,
            verdict: head.verdict,
            rule: head.rule,
            route_rule: head.route_rule,
            class: head.class,
            site: head.site,
            preference: None,
            candidates: Vec::new(),
            chosen: None,
            summary,
        };
    };
    let candidates = d
        .candidates
        .iter()
        .map(|c| {
            let (uplink, remote) = names
                .paths
                .iter()
                .find(|(id, _, _)| *id == c.path.0)
                .map_or(("?", String::new()), |(_, u, r)| (*u, r.clone()));
            Candidate {
                path: c.path.0,
                uplink: uplink.to_owned(),
                remote,
                state: c.state.to_string(),
                eligible: matches!(c.verdict, Verdict::Usable | Verdict::HeldDown),
                score: c.score.is_finite().then_some(c.score),
                note: verdict_note(&c.verdict),
            }
        })
        .collect();
    let summary = if head.verdict == "deny" {
        format!("denied by {}; were it allowed: {}", head.rule, d.summary)
    } else {
        d.summary.clone()
    };
    Explanation {
        flow,
        verdict: head.verdict,
        rule: head.rule,
        route_rule: head.route_rule,
        class: d.class.clone(),
        site: head.site,
        preference: Some(d.preference.to_owned()),
        candidates,
        chosen: d.choice.path.map(|p| p.0),
        summary,
    }
}

/// The policy's part of an explanation.
pub(crate) struct ExplainHead {
    /// `allow` or `deny`.
    pub(crate) verdict: String,
    /// Deciding ACL.
    pub(crate) rule: String,
    /// Matching route rule.
    pub(crate) route_rule: String,
    /// SLA class of the profile.
    pub(crate) class: String,
    /// Destination site.
    pub(crate) site: Option<String>,
}

fn verdict_note(v: &Verdict) -> String {
    match v {
        Verdict::Usable => "meets the class".to_owned(),
        Verdict::HeldDown => "meets the class, in failback hold-down".to_owned(),
        Verdict::MissesSla(b) => format!("misses the SLA: {b}"),
        Verdict::NotAlive { state } => format!("not alive ({state})"),
        Verdict::Excluded => "excluded by the route (uplink rule or metered)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_test_report_becomes_milliseconds_and_loss() {
        let r = PathTestReport {
            id: 3,
            path: 7,
            site: "b".to_owned(),
            uplink: "u0".to_owned(),
            remote: "10.0.0.2:51820".to_owned(),
            sent: 3,
            rtts: vec![Duration::from_millis(4), Duration::from_millis(6)],
        };
        let r = test_result(r);
        assert_eq!((r.sent, r.received, r.path), (3, 2, 7));
        assert!((r.loss_pct - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.rtt_min_ms, Some(4.0));
        assert_eq!(r.rtt_max_ms, Some(6.0));
        assert_eq!(r.rtt_avg_ms, Some(5.0));
    }
}
