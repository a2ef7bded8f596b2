//! Arbitrary bytes into the probe parser: peek and open never panic, and
//! anything that opens re-encodes to the identical bytes. The input's first
//! bytes also drive an encode → open round trip of chosen fields.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_dataplane::probe::{
    self, MESSAGE_LEN, PeerProbeState, ProbeFields, ProbeKey, ProbeKind, ProbeMessage,
};
use weft_dataplane::wg::public_key;
use weft_types::PrivateKey;

/// (A's key for B, B's key for A).
fn keys() -> &'static (ProbeKey, ProbeKey) {
    static KEYS: OnceLock<(ProbeKey, ProbeKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let (a, b) = (PrivateKey([0x11; 32]), PrivateKey([0x22; 32]));
        (
            ProbeKey::derive(&a, &public_key(&b)).expect("fixed keys are strong"),
            ProbeKey::derive(&b, &public_key(&a)).expect("fixed keys are strong"),
        )
    })
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[at..at + 8]);
    u64::from_be_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let (ab, ba) = keys();

    // Raw bytes: never panic; an opened message re-encodes identically.
    let _ = probe::peek_key_id(data);
    if let Ok(m) = probe::open(ba, data) {
        let mut buf = [0u8; MESSAGE_LEN];
        let n = probe::encode(ab, m.kind, m.counter, &m.fields, &mut buf).expect("encode");
        assert_eq!(&buf[..n], data);
    }
    let mut state = PeerProbeState::new(ba.clone(), 0);
    let _ = state.open_checked(data);

    // Structured: chosen fields survive encode → open.
    if data.len() >= 29 {
        let kind = if data[0] & 1 == 0 { ProbeKind::Probe } else { ProbeKind::Echo };
        let counter = u64_at(data, 1);
        let fields = ProbeFields {
            path_token: u32::from_be_bytes([data[9], data[10], data[11], data[12]]),
            seq: u64_at(data, 13),
            timestamp_us: u64_at(data, 21),
        };
        let mut buf = [0u8; MESSAGE_LEN];
        let n = probe::encode(ab, kind, counter, &fields, &mut buf).expect("encode");
        let opened = probe::open(ba, &buf[..n]).expect("open what we sealed");
        assert_eq!(opened, ProbeMessage { kind, sender: ab.local_key_id(), counter, fields });
        // Our own message reflected back at us is refused.
        assert!(probe::open(ab, &buf[..n]).is_err());
    }
});
