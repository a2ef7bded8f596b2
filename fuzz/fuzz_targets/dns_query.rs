//! weftd's authoritative DNS answer path on arbitrary datagrams: hickory's
//! parser, the GTM handler (zone match, ECS, the decision) and the encoder
//! must never panic; whatever parses gets an answer that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(answer) = weftd::fuzzing::dns_query(data) {
        assert!(answer.len() >= 12, "an answer has at least a header");
    }
});
