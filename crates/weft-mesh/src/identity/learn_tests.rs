//! Learn ranges: the on-prem ranges a certificate lets a site bring into the
//! mesh, granted by a join token's `--learn` and kept through renewal.

use weft_types::{IpPrefix, PublicKey, SiteId};

use super::*;

const NOW: u64 = 1_700_000_000;

fn list(items: &[&str]) -> LearnRanges {
    LearnRanges::new(items.iter().map(|s| IpPrefix::parse(s).unwrap()).collect()).unwrap()
}

fn token(e: &Enroller, allowed_learn: LearnRanges) -> JoinToken {
    e.ca().issue_token(TokenBody {
        id: TokenId([1; 16]),
        expires_at: NOW + 3600,
        max_uses: 5,
        role: Label::new("site").unwrap(),
        region: Label::new("").unwrap(),
        allowed_prefixes: None,
        allowed_learn,
    })
}

fn request(token: &JoinToken, learn: LearnRanges) -> EnrolRequest {
    let key = SiteKey::from_seed(&[2; 32]);
    let site = SiteId::new("dc-edge").unwrap();
    let own = PrefixList::new(vec!["10.1.0.0/16".parse().unwrap()]).unwrap();
    EnrolRequest::new(token.clone(), site, &key, PublicKey([2; 32]), own, NOW)
        .with_learn_ranges(&key, learn)
}

#[test]
fn a_site_gets_the_learn_ranges_its_token_allows_in_its_certificate() {
    let mut e = Enroller::new(MeshCa::from_seed(&[1; 32]));
    let t = token(&e, list(&["10.60.0.0/16", "10.70.0.0/16"]));
    let req = request(&t, list(&["10.60.0.0/16", "10.70.8.0/24"]));
    assert!(req.proves_possession(), "re-signed with the learn ranges");
    assert_eq!(EnrolRequest::decode(&req.encode()).unwrap(), req);
    let cert = e.handle_request(NOW, &req).unwrap().cert;
    let v = cert.verify(&e.ca_public(), NOW).unwrap();
    assert_eq!(v.body().learn_ranges, list(&["10.60.0.0/16", "10.70.8.0/24"]));
    assert_eq!(SiteCert::decode(&cert.encode()).unwrap(), cert);
    assert_eq!(JoinToken::from_text(&t.to_text()).unwrap(), t);
}

#[test]
fn a_learn_range_outside_the_tokens_is_refused_and_a_token_without_learn_allows_none() {
    let mut e = Enroller::new(MeshCa::from_seed(&[1; 32]));
    let t = token(&e, list(&["10.60.0.0/16"]));
    let err = e.handle_request(NOW, &request(&t, list(&["10.60.0.0/15"]))).unwrap_err();
    assert_eq!(err, EnrolError::LearnRangeNotAllowed { range: "10.60.0.0/15".parse().unwrap() });
    assert!(err.to_string().contains("--learn"), "{err}");
    let none = token(&e, LearnRanges::default());
    let err = e.handle_request(NOW, &request(&none, list(&["10.60.1.0/24"]))).unwrap_err();
    assert!(matches!(err, EnrolError::LearnRangeNotAllowed { .. }), "{err}");
    assert!(e.handle_request(NOW, &request(&none, LearnRanges::default())).is_ok());
}

#[test]
fn a_renewed_certificate_keeps_its_learn_ranges() {
    let mut e = Enroller::new(MeshCa::from_seed(&[1; 32]));
    let t = token(&e, list(&["10.60.0.0/16"]));
    let cert = e.handle_request(NOW, &request(&t, list(&["10.60.0.0/16"]))).unwrap().cert;
    let renew = RenewRequest::new(cert, &SiteKey::from_seed(&[2; 32]), PublicKey([2; 32]), NOW);
    let new = e.handle_renewal(NOW + 10, &renew).unwrap().cert;
    assert_eq!(new.body.learn_ranges, list(&["10.60.0.0/16"]));
}

#[test]
fn messages_without_learn_ranges_keep_their_old_bytes_and_old_bytes_still_decode() {
    let mut e = Enroller::new(MeshCa::from_seed(&[1; 32]));
    let t = token(&e, LearnRanges::default());
    let cert = e.handle_request(NOW, &request(&t, LearnRanges::default())).unwrap().cert;
    let bytes = cert.encode();
    // The old layout ends with not_after and the signature: nothing after it.
    let signed = &bytes[..bytes.len() - 64];
    assert_eq!(&signed[signed.len() - 8..], &cert.body.not_after.to_be_bytes());
    assert!(SiteCert::decode(&bytes).unwrap().verify(&e.ca_public(), NOW).is_ok());
    // A certificate with learn ranges is longer by exactly the list.
    let t2 = token(&e, list(&["10.60.0.0/16"]));
    let with = e.handle_request(NOW, &request(&t2, list(&["10.60.0.0/16"]))).unwrap().cert;
    assert_eq!(with.encode().len(), bytes.len() + 1 + 1 + 4 + 1);
}

#[test]
fn an_empty_learn_list_written_out_is_refused_as_not_canonical() {
    let e = Enroller::new(MeshCa::from_seed(&[1; 32]));
    let t = token(&e, LearnRanges::default());
    let mut bytes = t.encode();
    let at = bytes.len() - 64;
    bytes.insert(at, 0);
    let err = JoinToken::decode(&bytes).unwrap_err();
    assert!(err.to_string().contains("allowed learn ranges"), "{err}");
}
