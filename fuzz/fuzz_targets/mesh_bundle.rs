//! Signed bundles (the mesh-wide policies the leader publishes) and their
//! acknowledgements on arbitrary bytes: never a panic; anything that decodes
//! encodes back to the same bytes; nothing verifies under a CA or a site
//! certificate whose key never signed fuzz input.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_mesh::identity::{
    Enroller, Label, MeshCa, PrefixList, SelfClaims, SignedBundle, SignedBundleAck, SiteCert,
    SiteKey,
};
use weft_types::{PublicKey, SiteId};

/// A site certificate from a fixed CA (acknowledgements verify against one).
fn cert() -> &'static SiteCert {
    static CERT: OnceLock<SiteCert> = OnceLock::new();
    CERT.get_or_init(|| {
        let mut enroller = Enroller::new(MeshCa::from_seed(&[0x5a; 32]));
        let claims = SelfClaims {
            site: SiteId::new("paris").unwrap(),
            role: Label::new("hub").unwrap(),
            region: Label::new("eu").unwrap(),
            prefixes: PrefixList::new(vec![]).unwrap(),
            site_key: SiteKey::from_seed(&[7; 32]).public(),
            wg_key: PublicKey([3; 32]),
            learn_ranges: weft_mesh::identity::LearnRanges::default(),
        };
        enroller.issue_self(1_700_000_000, claims).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let ca = MeshCa::from_seed(&[0x5a; 32]).public();
    if let Ok(b) = SignedBundle::decode(data) {
        assert_eq!(SignedBundle::decode(&b.encode()).unwrap(), b);
        assert_eq!(b.encode(), data, "decoding is canonical");
        assert!(b.verify(&ca).is_err());
    }
    if let Ok(a) = SignedBundleAck::decode(data) {
        assert_eq!(SignedBundleAck::decode(&a.encode()).unwrap(), a);
        assert_eq!(a.encode(), data, "decoding is canonical");
        assert!(a.verify(cert()).is_err());
    }
});
