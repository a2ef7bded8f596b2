//! Tests of datagram classification and initiator lookup.

use proptest::prelude::*;
use weft_types::PrivateKey;

use super::*;
use crate::probe::{self, PeerProbeState, ProbeFields, ProbeKey};

fn key(seed: u8) -> PrivateKey {
    PrivateKey([seed; 32])
}

fn handshake_init(from: &PrivateKey, to: &PrivateKey) -> Vec<u8> {
    let mut s = WgSession::new(from, &public_key(to), None, None, 0x00ab_cdef);
    let mut buf = [0u8; 256];
    match s.encapsulate(&[], &mut buf) {
        WgResult::ToNetwork(b) => b.to_vec(),
        other => panic!("expected a handshake initiation, got {other:?}"),
    }
}

#[test]
fn wireguard_messages_are_recognised_by_type_and_size() {
    let init = handshake_init(&key(1), &key(2));
    let DatagramKind::HandshakeInit { sender_index } = classify(&init) else {
        panic!("not an initiation");
    };
    assert_eq!(session_index(sender_index), 0x00ab_cdef);

    let mut resp = vec![0u8; HANDSHAKE_RESPONSE_LEN];
    resp[0] = 2;
    resp[8..12].copy_from_slice(&0x1234_5601u32.to_le_bytes());
    assert_eq!(classify(&resp), DatagramKind::HandshakeResponse { receiver_index: 0x1234_5601 });

    let mut cookie = vec![0u8; COOKIE_REPLY_LEN];
    cookie[0] = 3;
    cookie[4] = 9;
    assert_eq!(classify(&cookie), DatagramKind::CookieReply { receiver_index: 9 });

    let mut data = vec![0u8; DATA_OVERHEAD];
    data[0] = 4;
    data[7] = 1;
    assert_eq!(classify(&data), DatagramKind::Data { receiver_index: 1 << 24 });
}

#[test]
fn wrong_sizes_and_nonzero_reserved_bytes_are_garbage() {
    let init = handshake_init(&key(1), &key(2));
    assert_eq!(classify(&init[..147]), DatagramKind::Garbage);
    let mut reserved = init.clone();
    reserved[1] = 1;
    assert_eq!(classify(&reserved), DatagramKind::Garbage);
    assert_eq!(classify(&[4, 0, 0, 0]), DatagramKind::Garbage);
    assert_eq!(classify(&[0u8; 148]), DatagramKind::Garbage);
    assert_eq!(classify(&[]), DatagramKind::Garbage);
    assert_eq!(classify(&[probe::TYPE_PROBE; 55]), DatagramKind::Garbage);
}

#[test]
fn weft_probes_and_echoes_are_recognised() {
    let (a, b) = (key(1), key(2));
    let mut state = PeerProbeState::new(ProbeKey::derive(&a, &public_key(&b)).unwrap(), 0);
    let mut buf = [0u8; probe::MESSAGE_LEN];
    state.seal_probe(&ProbeFields::default(), &mut buf).unwrap();
    assert_eq!(classify(&buf), DatagramKind::WeftProbe);
    state.seal_echo(&ProbeFields::default(), &mut buf).unwrap();
    assert_eq!(classify(&buf), DatagramKind::WeftEcho);
}

#[test]
fn the_initiator_of_a_handshake_is_found_by_its_responder_only() {
    let (a, b, c) = (key(1), key(2), key(3));
    let init = handshake_init(&a, &b);
    assert_eq!(initiator_public_key(&b, &init), Some(public_key(&a)));
    assert_eq!(initiator_public_key(&c, &init), None);
    let mut tampered = init.clone();
    tampered[50] ^= 1;
    assert_eq!(initiator_public_key(&b, &tampered), None);
    assert_eq!(initiator_public_key(&b, &init[..100]), None);
}

proptest! {
    #[test]
    fn classify_never_panics_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = classify(&data);
        prop_assert_eq!(initiator_public_key(&key(2), &data), None);
    }

    #[test]
    fn random_bytes_with_a_wireguard_header_never_panic(kind in 1u8..=4, len in 0usize..200,
                                                        fill: u8) {
        let mut data = vec![fill; len];
        if let Some(first) = data.first_mut() {
            *first = kind;
        }
        for b in data.iter_mut().skip(1).take(3) {
            *b = 0;
        }
        let _ = classify(&data);
        let _ = initiator_public_key(&key(2), &data);
    }
}
