//! Work the API asks of the control loop: on-demand path tests and flow
//! explanations.
//!
//! A path test is a burst of authenticated probes on one path, outside the
//! path engine's schedule. Its sequence numbers carry [`TEST_SEQ_BIT`], so
//! their echoes (the peer echoes any authenticated probe unchanged) come back
//! here instead of to the engine, and the engine's own measurements are not
//! disturbed.

use std::time::{Duration, Instant};

use weft_api::{Candidate, Explanation, PathTestResult};
use weft_path::{Decision, Verdict};

/// Sequence numbers of test probes have this bit set.
pub(crate) const TEST_SEQ_BIT: u64 = 1 << 63;
/// Gap between the probes of one test.
const PROBE_GAP: Duration = Duration::from_millis(50);
/// How long after its last probe a test waits for echoes.
const ECHO_WAIT: Duration = Duration::from_secs(1);
/// Most probes per test.
pub(crate) const MAX_TEST_PROBES: u32 = 100;
/// Most tests running at once (more are refused).
pub(crate) const MAX_RUNNING_TESTS: usize = 16;

/// One running path test.
#[derive(Debug)]
pub(crate) struct PathTest {
    id: u64,
    /// Dense path index.
    pub(crate) path: u32,
    probes: u32,
    sent: Vec<Instant>,
    rtts: Vec<Option<Duration>>,
    next_send: Instant,
    reply: tokio::sync::oneshot::Sender<PathTestResult>,
    names: (String, String, String, u32),
}

impl PathTest {
    /// A test of `probes` probes on dense path `path` (engine id and names for the answer).
    pub(crate) fn new(
        id: u64,
        path: u32,
        probes: u32,
        now: Instant,
        names: (String, String, String, u32),
        reply: tokio::sync::oneshot::Sender<PathTestResult>,
    ) -> Self {
        let probes = probes.clamp(1, MAX_TEST_PROBES);
        Self { id, path, probes, sent: Vec::new(), rtts: Vec::new(), next_send: now, reply, names }
    }

    /// The sequence number of the next probe to send now, if one is due.
    pub(crate) fn due(&mut self, now: Instant) -> Option<u64> {
        if self.sent.len() as u32 >= self.probes || now < self.next_send {
            return None;
        }
        let seq = TEST_SEQ_BIT | (self.id << 16) | self.sent.len() as u64;
        self.sent.push(now);
        self.rtts.push(None);
        self.next_send = now + PROBE_GAP;
        Some(seq)
    }

    /// Records the echo of `seq` if it belongs to this test; true if it did.
    pub(crate) fn on_echo(&mut self, seq: u64, at: Instant) -> bool {
        if seq & TEST_SEQ_BIT == 0 || (seq & !TEST_SEQ_BIT) >> 16 != self.id {
            return false;
        }
        let i = (seq & 0xffff) as usize;
        if let (Some(sent), Some(slot)) = (self.sent.get(i), self.rtts.get_mut(i)) {
            slot.get_or_insert(at.saturating_duration_since(*sent));
        }
        true
    }

    /// Whether every probe is sent and either answered or past the wait.
    pub(crate) fn finished(&self, now: Instant) -> bool {
        let all_sent = self.sent.len() as u32 >= self.probes;
        let all_back = self.rtts.iter().all(Option::is_some);
        all_sent && (all_back || self.sent.last().is_some_and(|t| now >= *t + ECHO_WAIT))
    }

    /// Answers the API with the result.
    pub(crate) fn finish(self) {
        let got: Vec<f64> = self.rtts.iter().flatten().map(|d| d.as_secs_f64() * 1e3).collect();
        let sent = self.sent.len() as u32;
        let received = got.len() as u32;
        let (site, uplink, remote, path) = self.names;
        let result = PathTestResult {
            path,
            site,
            uplink,
            remote,
            sent,
            received,
            loss_pct: if sent == 0 {
                0.0
            } else {
                f64::from(sent - received) * 100.0 / f64::from(sent)
            },
            rtt_min_ms: got.iter().copied().reduce(f64::min),
            rtt_avg_ms: (!got.is_empty()).then(|| got.iter().sum::<f64>() / got.len() as f64),
            rtt_max_ms: got.iter().copied().reduce(f64::max),
        };
        let _ = self.reply.send(result);
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

    fn test(
        probes: u32,
        now: Instant,
    ) -> (PathTest, tokio::sync::oneshot::Receiver<PathTestResult>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let names = ("b".to_owned(), "u0".to_owned(), "10.0.0.2:51820".to_owned(), 7);
        (PathTest::new(3, 0, probes, now, names, tx), rx)
    }

    #[test]
    fn a_test_sends_its_probes_spaced_and_reports_rtts_and_loss() {
        let t0 = Instant::now();
        let (mut t, rx) = test(3, t0);
        let s0 = t.due(t0).unwrap();
        assert_eq!(t.due(t0), None, "the next probe waits for the gap");
        let s1 = t.due(t0 + PROBE_GAP).unwrap();
        let _s2 = t.due(t0 + PROBE_GAP * 2).unwrap();
        assert!(t.on_echo(s0, t0 + Duration::from_millis(4)));
        assert!(t.on_echo(s1, t0 + PROBE_GAP + Duration::from_millis(6)));
        assert!(!t.on_echo(5, t0), "engine probes are not the test's");
        assert!(!t.finished(t0 + PROBE_GAP * 2), "the third may still come back");
        assert!(t.finished(t0 + PROBE_GAP * 2 + ECHO_WAIT));
        t.finish();
        let r = rx.blocking_recv().unwrap();
        assert_eq!((r.sent, r.received, r.path), (3, 2, 7));
        assert!((r.loss_pct - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.rtt_min_ms, Some(4.0));
        assert_eq!(r.rtt_max_ms, Some(6.0));
        assert_eq!(r.rtt_avg_ms, Some(5.0));
    }

    #[test]
    fn echoes_of_another_test_are_not_counted() {
        let t0 = Instant::now();
        let (mut t, _rx) = test(1, t0);
        let seq = t.due(t0).unwrap();
        let other = TEST_SEQ_BIT | (4 << 16);
        assert!(!t.on_echo(other, t0));
        assert!(t.on_echo(seq, t0));
        assert!(t.finished(t0), "all answered: done without waiting");
    }
}
