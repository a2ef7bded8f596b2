//! Cross-module tests: the whole enrolment flow, every refusal with its
//! message, tampering, boundaries and decoders on arbitrary bytes.

use proptest::prelude::*;
use weft_types::{IpPrefix, PublicKey, SiteId};

use super::*;

const NOW: u64 = 1_700_000_000;

fn site(name: &str) -> SiteId {
    SiteId::new(name).unwrap()
}

fn prefixes(items: &[&str]) -> PrefixList {
    PrefixList::new(items.iter().map(|s| IpPrefix::parse(s).unwrap()).collect()).unwrap()
}

fn token_body(id: u8, max_uses: u32, allowed: Option<PrefixList>) -> TokenBody {
    TokenBody {
        id: TokenId([id; 16]),
        expires_at: NOW + 3600,
        max_uses,
        role: Label::new("site").unwrap(),
        region: Label::new("eu-west").unwrap(),
        allowed_prefixes: allowed,
        allowed_learn: LearnRanges::default(),
    }
}

fn enroller() -> Enroller {
    Enroller::new(MeshCa::from_seed(&[1; 32]))
}

fn request(token: &JoinToken, name: &str, key_seed: u8, at: u64) -> EnrolRequest {
    EnrolRequest::new(
        token.clone(),
        site(name),
        &SiteKey::from_seed(&[key_seed; 32]),
        PublicKey([key_seed; 32]),
        prefixes(&["10.1.0.0/16", "fd00:1::/48"]),
        at,
    )
}

/// Like [`request`], with prefixes of its own (`10.<seed>.0.0/16`).
fn request_own(token: &JoinToken, name: &str, key_seed: u8, at: u64) -> EnrolRequest {
    EnrolRequest::new(
        token.clone(),
        site(name),
        &SiteKey::from_seed(&[key_seed; 32]),
        PublicKey([key_seed; 32]),
        prefixes(&[&format!("10.{key_seed}.0.0/16")]),
        at,
    )
}

fn enrolled() -> (Enroller, JoinToken, SiteCert) {
    let mut e = enroller();
    let token = e.ca().issue_token(token_body(1, 1, None));
    let cert = e.handle_request(NOW, &request(&token, "paris-dc1", 2, NOW)).unwrap().cert;
    (e, token, cert)
}

#[test]
fn a_site_enrols_with_a_token_and_gets_a_day_long_certificate_with_its_claims() {
    let (e, token, cert) = enrolled();
    let v = cert.verify(&e.ca_public(), NOW).unwrap();
    let b = v.body();
    assert_eq!(b.site, site("paris-dc1"));
    assert_eq!(b.role.as_str(), "site");
    assert_eq!(b.region.as_str(), "eu-west");
    assert_eq!(b.prefixes, prefixes(&["10.1.0.0/16", "fd00:1::/48"]));
    assert_eq!(b.site_key, SiteKey::from_seed(&[2; 32]).public());
    assert_eq!(b.wg_key, PublicKey([2; 32]));
    assert_eq!(b.not_after - b.not_before, DEFAULT_CERT_LIFETIME_SECS);
    assert_eq!(cert.issuer, e.ca_public().key_id());
    assert_eq!(token.ca, e.ca_public());
}

#[test]
fn every_message_round_trips_through_its_wire_form() {
    let (mut e, token, cert) = enrolled();
    assert_eq!(SiteCert::decode(&cert.encode()).unwrap(), cert);
    assert_eq!(JoinToken::decode(&token.encode()).unwrap(), token);
    assert_eq!(JoinToken::from_text(&token.to_text()).unwrap(), token);
    assert_eq!(token.to_string().parse::<JoinToken>().unwrap(), token);
    let req = request(&token, "lon-1", 3, NOW);
    assert_eq!(EnrolRequest::decode(&req.encode()).unwrap(), req);
    let renew =
        RenewRequest::new(cert.clone(), &SiteKey::from_seed(&[2; 32]), PublicKey([5; 32]), NOW);
    assert_eq!(RenewRequest::decode(&renew.encode()).unwrap(), renew);
    let resp = EnrolResponse { ca: e.ca_public(), cert };
    assert_eq!(EnrolResponse::decode(&resp.encode()).unwrap(), resp);
    e.revoke_site(site("lon-1")).unwrap();
    let revs = e.revoke_serial(42).unwrap();
    assert_eq!(SignedRevocations::decode(&revs.encode()).unwrap(), revs);
}

#[test]
fn the_largest_messages_still_fit_the_four_kibibyte_limit() {
    let long = Label::new(&"é".repeat(127)).unwrap();
    let many = PrefixList::new(vec![IpPrefix::parse("fd00::/64").unwrap(); 64]).unwrap();
    let ca = MeshCa::from_seed(&[1; 32]);
    let mut body = token_body(1, 1, Some(many.clone()));
    body.role = long.clone();
    body.region = long;
    let token = ca.issue_token(body);
    let name = "a".repeat(63);
    let req = EnrolRequest::new(
        token.clone(),
        site(&name),
        &SiteKey::from_seed(&[2; 32]),
        PublicKey([0; 32]),
        many,
        NOW,
    );
    assert!(req.encode().len() <= MAX_MESSAGE_LEN);
    assert_eq!(EnrolRequest::decode(&req.encode()).unwrap(), req);
    let mut e = Enroller::new(MeshCa::from_seed(&[1; 32]));
    let resp = e.handle_request(NOW, &req).unwrap();
    assert_eq!(EnrolResponse::decode(&resp.encode()).unwrap(), resp);
    let renew =
        RenewRequest::new(resp.cert, &SiteKey::from_seed(&[2; 32]), PublicKey([0; 32]), NOW);
    assert_eq!(RenewRequest::decode(&renew.encode()).unwrap(), renew);
}

#[test]
fn token_text_that_is_not_a_token_says_what_was_expected() {
    let err = JoinToken::from_text("hello").unwrap_err();
    assert_eq!(err.to_string(), "not a Weft join token (expected weft1.…)");
    assert!(matches!(JoinToken::from_text("weft1.***"), Err(TokenError::Base64(_))));
    assert!(matches!(JoinToken::from_text("weft1.AAAA"), Err(TokenError::Malformed(_))));
    let (_, token, _) = enrolled();
    assert!(JoinToken::from_text(&format!("  {}\n", token.to_text())).is_ok());
}

#[test]
fn a_certificate_is_valid_from_not_before_until_just_before_not_after() {
    let (e, _, cert) = enrolled();
    let ca = e.ca_public();
    let b = &cert.body;
    assert!(cert.verify(&ca, b.not_before).is_ok());
    assert!(cert.verify(&ca, b.not_after - 1).is_ok());
    let err = cert.verify(&ca, b.not_after).unwrap_err();
    assert_eq!(err, CertError::Expired { not_after: b.not_after, now: b.not_after });
    assert_eq!(err.to_string(), format!("certificate expired at {0} (now {0})", b.not_after));
    assert!(matches!(cert.verify(&ca, b.not_before - 1), Err(CertError::NotYetValid { .. })));
}

#[test]
fn renewal_is_due_two_thirds_into_the_certificate_life() {
    let (_, _, cert) = enrolled();
    assert_eq!(cert.renew_at(), NOW + 16 * 3600);
    let mut odd = cert.clone();
    odd.body.not_after = odd.body.not_before + 10;
    assert_eq!(odd.renew_at(), odd.body.not_before + 6);
    odd.body.not_after = odd.body.not_before;
    assert_eq!(odd.renew_at(), odd.body.not_before);
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let (_, _, cert) = enrolled();
    let other = MeshCa::from_seed(&[9; 32]).public();
    let err = cert.verify(&other, NOW).unwrap_err();
    assert!(matches!(err, CertError::WrongCa { .. }));
    assert!(err.to_string().contains("not by this mesh's CA"));
}

#[test]
fn a_forged_certificate_with_the_right_issuer_id_is_refused() {
    let (e, _, mut cert) = enrolled();
    cert.body.prefixes = prefixes(&["0.0.0.0/0"]);
    assert_eq!(cert.verify(&e.ca_public(), NOW), Err(CertError::BadSignature));
}

#[test]
fn a_token_from_another_ca_is_refused_at_enrolment() {
    let mut e = enroller();
    let token = MeshCa::from_seed(&[9; 32]).issue_token(token_body(1, 1, None));
    let err = e.handle_request(NOW, &request(&token, "a", 2, NOW)).unwrap_err();
    assert!(matches!(err, EnrolError::Token(TokenError::WrongCa { .. })), "{err}");
}

#[test]
fn an_expired_token_is_refused_with_its_expiry() {
    let mut e = enroller();
    let token = e.ca().issue_token(token_body(1, 1, None));
    let at = NOW + 3600;
    let err = e.handle_request(at, &request(&token, "a", 2, at)).unwrap_err();
    assert_eq!(err.to_string(), format!("token expired at {at} (now {at})"));
    assert!(e.handle_request(at - 1, &request(&token, "a", 2, at - 1)).is_ok());
}

#[test]
fn a_token_enrols_at_most_its_number_of_sites() {
    let mut e = enroller();
    let token = e.ca().issue_token(token_body(1, 2, None));
    e.handle_request(NOW, &request_own(&token, "a", 2, NOW)).unwrap();
    e.handle_request(NOW, &request_own(&token, "b", 3, NOW)).unwrap();
    let err = e.handle_request(NOW, &request_own(&token, "c", 4, NOW)).unwrap_err();
    assert_eq!(err.to_string(), "token already used 2 of 2 times");
    assert_eq!(e.state().token_uses[&TokenId([1; 16])], 2);
}

#[test]
fn a_prefix_overlapping_another_sites_is_refused_and_a_revoked_sites_is_free_again() {
    let mut e = enroller();
    let token = e.ca().issue_token(token_body(1, 5, None));
    e.handle_request(NOW, &request_own(&token, "a", 2, NOW)).unwrap();
    let mut grab = request_own(&token, "b", 3, NOW);
    grab = EnrolRequest::new(
        grab.token,
        grab.site,
        &SiteKey::from_seed(&[3; 32]),
        grab.wg_key,
        prefixes(&["10.2.7.0/24"]),
        NOW,
    );
    let err = e.handle_request(NOW, &grab).unwrap_err();
    assert_eq!(err.to_string(), "prefix 10.2.7.0/24 overlaps 10.2.0.0/16, held by site a");
    assert_eq!(e.state().token_uses[&TokenId([1; 16])], 1, "a refusal uses nothing");
    // The same site re-enrolling with its own prefixes is no conflict.
    e.handle_request(NOW, &request_own(&token, "a", 2, NOW)).unwrap();
    e.revoke_site(site("a")).unwrap();
    e.handle_request(NOW, &grab).expect("a revoked site's prefixes are free");
}

#[test]
fn a_restarted_site_rejoins_with_its_key_without_using_up_the_token() {
    let (mut e, token, first) = enrolled();
    let again = e.handle_request(NOW + 60, &request(&token, "paris-dc1", 2, NOW + 60)).unwrap();
    assert!(again.cert.body.serial > first.body.serial);
    assert_eq!(e.state().token_uses[&token.body.id], 1);
}

#[test]
fn a_site_id_enrolled_with_another_key_is_refused() {
    let mut e = enroller();
    let token = e.ca().issue_token(token_body(1, 5, None));
    e.handle_request(NOW, &request(&token, "paris-dc1", 2, NOW)).unwrap();
    let err = e.handle_request(NOW, &request(&token, "paris-dc1", 3, NOW)).unwrap_err();
    assert!(matches!(err, EnrolError::KeyMismatch { .. }));
    assert!(err.to_string().contains("already enrolled with a different key"));
    assert_eq!(e.state().token_uses[&token.body.id], 1);
}

#[test]
fn a_request_not_signed_by_its_site_key_is_refused() {
    let mut e = enroller();
    let token = e.ca().issue_token(token_body(1, 1, None));
    let mut req = request(&token, "a", 2, NOW);
    req.site_key = SiteKey::from_seed(&[3; 32]).public();
    assert_eq!(e.handle_request(NOW, &req), Err(EnrolError::NoProofOfPossession));
    assert!(e.state().token_uses.is_empty());
}

#[test]
fn a_request_from_too_far_in_the_past_or_future_is_refused() {
    let mut e = enroller();
    let token = e.ca().issue_token(token_body(1, 3, None));
    let old = NOW - MAX_CLOCK_SKEW_SECS - 1;
    let err = e.handle_request(NOW, &request(&token, "a", 2, old)).unwrap_err();
    assert!(matches!(err, EnrolError::StaleRequest { .. }), "{err}");
    let soon = NOW + MAX_CLOCK_SKEW_SECS;
    assert!(e.handle_request(NOW, &request(&token, "a", 2, soon)).is_ok());
}

#[test]
fn a_site_may_ask_only_for_prefixes_its_token_allows() {
    let mut e = enroller();
    let allowed = prefixes(&["10.0.0.0/8", "fd00::/16"]);
    let token = e.ca().issue_token(token_body(1, 2, Some(allowed)));
    assert!(e.handle_request(NOW, &request(&token, "a", 2, NOW)).is_ok());
    let narrow = e.ca().issue_token(token_body(2, 2, Some(prefixes(&["10.1.0.0/24"]))));
    let err = e.handle_request(NOW, &request(&narrow, "b", 3, NOW)).unwrap_err();
    assert_eq!(err.to_string(), "prefix 10.1.0.0/16 is not allowed by the join token");
}

#[test]
fn a_revoked_site_cannot_enrol_again_or_renew() {
    let (mut e, _, cert) = enrolled();
    let signed = e.revoke_site(site("paris-dc1")).unwrap();
    let token = e.ca().issue_token(token_body(7, 1, None));
    let err = e.handle_request(NOW, &request(&token, "paris-dc1", 2, NOW)).unwrap_err();
    assert_eq!(err.to_string(), "site paris-dc1 is revoked and cannot rejoin");
    let renew =
        RenewRequest::new(cert.clone(), &SiteKey::from_seed(&[2; 32]), PublicKey([2; 32]), NOW);
    assert!(matches!(e.handle_renewal(NOW, &renew), Err(EnrolError::Revoked { .. })));
    let list = signed.verify(&e.ca_public()).unwrap();
    let err = cert.verify_not_revoked(&e.ca_public(), NOW, list).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("certificate {} of site paris-dc1 is revoked", cert.body.serial)
    );
}

#[test]
fn a_renewal_signed_by_the_current_key_gets_a_fresh_certificate_without_a_token() {
    let (mut e, token, cert) = enrolled();
    let key = SiteKey::from_seed(&[2; 32]);
    let at = cert.renew_at();
    let resp = e
        .handle_renewal(at, &RenewRequest::new(cert.clone(), &key, PublicKey([8; 32]), at))
        .unwrap();
    let new = resp.verify(&e.ca_public(), at).unwrap();
    assert_eq!(new.body().not_before, at);
    assert_eq!(new.body().wg_key, PublicKey([8; 32]));
    assert_eq!(new.body().prefixes, cert.body.prefixes);
    assert!(new.body().serial > cert.body.serial);
    assert!(cert.verify(&e.ca_public(), at).is_ok(), "old and new overlap");
    assert_eq!(e.state().token_uses[&token.body.id], 1);
}

#[test]
fn a_renewal_signed_by_another_key_or_too_late_is_refused() {
    let (mut e, _, cert) = enrolled();
    let thief = SiteKey::from_seed(&[66; 32]);
    let bad = RenewRequest::new(cert.clone(), &thief, PublicKey([8; 32]), NOW);
    assert_eq!(e.handle_renewal(NOW, &bad), Err(EnrolError::NoProofOfPossession));
    let late = cert.body.not_after + RENEWAL_GRACE_SECS;
    let req = RenewRequest::new(cert, &SiteKey::from_seed(&[2; 32]), PublicKey([8; 32]), late);
    assert!(matches!(e.handle_renewal(late, &req), Err(EnrolError::RenewalTooLate { .. })));
    assert!(e.handle_renewal(late - 1, &req).is_ok());
}

#[test]
fn a_renewal_of_a_site_this_enroller_never_saw_is_refused() {
    let (_, _, cert) = enrolled();
    let mut fresh = enroller();
    let req = RenewRequest::new(cert, &SiteKey::from_seed(&[2; 32]), PublicKey([8; 32]), NOW);
    assert!(matches!(fresh.handle_renewal(NOW, &req), Err(EnrolError::UnknownSite { .. })));
}

#[test]
fn the_site_refuses_a_response_from_a_ca_other_than_the_tokens() {
    let (_, token, _) = enrolled();
    let mut rogue = Enroller::new(MeshCa::from_seed(&[9; 32]));
    let rogue_token = rogue.ca().issue_token(token_body(1, 1, None));
    let resp = rogue.handle_request(NOW, &request(&rogue_token, "a", 2, NOW)).unwrap();
    assert!(matches!(resp.verify_for_token(&token, NOW), Err(CertError::WrongCa { .. })));
}

#[test]
fn enroller_state_restores_and_keeps_counting() {
    let (e, token, _) = enrolled();
    let state = e.state().clone();
    let mut back = Enroller::from_state(MeshCa::from_seed(&[1; 32]), state);
    let err = back.handle_request(NOW, &request(&token, "other", 5, NOW)).unwrap_err();
    assert!(matches!(err, EnrolError::TokenUsedUp { used: 1, max: 1 }));
    assert_eq!(back.state().next_serial, 2);
}

#[test]
fn revocation_lists_merge_by_keeping_the_higher_version_and_refuse_forgery() {
    let (mut e, _, _) = enrolled();
    let v1 = e.revoke_site(site("a")).unwrap();
    let v2 = e.revoke_serial(7).unwrap();
    let mut mine = RevocationList::default();
    assert!(mine.merge(v2.verify(&e.ca_public()).unwrap()));
    assert!(!mine.merge(v1.verify(&e.ca_public()).unwrap()));
    assert_eq!(mine.version(), 2);
    assert!(mine.serials().contains(&7) && mine.is_site_revoked(&site("a")));
    let other = MeshCa::from_seed(&[9; 32]).public();
    assert!(matches!(v2.verify(&other), Err(RevocationError::WrongCa { .. })));
    let mut forged = v2.clone();
    forged.list.revoke_site(site("b")).unwrap();
    assert_eq!(forged.verify(&e.ca_public()), Err(RevocationError::BadSignature));
}

#[test]
fn decoders_refuse_oversized_input_and_name_the_message() {
    let big = vec![0u8; MAX_MESSAGE_LEN + 1];
    let err = SiteCert::decode(&big).unwrap_err();
    assert!(err.to_string().contains("site certificate is 4097 bytes long"), "{err}");
    assert!(EnrolRequest::decode(&big).is_err());
    let err = SiteCert::decode(&[0u8; 80]).unwrap_err();
    assert_eq!(err.to_string(), "not a site certificate: wrong magic bytes");
}

/// Flips one byte of `bytes` and checks the result never verifies.
fn flipped(bytes: &[u8], at: prop::sample::Index, mask: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let i = at.index(b.len());
    b[i] ^= mask;
    b
}

proptest! {
    // Each case signs and verifies in a debug build: fewer cases keep the
    // suite quick; the fuzz target covers the long tail.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_certificate_with_any_byte_changed_never_verifies(at in any::<prop::sample::Index>(), mask in 1u8..) {
        let (e, _, cert) = enrolled();
        if let Ok(c) = SiteCert::decode(&flipped(&cert.encode(), at, mask)) {
            prop_assert_ne!(&c, &cert);
            prop_assert!(c.verify(&e.ca_public(), NOW).is_err());
        }
    }

    #[test]
    fn a_token_with_any_byte_changed_never_verifies(at in any::<prop::sample::Index>(), mask in 1u8..) {
        let (e, token, _) = enrolled();
        if let Ok(t) = JoinToken::decode(&flipped(&token.encode(), at, mask)) {
            prop_assert!(t.verify(&e.ca_public()).is_err());
        }
    }

    #[test]
    fn a_request_with_any_byte_changed_is_refused(at in any::<prop::sample::Index>(), mask in 1u8..) {
        let mut e = enroller();
        let token = e.ca().issue_token(token_body(1, 1, None));
        let req = request(&token, "paris-dc1", 2, NOW);
        if let Ok(r) = EnrolRequest::decode(&flipped(&req.encode(), at, mask)) {
            prop_assert!(e.handle_request(NOW, &r).is_err());
        }
    }

    #[test]
    fn a_revocation_list_with_any_byte_changed_never_verifies(at in any::<prop::sample::Index>(), mask in 1u8..) {
        let (mut e, _, _) = enrolled();
        e.revoke_site(site("a")).unwrap();
        let signed = e.revoke_serial(9).unwrap();
        if let Ok(s) = SignedRevocations::decode(&flipped(&signed.encode(), at, mask)) {
            prop_assert!(s.verify(&e.ca_public()).is_err());
        }
    }

    #[test]
    fn decoders_never_panic_and_what_decodes_round_trips(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(c) = SiteCert::decode(&data) { prop_assert_eq!(SiteCert::decode(&c.encode()).unwrap(), c); }
        if let Ok(t) = JoinToken::decode(&data) { prop_assert_eq!(JoinToken::decode(&t.encode()).unwrap(), t); }
        if let Ok(r) = EnrolRequest::decode(&data) { prop_assert_eq!(EnrolRequest::decode(&r.encode()).unwrap(), r); }
        if let Ok(r) = RenewRequest::decode(&data) { prop_assert_eq!(RenewRequest::decode(&r.encode()).unwrap(), r); }
        if let Ok(r) = EnrolResponse::decode(&data) { prop_assert_eq!(EnrolResponse::decode(&r.encode()).unwrap(), r); }
        if let Ok(s) = SignedRevocations::decode(&data) { prop_assert_eq!(SignedRevocations::decode(&s.encode()).unwrap(), s); }
        let _ = JoinToken::from_text(&String::from_utf8_lossy(&data));
    }

    #[test]
    fn decoders_never_panic_on_valid_headers_with_random_tails(
        kind in 0usize..6,
        tail in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let magic: &[u8; 4] = [b"WFTC", b"WFTT", b"WFTE", b"WFTN", b"WFTR", b"WFTV"][kind];
        let mut data = magic.to_vec();
        data.push(WIRE_VERSION);
        data.extend_from_slice(&tail);
        let _ = SiteCert::decode(&data);
        let _ = JoinToken::decode(&data);
        let _ = EnrolRequest::decode(&data);
        let _ = RenewRequest::decode(&data);
        let _ = EnrolResponse::decode(&data);
        let _ = SignedRevocations::decode(&data);
    }
}
