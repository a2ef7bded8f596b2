//! The policy parser and everything after it on arbitrary text: parsing,
//! compiling, the lint, the policy's own tests and a diff against itself
//! must never panic, and a policy compared with itself must show no change.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(doc) = weft_policy::parse(Path::new("fuzz.toml"), text) else { return };
    let dir = weft_policy::SiteDirectory::from_document(&doc);
    let Ok((policy, _)) = weft_policy::compile(&doc, &dir) else { return };
    let _ = weft_policy::lint(&policy);
    let _ = weft_policy::run_tests(&policy);
    assert!(weft_policy::diff(&policy, &policy, 5).is_empty(), "a policy differs from itself");
    let key = weft_types::FlowKey {
        src: "10.1.2.3".parse().unwrap(),
        dst: "10.2.3.4".parse().unwrap(),
        protocol: weft_types::IpProtocol::UDP,
        src_port: 5060,
        dst_port: 5060,
    };
    let _ = policy.classify(&weft_policy::FlowPoint::new(&key, 46));
});
