//! Arbitrary bytes into datagram classification, initiator lookup and a
//! fresh session's receive path: none may panic, and classification agrees
//! with what the session and the probe parser accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_dataplane::probe;
use weft_dataplane::wg::{
    DatagramKind, WgResult, WgSession, classify, initiator_public_key, public_key,
};
use weft_types::PrivateKey;

fuzz_target!(|data: &[u8]| {
    let kind = classify(data);
    let local = PrivateKey([0x22; 32]);

    if matches!(kind, DatagramKind::HandshakeInit { .. }) {
        let _ = initiator_public_key(&local, data);
    } else {
        assert_eq!(initiator_public_key(&local, data), None);
    }
    if probe::peek_key_id(data).is_ok() {
        assert!(matches!(kind, DatagramKind::WeftProbe | DatagramKind::WeftEcho));
    }

    let peer = public_key(&PrivateKey([0x11; 32]));
    let mut session = WgSession::new(&local, &peer, None, None, 1);
    let mut out = vec![0u8; data.len().max(148)];
    let result = session.decapsulate(None, data, &mut out);
    if kind == DatagramKind::Garbage {
        assert!(matches!(result, WgResult::Error(_)), "garbage accepted: {result:?}");
    }
    let mut small = [0u8; 16];
    let _ = session.decapsulate(None, data, &mut small);
});
