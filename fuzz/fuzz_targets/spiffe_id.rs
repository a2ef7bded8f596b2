//! SPIFFE IDs and the URI SAN reader on arbitrary input: never a panic; an
//! ID that parses formats back to the same text and parses again equal; a
//! SAN read from arbitrary DER is a valid SPIFFE ID or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(id) = weft_types::SpiffeId::parse(text)
    {
        assert_eq!(id.to_string(), text, "an ID formats back to its text");
        assert_eq!(weft_types::SpiffeId::parse(&id.to_string()), Ok(id));
    }
    if let Ok(id) = weft_identity::san::spiffe_id(data) {
        assert!(weft_types::SpiffeId::parse(&id.to_string()).is_ok());
    }
    let _ = weft_identity::san::uri_sans(data);
});
