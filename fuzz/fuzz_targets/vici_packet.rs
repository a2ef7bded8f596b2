//! strongSwan's VICI packets as they arrive from charon's socket
//! (`weft-vici`): the frame length prefix, then the packet. Never a panic;
//! a packet that decodes encodes back to bytes that decode to the same
//! packet; what `list-sa` events carry is read without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_vici::Packet;

fuzz_target!(|data: &[u8]| {
    if let Some(prefix) = data.get(..4) {
        let _ = Packet::frame_len([prefix[0], prefix[1], prefix[2], prefix[3]]);
    }
    let Ok(packet) = Packet::decode(data) else { return };
    if let Packet::Event { message, .. } = &packet {
        let _ = weft_vici::parse_list_sa(message);
    }
    if let Ok(bytes) = packet.encode() {
        // `encode` writes the length prefix; decode what follows it.
        let body = bytes.get(4..).unwrap_or(&bytes);
        let again = Packet::decode(body).expect("an encoded packet decodes");
        assert_eq!(again, packet);
    }
});
