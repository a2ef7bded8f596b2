//! Every identity decoder on arbitrary bytes (and the token text form on the
//! same bytes as lossy UTF-8): none may panic, anything that decodes must
//! encode and decode back to the same value, and nothing may verify under a
//! fixed CA whose key never signed fuzz input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_mesh::identity::{
    EnrolRequest, EnrolResponse, JoinToken, MeshCa, RenewRequest, SignedRevocations, SiteCert,
};

fuzz_target!(|data: &[u8]| {
    let ca = MeshCa::from_seed(&[0x5a; 32]).public();
    if let Ok(c) = SiteCert::decode(data) {
        assert_eq!(SiteCert::decode(&c.encode()).unwrap(), c);
        assert_eq!(c.encode(), data, "decoding is canonical");
        assert!(c.verify(&ca, 1_700_000_000).is_err());
    }
    if let Ok(t) = JoinToken::decode(data) {
        assert_eq!(JoinToken::decode(&t.encode()).unwrap(), t);
        assert_eq!(t.encode(), data, "decoding is canonical");
        assert!(t.verify(&ca).is_err());
    }
    if let Ok(t) = JoinToken::from_text(&String::from_utf8_lossy(data)) {
        assert_eq!(JoinToken::from_text(&t.to_text()).unwrap(), t);
    }
    if let Ok(r) = EnrolRequest::decode(data) {
        assert_eq!(EnrolRequest::decode(&r.encode()).unwrap(), r);
        assert_eq!(r.encode(), data, "decoding is canonical");
    }
    if let Ok(r) = RenewRequest::decode(data) {
        assert_eq!(RenewRequest::decode(&r.encode()).unwrap(), r);
        assert_eq!(r.encode(), data, "decoding is canonical");
    }
    if let Ok(r) = EnrolResponse::decode(data) {
        assert_eq!(EnrolResponse::decode(&r.encode()).unwrap(), r);
        assert_eq!(r.encode(), data, "decoding is canonical");
        assert!(r.verify(&ca, 1_700_000_000).is_err());
    }
    if let Ok(s) = SignedRevocations::decode(data) {
        assert_eq!(SignedRevocations::decode(&s.encode()).unwrap(), s);
        assert_eq!(s.encode(), data, "decoding is canonical");
        assert!(s.verify(&ca).is_err());
    }
});
