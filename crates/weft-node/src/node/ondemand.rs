//! On-demand path tests: a burst of authenticated probes on one path,
//! outside the path engine's schedule.
//!
//! Their sequence numbers carry [`TEST_SEQ_BIT`], so their echoes (the peer
//! echoes any authenticated probe unchanged) come back to the test instead of
//! the engine, and the engine's own measurements are not disturbed.

use std::time::{Duration, Instant};

use super::types::PathTestReport;

/// Sequence numbers of test probes have this bit set.
pub const TEST_SEQ_BIT: u64 = 1 << 63;
/// Gap between the probes of one test.
const PROBE_GAP: Duration = Duration::from_millis(50);
/// How long after its last probe a test waits for echoes.
const ECHO_WAIT: Duration = Duration::from_secs(1);
/// Most probes per test.
pub const MAX_TEST_PROBES: u32 = 100;
/// Most tests running at once (more are refused).
pub const MAX_RUNNING_TESTS: usize = 16;

/// Names of a tested path, for the report.
#[derive(Debug, Clone)]
pub(crate) struct TestNames {
    pub(crate) site: String,
    pub(crate) uplink: String,
    pub(crate) remote: String,
    pub(crate) engine_id: u32,
}

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
    names: TestNames,
}

impl PathTest {
    /// A test of `probes` probes on dense path `path`.
    pub(crate) fn new(id: u64, path: u32, probes: u32, now: Instant, names: TestNames) -> Self {
        let probes = probes.clamp(1, MAX_TEST_PROBES);
        Self { id, path, probes, sent: Vec::new(), rtts: Vec::new(), next_send: now, names }
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

    /// The test's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// When this test next needs time: its next probe or the end of its wait.
    pub(crate) fn deadline(&self) -> Instant {
        if (self.sent.len() as u32) < self.probes {
            self.next_send
        } else {
            self.sent.last().map_or(self.next_send, |t| *t + ECHO_WAIT)
        }
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

    /// The report of this test.
    pub(crate) fn finish(self) -> PathTestReport {
        PathTestReport {
            id: self.id,
            path: self.names.engine_id,
            site: self.names.site,
            uplink: self.names.uplink,
            remote: self.names.remote,
            sent: self.sent.len() as u32,
            rtts: self.rtts.into_iter().flatten().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(probes: u32, now: Instant) -> PathTest {
        let names = TestNames {
            site: "b".to_owned(),
            uplink: "u0".to_owned(),
            remote: "10.0.0.2:51820".to_owned(),
            engine_id: 7,
        };
        PathTest::new(3, 0, probes, now, names)
    }

    #[test]
    fn a_test_sends_its_probes_spaced_and_reports_rtts_and_loss() {
        let t0 = weft_types::virtual_origin();
        let mut t = test(3, t0);
        let s0 = t.due(t0).unwrap();
        assert_eq!(t.due(t0), None, "the next probe waits for the gap");
        assert_eq!(t.deadline(), t0 + PROBE_GAP);
        let s1 = t.due(t0 + PROBE_GAP).unwrap();
        let _s2 = t.due(t0 + PROBE_GAP * 2).unwrap();
        assert_eq!(t.deadline(), t0 + PROBE_GAP * 2 + ECHO_WAIT);
        assert!(t.on_echo(s0, t0 + Duration::from_millis(4)));
        assert!(t.on_echo(s1, t0 + PROBE_GAP + Duration::from_millis(6)));
        assert!(!t.on_echo(5, t0), "engine probes are not the test's");
        assert!(!t.finished(t0 + PROBE_GAP * 2), "the third may still come back");
        assert!(t.finished(t0 + PROBE_GAP * 2 + ECHO_WAIT));
        let r = t.finish();
        assert_eq!((r.sent, r.rtts.len(), r.path, r.id), (3, 2, 7, 3));
        assert_eq!(r.rtts, vec![Duration::from_millis(4), Duration::from_millis(6)]);
    }

    #[test]
    fn echoes_of_another_test_are_not_counted() {
        let t0 = weft_types::virtual_origin();
        let mut t = test(1, t0);
        let seq = t.due(t0).unwrap();
        let other = TEST_SEQ_BIT | (4 << 16);
        assert!(!t.on_echo(other, t0));
        assert!(t.on_echo(seq, t0));
        assert!(t.finished(t0), "all answered: done without waiting");
    }
}
