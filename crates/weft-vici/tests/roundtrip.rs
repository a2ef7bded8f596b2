//! Properties of the codec on generated input: every message and packet
//! that encodes decodes back to itself, and no byte string makes the
//! decoders panic (what charon, or anything on its socket, may send).

use proptest::prelude::*;
use weft_vici::{Message, Packet};

/// Names of 1..=12 ASCII characters, as charon uses; values any bytes.
fn name() -> impl Strategy<Value = String> {
    "[a-z_-][a-z0-9_-]{0,11}"
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..40)
}

fn message() -> impl Strategy<Value = Message> {
    let leaf = proptest::collection::vec(
        prop_oneof![
            (name(), value()).prop_map(|(k, v)| Message::new().with_value(&k, v)),
            (name(), proptest::collection::vec(value(), 0..4))
                .prop_map(|(k, l)| Message::new().with_list(&k, l)),
        ],
        0..4,
    )
    .prop_map(concat);
    leaf.prop_recursive(4, 64, 4, |inner| {
        proptest::collection::vec((name(), inner), 0..4).prop_map(|sections| {
            sections.into_iter().fold(Message::new(), |m, (k, s)| m.with_section(&k, s))
        })
    })
}

fn concat(parts: Vec<Message>) -> Message {
    let mut out = Message::new();
    for p in parts {
        for (k, e) in p.entries() {
            out = match e {
                weft_vici::Element::Value(v) => out.with_value(k, v),
                weft_vici::Element::List(l) => out.with_list(k, l),
                weft_vici::Element::Section(s) => out.with_section(k, s.clone()),
            };
        }
    }
    out
}

proptest! {
    #[test]
    fn messages_round_trip(m in message()) {
        let bytes = m.encode().unwrap();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn packets_round_trip(m in message(), n in name(), kind in 0u8..3) {
        let p = match kind {
            0 => Packet::CmdRequest { command: n, message: m },
            1 => Packet::CmdResponse(m),
            _ => Packet::Event { name: n, message: m },
        };
        let bytes = p.encode().unwrap();
        let len = Packet::frame_len(bytes[..4].try_into().unwrap()).unwrap();
        prop_assert_eq!(len, bytes.len() - 4);
        prop_assert_eq!(Packet::decode(&bytes[4..]).unwrap(), p);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::decode(&bytes);
        let _ = Packet::decode(&bytes);
        if bytes.len() >= 4 {
            let _ = Packet::frame_len(bytes[..4].try_into().unwrap());
        }
    }
}
