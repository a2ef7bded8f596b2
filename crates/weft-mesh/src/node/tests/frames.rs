//! Frame codecs: round trips and no panics on arbitrary or truncated input.

use proptest::prelude::*;

use super::sim::{BASE_UNIX, CA_SEED, key, prefixes, site, spec, wg};
use super::*;
use crate::identity::{EnrolRequest, EnrolResponse, RenewRequest};

fn samples() -> Vec<Vec<u8>> {
    let mut enroller = Enroller::new(MeshCa::from_seed(&CA_SEED));
    let spec = spec(600, 1);
    let token = enroller.ca().issue_token(crate::identity::TokenBody {
        id: crate::identity::TokenId([3; 16]),
        expires_at: BASE_UNIX + spec.ttl_s,
        max_uses: 1,
        role: spec.role,
        region: spec.region,
        allowed_prefixes: None,
        allowed_learn: crate::identity::LearnRanges::default(),
    });
    let req = EnrolRequest::new(token, site(1), &key(1), wg(1), prefixes(1), BASE_UNIX);
    let EnrolResponse { ca, cert } = enroller.handle_request(BASE_UNIX, &req).unwrap();
    let cert_bytes = cert.encode();
    let renew = RenewRequest::new(cert.clone(), &key(1), wg(1), BASE_UNIX);
    let entry = LinkEntry {
        neighbour: site(2),
        rtt_us: 1,
        jitter_us: 2,
        loss_ppm: 3,
        capacity_kbps: 4,
        up: true,
        relayed_only: false,
        via: None,
    };
    let relayed = LinkEntry { neighbour: site(3), via: Some(site(2)), ..entry.clone() };
    let relayed_only = LinkEntry {
        neighbour: site(4),
        up: false,
        relayed_only: true,
        via: Some(site(2)),
        ..entry.clone()
    };
    let ad = LinkStateAd::sign(&key(1), site(1), 7, vec![entry, relayed, relayed_only]).unwrap();
    let bundle = enroller
        .ca()
        .sign_bundle(crate::identity::BundleBody {
            kind: crate::identity::BundleKind::Policy,
            epoch: 1,
            seq: 2,
            version: 3,
            issued_at: BASE_UNIX,
            sites: vec![site(1), site(2)],
            payload: b"allow all".to_vec(),
        })
        .unwrap();
    let ack = crate::identity::BundleAck {
        site: site(1),
        kind: crate::identity::BundleKind::Policy,
        epoch: 1,
        seq: 2,
        version: 3,
        outcome: crate::identity::AckOutcome::refused("no"),
        at: BASE_UNIX,
    }
    .sign(&key(1));
    let frames = [
        Frame::Gossip { cert: &cert_bytes, envelope: b"envelope" },
        Frame::EnrolRequest(req),
        Frame::RenewRequest(renew),
        Frame::EnrolOk {
            response: EnrolResponse { ca, cert },
            revocations: enroller.signed_revocations(),
        },
        Frame::EnrolRefused {
            request: [9; REQUEST_ID_LEN],
            code: RefusalCode::TokenUsedUp,
            message: "used up é".into(),
        },
        Frame::Revocations(enroller.signed_revocations()),
        Frame::LinkState { cert: &cert_bytes, ad },
        Frame::Hello { reply: true, cert: &cert_bytes },
        Frame::Bundle(bundle),
        Frame::BundleAck { cert: &cert_bytes, ack },
    ];
    frames.iter().map(|f| f.encode().unwrap()).collect()
}

#[test]
fn every_frame_kind_round_trips() {
    let samples = samples();
    assert_eq!(samples.len(), 10);
    for (i, bytes) in samples.iter().enumerate() {
        assert_eq!(usize::from(bytes[0]), i + 1);
        let f = Frame::decode(bytes).unwrap();
        assert_eq!(&f.encode().unwrap(), bytes);
    }
}

#[test]
fn every_truncation_of_every_frame_fails_cleanly() {
    for bytes in samples() {
        // A GOSSIP frame's envelope is the rest of the datagram: cutting
        // into it still parses (the membership refuses the envelope), cutting
        // into the certificate does not.
        let min_ok = if bytes[0] == FrameKind::Gossip as u8 {
            3 + usize::from(u16::from_be_bytes([bytes[1], bytes[2]]))
        } else {
            bytes.len()
        };
        for len in 0..min_ok {
            assert!(Frame::decode(&bytes[..len]).is_err(), "kind {} cut at {len}", bytes[0]);
        }
    }
    assert_eq!(Frame::decode(&[]), Err(FrameError::Empty));
    assert_eq!(Frame::decode(&[0x42]), Err(FrameError::UnknownKind(0x42)));
}

#[test]
fn a_refusal_message_is_bounded_on_both_sides() {
    let long = "é".repeat(400);
    let refusal = Frame::EnrolRefused {
        request: [1; REQUEST_ID_LEN],
        code: RefusalCode::Other,
        message: long,
    };
    let bytes = refusal.encode().unwrap();
    let Frame::EnrolRefused { message, .. } = Frame::decode(&bytes).unwrap() else { panic!() };
    assert!(message.len() <= MAX_REFUSAL_MESSAGE);
    let mut forged = vec![0x05, 0, 0x02, 0x01];
    forged.extend(std::iter::repeat_n(b'a', 513));
    assert!(matches!(Frame::decode(&forged), Err(FrameError::TooLong { .. })));
}

proptest! {
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Frame::decode(&bytes);
        let _ = LinkStateAd::decode(&bytes);
        for kind in 1..=10u8 {
            let mut b = vec![kind];
            b.extend_from_slice(&bytes);
            if let Ok(f) = Frame::decode(&b) {
                let again = f.encode().unwrap();
                prop_assert_eq!(Frame::decode(&again).unwrap(), f);
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn mutated_frames_never_panic_a_node(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut sim = Sim::with_ca(None);
        for mut bytes in samples() {
            for (at, v) in &flips {
                let n = bytes.len();
                bytes[at % n] ^= v | 1;
            }
            let _ = sim.inject(1, 0, &bytes);
        }
        let (now, now_unix) = (sim.now, sim.now_unix());
        sim.node_mut(0).handle_timeout(now + std::time::Duration::from_secs(1), now_unix + 1);
    }
}

#[test]
fn a_relayed_only_link_state_entry_must_name_its_relay() {
    let entry = LinkEntry {
        neighbour: site(2),
        rtt_us: u32::MAX,
        jitter_us: 0,
        loss_ppm: 0,
        capacity_kbps: 0,
        up: false,
        relayed_only: true,
        via: Some(site(3)),
    };
    let ok = LinkStateAd::sign(&key(1), site(1), 1, vec![entry.clone()]).unwrap();
    assert_eq!(LinkStateAd::decode(&ok.encode()).unwrap(), ok);
    let bad =
        LinkStateAd::sign(&key(1), site(1), 1, vec![LinkEntry { via: None, ..entry }]).unwrap();
    let err = LinkStateAd::decode(&bad.encode()).unwrap_err();
    assert!(err.to_string().contains("names no relay"), "{err}");
}

fn far_entry(i: usize) -> LinkEntry {
    LinkEntry {
        neighbour: SiteId::new(&format!("far-{i}")).unwrap(),
        rtt_us: 1,
        jitter_us: 2,
        loss_ppm: 3,
        capacity_kbps: 4,
        up: true,
        relayed_only: false,
        via: None,
    }
}

#[test]
fn links_are_split_into_signed_pages_of_at_most_64_in_order() {
    let entries: Vec<LinkEntry> = (0..150).map(far_entry).collect();
    let pages = LinkStateAd::sign_pages(&key(1), &site(1), 9, &entries).unwrap();
    let shape: Vec<(u8, u8, usize)> =
        pages.iter().map(|p| (p.page, p.pages, p.entries.len())).collect();
    assert_eq!(shape, [(0, 3, 64), (1, 3, 64), (2, 3, 22)]);
    let joined: Vec<LinkEntry> = pages.iter().flat_map(|p| p.entries.clone()).collect();
    assert_eq!(joined, entries);
    for p in &pages {
        assert_eq!(p.version, 9);
        assert!(p.verify(&key(1).public()));
        assert_eq!(&LinkStateAd::decode(&p.encode()).unwrap(), p);
    }
    let none = LinkStateAd::sign_pages(&key(1), &site(1), 9, &[]).unwrap();
    assert_eq!(
        none.iter().map(|p| (p.page, p.pages, p.entries.len())).collect::<Vec<_>>(),
        [(0, 1, 0)]
    );
    let too_many: Vec<LinkEntry> = (0..=MAX_LINKS).map(far_entry).collect();
    assert!(matches!(
        LinkStateAd::sign_pages(&key(1), &site(1), 9, &too_many),
        Err(FrameError::TooLong { max: MAX_LINKS, .. })
    ));
}

#[test]
fn a_page_moved_to_another_index_or_count_no_longer_verifies() {
    let pages =
        LinkStateAd::sign_pages(&key(1), &site(1), 9, &(0..100).map(far_entry).collect::<Vec<_>>())
            .unwrap();
    let mut moved = pages[1].clone();
    moved.page = 0;
    assert!(!moved.verify(&key(1).public()));
    let mut recounted = pages[1].clone();
    recounted.pages = 3;
    assert!(!recounted.verify(&key(1).public()));
}

#[test]
fn page_numbers_and_counts_out_of_bounds_are_refused() {
    let good = LinkStateAd::sign_page(&key(1), site(1), 9, (1, 2), vec![far_entry(0)]).unwrap();
    let bytes = good.encode();
    // The page and count bytes follow "WFTP", the origin and the version.
    let at = 4 + 1 + site(1).as_str().len() + 8;
    assert_eq!((bytes[at], bytes[at + 1]), (1, 2));
    for (page, pages) in [(0, 0), (2, 2), (5, 3), (0, MAX_LINK_PAGES as u8 + 1)] {
        let mut b = bytes.clone();
        b[at] = page;
        b[at + 1] = pages;
        assert!(
            matches!(LinkStateAd::decode(&b), Err(FrameError::Invalid { .. })),
            "page {page} of {pages}"
        );
        assert!(LinkStateAd::sign_page(&key(1), site(1), 9, (page, pages), vec![]).is_err());
    }
    let mut b = bytes.clone();
    b[at + 2] = MAX_LINK_ENTRIES as u8 + 1;
    assert!(matches!(LinkStateAd::decode(&b), Err(FrameError::TooLong { .. })));
    let too_many: Vec<LinkEntry> = (0..=MAX_LINK_ENTRIES).map(far_entry).collect();
    assert!(LinkStateAd::sign_page(&key(1), site(1), 9, (0, 1), too_many).is_err());
}
