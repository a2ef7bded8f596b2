//! Bundles and acknowledgements through the simulated network.

use std::time::Duration;

use super::sim::{BASE_UNIX, Sim, addr, key, site};
use super::*;
use crate::identity::{
    AckOutcome, BundleAck, BundleBody, BundleError, BundleKind, CertError, SignedBundle,
};

fn body(sites: Vec<SiteId>) -> BundleBody {
    BundleBody {
        kind: BundleKind::Policy,
        epoch: 2,
        seq: 10,
        version: 5,
        issued_at: BASE_UNIX,
        sites,
        payload: b"allow * -> *".to_vec(),
    }
}

fn ack_of(b: &SignedBundle, i: u8, outcome: AckOutcome) -> BundleAck {
    BundleAck {
        site: site(i),
        kind: b.body.kind,
        epoch: b.body.epoch,
        seq: b.body.seq,
        version: b.body.version,
        outcome,
        at: BASE_UNIX + 1,
    }
}

fn bundles_at(sim: &Sim, i: u8, since: std::time::Instant) -> Vec<SignedBundle> {
    sim.events_of(i, since)
        .into_iter()
        .filter_map(|e| match e {
            NodeEvent::Bundle { bundle, .. } => Some(bundle.clone()),
            _ => None,
        })
        .collect()
}

fn acks_at(sim: &Sim, i: u8, since: std::time::Instant) -> Vec<(SocketAddr, BundleAck)> {
    sim.events_of(i, since)
        .into_iter()
        .filter_map(|e| match e {
            NodeEvent::BundleAck { from, ack } => Some((*from, ack.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_ca_holder_signs_a_bundle_that_reaches_every_member_it_sends_to() {
    let mut sim = Sim::mesh(3, None, Duration::from_secs(3));
    let t0 = sim.now;
    let bundle = sim.node(0).sign_bundle(body(vec![site(2)])).expect("CA holder").unwrap();
    let members = sim.node(0).member_addrs();
    assert_eq!(members, (1..=3).map(|i| (site(i), addr(i))).collect::<Vec<_>>());
    for (_, to) in members {
        sim.node_mut(0).send_bundle(to, &bundle);
    }
    sim.run_for(Duration::from_millis(20));
    for i in 1..=3u8 {
        let got = bundles_at(&sim, i, t0);
        assert_eq!(got, vec![bundle.clone()], "at {i}");
        assert_eq!(got[0].is_for(&site(i)), i == 2);
        assert_eq!(sim.node(i).counters().bundles_received, 1);
    }
    assert_eq!(sim.node(0).counters().bundles_sent, 3);
    assert!(sim.node(1).sign_bundle(body(vec![])).is_none(), "only the CA holder signs");
}

#[test]
fn a_members_acknowledgement_reaches_the_publisher() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    let t0 = sim.now;
    let bundle = sim.node(0).sign_bundle(body(vec![])).unwrap().unwrap();
    let refusal = AckOutcome::refused("policy does not parse");
    // The site field is this node's whatever the caller put there.
    let mut ack = ack_of(&bundle, 9, refusal);
    sim.node_mut(1).send_bundle_ack(addr(0), ack.clone());
    sim.node_mut(2).send_bundle_ack(addr(0), ack_of(&bundle, 2, AckOutcome::Installed));
    sim.run_for(Duration::from_millis(20));
    ack.site = site(1);
    let got = acks_at(&sim, 0, t0);
    assert_eq!(got.len(), 2);
    assert!(got.contains(&(addr(1), ack)));
    assert!(got.contains(&(addr(2), ack_of(&bundle, 2, AckOutcome::Installed))));
    let c = sim.node(0).counters();
    assert_eq!((c.acks_received, c.acks_refused), (2, 0));
    assert_eq!(sim.node(1).counters().acks_sent, 1);
}

#[test]
fn an_ack_with_a_forged_signature_or_another_sites_name_is_refused_and_counted() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    let t0 = sim.now;
    let bundle = sim.node(0).sign_bundle(body(vec![])).unwrap().unwrap();
    let cert1 = sim.node(1).cert().encode();
    // Site 1's certificate, signed by site 2's key.
    let forged = ack_of(&bundle, 1, AckOutcome::Installed).sign(&key(2));
    let frame = Frame::BundleAck { cert: &cert1, ack: forged }.encode().unwrap();
    let r = sim.inject(1, 0, &frame);
    assert!(matches!(r, Err(NodeError::Bundle(BundleError::BadAckSignature))), "{r:?}");
    // Signed by site 1, but naming site 2.
    let other = ack_of(&bundle, 2, AckOutcome::Installed).sign(&key(1));
    let frame = Frame::BundleAck { cert: &cert1, ack: other }.encode().unwrap();
    let r = sim.inject(1, 0, &frame);
    assert!(matches!(r, Err(NodeError::Bundle(BundleError::AckSiteMismatch { .. }))), "{r:?}");
    assert_eq!(sim.node(0).counters().acks_refused, 2);
    assert!(acks_at(&sim, 0, t0).is_empty());
}

#[test]
fn an_ack_from_a_revoked_site_is_refused_and_counted() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    let bundle = sim.node(0).sign_bundle(body(vec![])).unwrap().unwrap();
    let (now, now_unix) = (sim.now, sim.now_unix());
    sim.node_mut(0).revoke(now, now_unix, site(2)).unwrap();
    sim.run_for(Duration::from_millis(20));
    let t0 = sim.now;
    let cert2 = sim.node(2).cert().encode();
    let ack = ack_of(&bundle, 2, AckOutcome::Installed).sign(&key(2));
    let frame = Frame::BundleAck { cert: &cert2, ack }.encode().unwrap();
    let before = sim.node(0).counters();
    let r = sim.inject(2, 0, &frame);
    assert!(matches!(r, Err(NodeError::Cert(CertError::Revoked { .. }))), "{r:?}");
    let c = sim.node(0).counters();
    assert_eq!(c.acks_refused, before.acks_refused + 1);
    assert_eq!(c.certs_refused_revoked, before.certs_refused_revoked + 1);
    assert!(acks_at(&sim, 0, t0).is_empty());
    // The revoked site is quiet: it neither takes bundles nor sends acks.
    assert!(matches!(
        sim.inject(0, 2, &crate::node::frame::bundle_frame(&bundle)),
        Err(NodeError::Quiet)
    ));
    sim.node_mut(2).send_bundle_ack(addr(0), ack_of(&bundle, 2, AckOutcome::Installed));
    assert!(sim.node_mut(2).poll_transmit().is_none());
}

#[test]
fn a_garbage_or_foreign_bundle_is_counted_and_emits_nothing() {
    let mut sim = Sim::mesh(1, None, Duration::from_secs(2));
    let t0 = sim.now;
    let garbage = [FrameKind::Bundle as u8, b'W', b'F', b'T', b'B', 1, 2, 3];
    assert!(matches!(sim.inject(0, 1, &garbage), Err(NodeError::Frame(_))));
    let foreign = crate::identity::MeshCa::from_seed(&[99; 32]).sign_bundle(body(vec![])).unwrap();
    let r = sim.inject(0, 1, &crate::node::frame::bundle_frame(&foreign));
    assert!(matches!(r, Err(NodeError::Bundle(BundleError::WrongCa { .. }))), "{r:?}");
    let garbage_ack = [FrameKind::BundleAck as u8, 0, 1, 0];
    assert!(sim.inject(0, 1, &garbage_ack).is_err());
    let c = sim.node(1).counters();
    assert_eq!((c.bundles_refused, c.bundles_received), (2, 0));
    assert_eq!(c.acks_refused, 1);
    assert!(c.frames_malformed >= 2);
    assert!(bundles_at(&sim, 1, t0).is_empty());
}

fn svid_request(i: u8) -> crate::identity::SvidRequest {
    crate::identity::SvidRequest {
        site: site(i),
        id: "spiffe://mesh.test/svc/api".into(),
        public_key: [7; 32],
        nonce: [i; 16],
        ttl_secs: 600,
        at: BASE_UNIX,
    }
}

fn svid_requests_at(
    sim: &Sim,
    i: u8,
    since: std::time::Instant,
) -> Vec<(SocketAddr, crate::identity::SvidRequest)> {
    sim.events_of(i, since)
        .into_iter()
        .filter_map(|e| match e {
            NodeEvent::SvidRequested { from, request } => Some((*from, request.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn an_svid_request_reaches_the_node_it_is_sent_to_in_the_senders_name_only() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    let t0 = sim.now;
    // The site field is the sender's whatever the caller put there.
    sim.node_mut(1).send_svid_request(addr(0), svid_request(9));
    sim.run_for(Duration::from_millis(20));
    let got = svid_requests_at(&sim, 0, t0);
    let mut want = svid_request(9);
    want.site = site(1);
    assert_eq!(got, vec![(addr(1), want)]);
    assert_eq!(sim.node(0).counters().svid_requests_received, 1);
    // Site 1's certificate with a request signed by site 2's key, or naming site 2.
    let cert1 = sim.node(1).cert().encode();
    for request in [svid_request(1).sign(&key(2)), svid_request(2).sign(&key(1))] {
        let frame = Frame::SvidRequest { cert: &cert1, request }.encode().unwrap();
        assert!(sim.inject(1, 0, &frame).is_err());
    }
    assert_eq!(sim.node(0).counters().svid_requests_refused, 2);
    assert_eq!(svid_requests_at(&sim, 0, t0).len(), 1);
    let garbage = [FrameKind::SvidRequest as u8, 0, 1, 0];
    assert!(sim.inject(1, 0, &garbage).is_err());
}
