//! Delegated enrolment: the controller hands requests on, the leader answers
//! from its ledger, the controller sends and caches the answer.

use super::sim::{self, Sim, addr, key, prefixes, site, spec, wg};
use super::*;
use crate::identity::{EnrolRequest, Enroller, EnrollerState, MeshCa, TokenBody, TokenId};

fn delegated_event(sim: &Sim) -> Option<Vec<u8>> {
    sim.node(0).events.iter().find_map(|e| match e {
        NodeEvent::EnrolDelegated { request, .. } => Some(request.clone()),
        _ => None,
    })
}

#[test]
fn a_delegating_controller_hands_valid_requests_on_and_sends_the_leaders_answer_once() {
    let mut sim = Sim::with_ca(None);
    sim.node_mut(0).delegate_enrolment(true);
    let token = sim.token(spec(600, 1));
    let (now, now_unix) = (sim.now, sim.now_unix());
    let req = EnrolRequest::new(token, site(1), &key(1), wg(1), prefixes(1), now_unix);
    let bytes = Frame::EnrolRequest(req).encode().unwrap();
    sim.node_mut(0).handle_datagram(now, now_unix, addr(1), &bytes).unwrap();
    assert!(sim.node_mut(0).poll_transmit().is_none(), "no answer from the local ledger");
    let handed = delegated_event(&sim).expect("handed to the driver");
    assert_eq!(handed, bytes);
    assert_eq!(sim.node(0).counters().enrolments_delegated, 1);
    assert_eq!(sim.node(0).counters().enrolments_ok, 0);

    // The leader answers from its own ledger (here: a fresh one).
    let mut leader = Enroller::new(MeshCa::from_seed(&sim::CA_SEED));
    let answer = answer_delegated_request(&mut leader, now_unix, &handed).unwrap();
    assert!(answer.changed);
    assert_eq!(answer.issued.as_ref().map(|(s, _)| s.clone()), Some(site(1)));
    assert_eq!(leader.state().token_uses.values().copied().collect::<Vec<_>>(), vec![1]);
    assert_eq!(delegated_request_id(&handed), delegated_request_id(&bytes));

    sim.node_mut(0).answer_delegated(now, addr(1), &handed, answer.frame.clone());
    let sent = sim.node_mut(0).poll_transmit().expect("the answer");
    assert_eq!((sent.to, sent.bytes.clone()), (addr(1), answer.frame.clone()));
    assert_eq!(sim.node(0).counters().enrolments_ok, 1);
    // A retransmission gets the same bytes without going to the leader again.
    sim.node_mut(0).handle_datagram(now, now_unix, addr(1), &bytes).unwrap();
    assert_eq!(sim.node_mut(0).poll_transmit().map(|t| t.bytes), Some(answer.frame));
    assert_eq!(sim.node(0).counters().enrolments_delegated, 1);
}

#[test]
fn requests_that_fail_a_check_without_the_ledger_are_refused_by_the_controller_itself() {
    let mut sim = Sim::with_ca(None);
    sim.node_mut(0).delegate_enrolment(true);
    let (now, now_unix) = (sim.now, sim.now_unix());
    // A token of another CA.
    let other = MeshCa::from_seed(&[9; 32]).issue_token(TokenBody {
        id: TokenId([4; 16]),
        expires_at: now_unix + 600,
        max_uses: 1,
        role: sim::label("site"),
        region: sim::label(""),
        allowed_prefixes: None,
        allowed_learn: crate::identity::LearnRanges::default(),
    });
    let req = EnrolRequest::new(other, site(1), &key(1), wg(1), prefixes(1), now_unix);
    let bytes = Frame::EnrolRequest(req).encode().unwrap();
    sim.node_mut(0).handle_datagram(now, now_unix, addr(1), &bytes).unwrap();
    let t = sim.node_mut(0).poll_transmit().expect("a refusal");
    assert_eq!(t.bytes[0], FrameKind::EnrolRefused as u8);
    assert!(delegated_event(&sim).is_none(), "nothing for the leader to write");
    assert_eq!(sim.node(0).counters().enrolments_delegated, 0);
}

#[test]
fn the_leaders_ledger_decides_token_uses_across_controllers() {
    let sim = Sim::with_ca(None);
    let now_unix = sim.now_unix();
    let ca = MeshCa::from_seed(&sim::CA_SEED);
    let token = ca.issue_token(TokenBody {
        id: TokenId([5; 16]),
        expires_at: now_unix + 600,
        max_uses: 1,
        role: sim::label("site"),
        region: sim::label(""),
        allowed_prefixes: None,
        allowed_learn: crate::identity::LearnRanges::default(),
    });
    let request = |i: u8| {
        let r = EnrolRequest::new(token.clone(), site(i), &key(i), wg(i), prefixes(i), now_unix);
        Frame::EnrolRequest(r).encode().unwrap()
    };
    // Two controllers hand on two sites' requests with a one-use token: the
    // ledger the leader restores from the store has the use of the first.
    let mut first =
        Enroller::from_state(MeshCa::from_seed(&sim::CA_SEED), EnrollerState::default());
    assert!(answer_delegated_request(&mut first, now_unix, &request(1)).unwrap().issued.is_some());
    let mut second = Enroller::from_state(ca, first.state().clone());
    let refused = answer_delegated_request(&mut second, now_unix, &request(2)).unwrap();
    assert!(refused.issued.is_none() && !refused.changed);
    assert_eq!(refused.frame[0], FrameKind::EnrolRefused as u8);
    assert!(answer_delegated_request(&mut second, now_unix, &[0x01, 0, 0]).is_err());
}
