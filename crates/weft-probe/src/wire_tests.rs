//! Tests of the probe wire format.

use proptest::prelude::*;

use crate::tests_support::keys;
use crate::*;

fn sample() -> ProbeFields {
    ProbeFields { path_token: 0x0102_0304, seq: 9, timestamp_us: 77 }
}

fn sealed_probe() -> [u8; MESSAGE_LEN] {
    let (ab, _) = keys();
    let mut buf = [0u8; MESSAGE_LEN];
    encode_probe(&ab, 5, &sample(), &mut buf).unwrap();
    buf
}

#[test]
fn the_layout_matches_the_documented_table() {
    let (ab, _) = keys();
    let buf = sealed_probe();
    assert_eq!(&buf[..4], &[TYPE_PROBE, VERSION, 0, 0]);
    assert_eq!(&buf[4..12], &ab.local_key_id().0);
    assert_eq!(&buf[12..20], &5u64.to_be_bytes());
    assert_eq!(&buf[20..24], &0x0102_0304u32.to_be_bytes());
    assert_eq!(&buf[24..32], &9u64.to_be_bytes());
    assert_eq!(&buf[32..40], &77u64.to_be_bytes());
}

#[test]
fn an_echo_carries_the_probes_token_seq_and_timestamp() {
    let (ab, ba) = keys();
    let probe = open(&ba, &sealed_probe()).unwrap();
    let mut buf = [0u8; MESSAGE_LEN];
    encode_echo(&ba, 1000, &probe.fields, &mut buf).unwrap();
    let echo = open(&ab, &buf).unwrap();
    assert_eq!(echo.kind, ProbeKind::Echo);
    assert_eq!(echo.fields, sample());
    assert_eq!(echo.sender, ba.local_key_id());
    assert_eq!(echo.counter, 1000);
}

#[test]
fn peek_finds_the_sender_without_the_key() {
    let (ab, _) = keys();
    assert_eq!(peek_key_id(&sealed_probe()), Ok(ab.local_key_id()));
}

#[test]
fn a_probe_cannot_be_turned_into_an_echo() {
    let (_, ba) = keys();
    let mut buf = sealed_probe();
    buf[0] = TYPE_ECHO;
    assert_eq!(open(&ba, &buf), Err(ProbeError::BadMac));
}

#[test]
fn a_probe_for_another_peer_fails_the_mac() {
    let mut buf = sealed_probe();
    let (a, c) = (weft_types::PrivateKey([0x11; 32]), weft_types::PrivateKey([0x33; 32]));
    let ca = ProbeKey::derive(&c, &tests_support::public(&a)).unwrap();
    assert_eq!(open(&ca, &buf), Err(ProbeError::BadMac));
    buf[55] ^= 1;
    assert_eq!(open(&ca, &buf), Err(ProbeError::BadMac));
}

#[test]
fn header_faults_are_reported_by_kind() {
    let (_, ba) = keys();
    let good = sealed_probe();
    let mut b = good;
    b[0] = 0x01;
    assert_eq!(open(&ba, &b), Err(ProbeError::UnknownType(0x01)));
    let mut b = good;
    b[1] = 2;
    assert_eq!(open(&ba, &b), Err(ProbeError::UnsupportedVersion(2)));
    let mut b = good;
    b[3] = 1;
    assert_eq!(open(&ba, &b), Err(ProbeError::BadReserved));
    assert_eq!(
        open(&ba, &good[..55]),
        Err(ProbeError::WrongLength { expected: MESSAGE_LEN, got: 55 })
    );
    let mut long = good.to_vec();
    long.push(0);
    assert_eq!(open(&ba, &long), Err(ProbeError::WrongLength { expected: MESSAGE_LEN, got: 57 }));
}

#[test]
fn a_short_output_buffer_is_an_error_and_nothing_is_written() {
    let (ab, _) = keys();
    let mut buf = [0xaau8; MESSAGE_LEN - 1];
    assert_eq!(
        encode_probe(&ab, 0, &sample(), &mut buf),
        Err(ProbeError::BufferTooSmall(MESSAGE_LEN - 1))
    );
    assert!(buf.iter().all(|&b| b == 0xaa));
}

proptest! {
    #[test]
    fn flipping_any_bit_is_refused(bit in 0usize..MESSAGE_LEN * 8) {
        let (_, ba) = keys();
        let mut buf = sealed_probe();
        buf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(open(&ba, &buf).is_err());
    }

    #[test]
    fn any_fields_round_trip(kind in prop_oneof![Just(ProbeKind::Probe), Just(ProbeKind::Echo)],
                             counter: u64, path_token: u32, seq: u64, timestamp_us: u64) {
        let (ab, ba) = keys();
        let fields = ProbeFields { path_token, seq, timestamp_us };
        let mut buf = [0u8; MESSAGE_LEN + 8];
        let n = encode(&ab, kind, counter, &fields, &mut buf).unwrap();
        prop_assert_eq!(n, MESSAGE_LEN);
        let m = open(&ba, &buf[..n]).unwrap();
        prop_assert_eq!(m, ProbeMessage { kind, sender: ab.local_key_id(), counter, fields });
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        let (_, ba) = keys();
        let _ = peek_key_id(&data);
        prop_assert!(open(&ba, &data).is_err());
    }

    #[test]
    fn any_truncation_of_a_valid_probe_is_refused(len in 0usize..MESSAGE_LEN) {
        let (_, ba) = keys();
        let buf = sealed_probe();
        let refused = matches!(open(&ba, &buf[..len]), Err(ProbeError::WrongLength { .. }));
        prop_assert!(refused);
        prop_assert!(peek_key_id(&buf[..len]).is_err());
    }
}
