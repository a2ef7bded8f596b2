//! Bundles and their acknowledgements: round trips, forgeries, limits and
//! decoders on truncated or arbitrary bytes.

use proptest::prelude::*;
use weft_types::{PublicKey, SiteId};

use super::*;

const NOW: u64 = 1_700_000_000;

fn site(name: &str) -> SiteId {
    SiteId::new(name).unwrap()
}

fn ca() -> MeshCa {
    MeshCa::from_seed(&[1; 32])
}

fn body(sites: &[&str], payload: &[u8]) -> BundleBody {
    BundleBody {
        kind: BundleKind::Policy,
        epoch: 3,
        seq: 41,
        version: 7,
        issued_at: NOW,
        sites: sites.iter().map(|s| site(s)).collect(),
        payload: payload.to_vec(),
    }
}

fn cert_for(name: &str, key: &SiteKey) -> SiteCert {
    ca().issue_cert(CertBody {
        serial: 1,
        site: site(name),
        role: Label::new("site").unwrap(),
        region: Label::new("eu").unwrap(),
        prefixes: PrefixList::new(vec![]).unwrap(),
        site_key: key.public(),
        wg_key: PublicKey([4; 32]),
        not_before: NOW,
        not_after: NOW + 3600,
        learn_ranges: crate::identity::LearnRanges::default(),
    })
}

fn ack(name: &str, outcome: AckOutcome) -> BundleAck {
    BundleAck {
        site: site(name),
        kind: BundleKind::Policy,
        epoch: 3,
        seq: 41,
        version: 7,
        outcome,
        at: NOW + 5,
    }
}

#[test]
fn a_signed_bundle_round_trips_and_verifies_under_its_ca() {
    let b = ca().sign_bundle(body(&["b-site", "a-site", "b-site"], b"allow all")).unwrap();
    assert_eq!(b.body.sites, vec![site("a-site"), site("b-site")], "sorted, deduplicated");
    let bytes = b.encode();
    let back = SignedBundle::decode(&bytes).unwrap();
    assert_eq!(back, b);
    assert_eq!(back.encode(), bytes);
    assert_eq!(back.verify(&ca().public()).unwrap().payload, b"allow all");
}

#[test]
fn bundle_kinds_round_trip_through_their_byte_and_unknown_bytes_are_refused() {
    for k in [
        BundleKind::Policy,
        BundleKind::Registry,
        BundleKind::Gtm,
        BundleKind::Identity,
        BundleKind::Svid,
        BundleKind::Reservations,
        BundleKind::Clients,
    ] {
        assert_eq!(BundleKind::from_byte(k as u8), Some(k));
        let b = ca().sign_bundle(BundleBody { kind: k, ..body(&[], b"{}") }).unwrap();
        assert_eq!(SignedBundle::decode(&b.encode()).unwrap().body.kind, k);
    }
    assert_eq!(BundleKind::Registry as u8, 2);
    assert_eq!(BundleKind::Gtm as u8, 3);
    assert_eq!(BundleKind::Identity as u8, 4);
    assert_eq!(BundleKind::Reservations as u8, 6);
    assert_eq!(BundleKind::Clients as u8, 7);
    for b in [0, 8, 255] {
        assert_eq!(BundleKind::from_byte(b), None, "{b}");
    }
}

#[test]
fn a_bundle_signed_by_another_ca_is_refused() {
    let other = MeshCa::from_seed(&[2; 32]).sign_bundle(body(&[], b"x")).unwrap();
    let err = other.verify(&ca().public()).unwrap_err();
    assert!(matches!(err, BundleError::WrongCa { .. }), "{err}");
    // Another CA's signature under our key id: the signature check catches it.
    let forged = SignedBundle { issuer: ca().public().key_id(), ..other };
    assert_eq!(forged.verify(&ca().public()), Err(BundleError::BadSignature));
}

#[test]
fn a_tampered_payload_epoch_or_site_list_is_refused() {
    let b = ca().sign_bundle(body(&["a-site"], b"allow all")).unwrap();
    let mut t = b.clone();
    t.body.payload = b"deny all".to_vec();
    assert_eq!(t.verify(&ca().public()), Err(BundleError::BadSignature));
    let mut t = b.clone();
    t.body.epoch += 1;
    assert_eq!(t.verify(&ca().public()), Err(BundleError::BadSignature));
    let mut t = b;
    t.body.sites.clear();
    assert_eq!(t.verify(&ca().public()), Err(BundleError::BadSignature));
}

#[test]
fn an_oversize_payload_is_refused_at_signing_and_at_decoding() {
    let err = ca().sign_bundle(body(&[], &vec![0; MAX_BUNDLE_PAYLOAD + 1])).unwrap_err();
    assert!(
        matches!(err, BundleError::PayloadTooLarge { len, .. } if len == MAX_BUNDLE_PAYLOAD + 1)
    );
    let full = ca().sign_bundle(body(&[], &vec![7; MAX_BUNDLE_PAYLOAD])).unwrap();
    assert_eq!(SignedBundle::decode(&full.encode()).unwrap(), full);
    // A hand-built bundle with one byte more encodes, but never decodes.
    let mut big = full;
    big.body.payload.push(0);
    let err = SignedBundle::decode(&big.encode()).unwrap_err();
    assert!(err.to_string().contains("invalid payload"), "{err}");
}

#[test]
fn too_many_sites_or_a_bundle_too_large_for_a_datagram_is_refused_at_signing() {
    let names: Vec<String> = (0..=MAX_BUNDLE_SITES).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let err = ca().sign_bundle(body(&refs, b"")).unwrap_err();
    assert_eq!(err, BundleError::TooManySites { count: 257, max: MAX_BUNDLE_SITES });
    // 256 site ids of 63 bytes and a full payload do not fit one datagram.
    let long: Vec<String> = (0..MAX_BUNDLE_SITES).map(|i| format!("{i:0>63}")).collect();
    let refs: Vec<&str> = long.iter().map(String::as_str).collect();
    let err = ca().sign_bundle(body(&refs, &vec![0; MAX_BUNDLE_PAYLOAD])).unwrap_err();
    assert!(matches!(err, BundleError::TooLarge { max: MAX_BUNDLE_LEN, .. }), "{err}");
    let fits = ca().sign_bundle(body(&refs, &vec![0; 40_000])).unwrap();
    assert!(fits.encode().len() <= MAX_BUNDLE_LEN);
}

#[test]
fn every_truncation_of_a_bundle_or_an_ack_fails_cleanly() {
    let b = ca().sign_bundle(body(&["a-site", "b-site"], b"allow all")).unwrap().encode();
    for len in 0..b.len() {
        assert!(SignedBundle::decode(&b[..len]).is_err(), "bundle cut at {len}");
    }
    let key = SiteKey::from_seed(&[5; 32]);
    for outcome in [AckOutcome::Installed, AckOutcome::refused("bad syntax")] {
        let a = ack("a-site", outcome).sign(&key).encode();
        for len in 0..a.len() {
            assert!(SignedBundleAck::decode(&a[..len]).is_err(), "ack cut at {len}");
        }
    }
}

#[test]
fn an_unknown_kind_is_named_in_the_error() {
    let mut bytes = ca().sign_bundle(body(&[], b"x")).unwrap().encode();
    bytes[4 + 1 + 8] = 9;
    let err = SignedBundle::decode(&bytes).unwrap_err();
    assert!(err.to_string().contains("unknown bundle kind 9"), "{err}");
}

#[test]
fn a_bundle_is_for_every_site_when_it_names_none_else_only_for_those_named() {
    let all = ca().sign_bundle(body(&[], b"")).unwrap();
    assert!(all.is_for(&site("anyone")));
    let canary = ca().sign_bundle(body(&["a-site", "c-site"], b"")).unwrap();
    assert!(canary.is_for(&site("a-site")));
    assert!(canary.is_for(&site("c-site")));
    assert!(!canary.is_for(&site("b-site")));
}

#[test]
fn an_ack_round_trips_and_verifies_only_under_its_sites_certificate() {
    let key = SiteKey::from_seed(&[5; 32]);
    let cert = cert_for("a-site", &key);
    let signed = ack("a-site", AckOutcome::Installed).sign(&key);
    let back = SignedBundleAck::decode(&signed.encode()).unwrap();
    assert_eq!(back, signed);
    assert_eq!(back.verify(&cert).unwrap().outcome, AckOutcome::Installed);
    // Signed by another key.
    let forged = ack("a-site", AckOutcome::Installed).sign(&SiteKey::from_seed(&[6; 32]));
    assert_eq!(forged.verify(&cert), Err(BundleError::BadAckSignature));
    // Tampered.
    let mut t = signed.clone();
    t.ack.seq += 1;
    assert_eq!(t.verify(&cert), Err(BundleError::BadAckSignature));
    // Naming another site than the certificate's.
    let other = ack("b-site", AckOutcome::Installed).sign(&key);
    assert!(matches!(other.verify(&cert), Err(BundleError::AckSiteMismatch { .. })));
}

#[test]
fn a_refusal_message_is_cut_when_built_and_refused_when_longer_on_the_wire() {
    let long = "é".repeat(200);
    let AckOutcome::Refused(m) = AckOutcome::refused(long.clone()) else { unreachable!() };
    assert!(m.len() <= MAX_ACK_MESSAGE && m.len() >= MAX_ACK_MESSAGE - 1);
    // Built by hand, too long: cut when signed, and still verifies.
    let key = SiteKey::from_seed(&[5; 32]);
    let signed = ack("a-site", AckOutcome::Refused(long)).sign(&key);
    let back = SignedBundleAck::decode(&signed.encode()).unwrap();
    assert!(back.verify(&cert_for("a-site", &key)).is_ok());
    // A 257-byte message on the wire is refused.
    let mut bytes = ack("a-site", AckOutcome::refused("x".repeat(256))).sign(&key).encode();
    let at = bytes.len() - 64 - 8 - 256 - 2;
    bytes[at..at + 2].copy_from_slice(&257u16.to_be_bytes());
    bytes.insert(at + 2, b'x');
    let err = SignedBundleAck::decode(&bytes).unwrap_err();
    assert!(err.to_string().contains("refusal message"), "{err}");
}

proptest! {
    #[test]
    fn bundle_decoders_never_panic_and_what_decodes_round_trips(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(b) = SignedBundle::decode(&data) {
            prop_assert_eq!(b.encode(), data.clone());
            prop_assert!(b.verify(&ca().public()).is_err());
        }
        if let Ok(a) = SignedBundleAck::decode(&data) {
            prop_assert_eq!(a.encode(), data);
        }
    }

    #[test]
    fn bundle_decoders_never_panic_on_valid_headers_with_random_tails(
        ack in any::<bool>(),
        tail in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut data = if ack { b"WFTA".to_vec() } else { b"WFTB".to_vec() };
        data.push(WIRE_VERSION);
        data.extend_from_slice(&tail);
        let _ = SignedBundle::decode(&data);
        let _ = SignedBundleAck::decode(&data);
    }

    #[test]
    fn a_bundle_with_any_byte_changed_never_verifies(at in any::<prop::sample::Index>(), mask in 1u8..) {
        let b = ca().sign_bundle(body(&["a-site"], b"allow all")).unwrap().encode();
        let mut bytes = b.clone();
        bytes[at.index(b.len())] ^= mask;
        if let Ok(s) = SignedBundle::decode(&bytes) {
            prop_assert!(s.verify(&ca().public()).is_err());
        }
    }
}

fn svid_request(name: &str) -> SvidRequest {
    SvidRequest {
        site: site(name),
        id: "spiffe://mesh.test/svc/api".into(),
        public_key: [3; 32],
        nonce: [4; 16],
        ttl_secs: 3600,
        at: 1_700_000_000,
    }
}

#[test]
fn an_svid_request_round_trips_and_verifies_only_under_its_sites_certificate() {
    let key = SiteKey::from_seed(&[5; 32]);
    let signed = svid_request("a-site").sign(&key);
    let bytes = signed.encode();
    let back = SignedSvidRequest::decode(&bytes).unwrap();
    assert_eq!(back, signed);
    assert_eq!(back.verify(&cert_for("a-site", &key)).unwrap().id, "spiffe://mesh.test/svc/api");
    assert!(back.verify(&cert_for("b-site", &key)).is_err(), "another site's certificate");
    let forged = svid_request("a-site").sign(&SiteKey::from_seed(&[6; 32]));
    assert!(forged.verify(&cert_for("a-site", &key)).is_err(), "another key");
    let mut tampered = signed.clone();
    tampered.request.public_key = [9; 32];
    assert!(tampered.verify(&cert_for("a-site", &key)).is_err(), "a swapped public key");
    for len in 0..bytes.len() {
        assert!(SignedSvidRequest::decode(&bytes[..len]).is_err(), "cut at {len}");
    }
}

#[test]
fn an_svid_request_with_an_overlong_id_is_refused_on_the_wire() {
    let mut r = svid_request("a-site");
    r.id = format!("spiffe://mesh.test/{}", "x".repeat(MAX_SVID_ID));
    let signed = r.sign(&SiteKey::from_seed(&[5; 32]));
    // Signing cuts the id; a peer that sends the whole id is refused.
    let mut e = signed.encode();
    assert!(SignedSvidRequest::decode(&e).is_ok());
    e.truncate(e.len() - 64);
    let at = 4 + 1 + 1 + "a-site".len();
    e.splice(at..at + 2, 3000u16.to_be_bytes());
    e.extend(std::iter::repeat_n(b'x', 3000 - MAX_SVID_ID));
    e.extend([0u8; 64]);
    assert!(SignedSvidRequest::decode(&e).is_err());
}

proptest! {
    #[test]
    fn the_svid_request_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..700)) {
        if let Ok(r) = SignedSvidRequest::decode(&data) {
            prop_assert_eq!(SignedSvidRequest::decode(&r.encode()).unwrap(), r);
        }
    }
}
