//! The trust chain verified by webpki (what rustls runs on every handshake),
//! the SPIFFE ID read back from the SVID, and the renewal schedule.

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};

use super::*;

const NOW: u64 = 1_800_000_000;

fn chain() -> (Root, Intermediate, TrustDomain) {
    let td = TrustDomain::parse("mesh.test").unwrap();
    let root = Root::new(&[7; 32], &td, 1, Validity::starting(NOW, 86_400 * 365)).unwrap();
    let inter = root.intermediate(&[8; 32], &td, 2, Validity::starting(NOW, 86_400)).unwrap();
    (root, inter, td)
}

fn verifies(root: &Root, svid: &Svid, at: u64, usage: KeyUsage) -> bool {
    let anchor_der = CertificateDer::from(root.der().to_vec());
    let anchors = [anchor_from_trusted_cert(&anchor_der).unwrap()];
    let leaf = CertificateDer::from(svid.chain[0].clone());
    let inter = [CertificateDer::from(svid.chain[1].clone())];
    let ee = EndEntityCert::try_from(&leaf).unwrap();
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &inter,
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(at)),
        usage,
        None,
        None,
    )
    .is_ok()
}

#[test]
fn an_svid_chains_to_the_mesh_root_for_client_and_server_use() {
    let (root, inter, td) = chain();
    let id = service_id(&td, "api").unwrap();
    let svid = inter.issue(&id, &[9; 32], 3, Validity::starting(NOW, 600)).unwrap();
    assert!(verifies(&root, &svid, NOW, KeyUsage::client_auth()));
    assert!(verifies(&root, &svid, NOW, KeyUsage::server_auth()));
    assert_eq!(san::spiffe_id(&svid.chain[0]).unwrap(), id);
}

#[test]
fn an_svid_issued_to_a_requesters_key_chains_and_carries_that_key() {
    let (root, inter, td) = chain();
    let id = service_id(&td, "api").unwrap();
    let public = x509::ed25519_public(&[11; 32]).unwrap();
    let (leaf, v) = inter.issue_for_key(&id, &public, 4, Validity::starting(NOW, 600)).unwrap();
    let spki = x509::ed25519_spki(&public);
    assert!(leaf.windows(spki.len()).any(|w| w == spki), "the leaf names the requester's key");
    let other = x509::ed25519_spki(&x509::ed25519_public(&[12; 32]).unwrap());
    assert!(!leaf.windows(other.len()).any(|w| w == other));
    // With the requester's private key it is a whole SVID, like one issued here.
    let svid = Svid {
        id: id.clone(),
        chain: vec![leaf, inter.der().to_vec()],
        key_pkcs8: ed25519_pkcs8(&[11; 32]),
        serial: 4,
        validity: v,
    };
    assert!(verifies(&root, &svid, NOW, KeyUsage::client_auth()));
    assert!(verifies(&root, &svid, NOW, KeyUsage::server_auth()));
    assert_eq!(san::spiffe_id(&svid.chain[0]).unwrap(), id);
    let issued_here = inter.issue(&id, &[11; 32], 4, Validity::starting(NOW, 600)).unwrap();
    assert_eq!(issued_here.chain[0].len(), svid.chain[0].len(), "the same shape");
}

#[test]
fn a_restored_intermediate_issues_svids_that_chain_like_the_original() {
    let (root, inter, td) = chain();
    let v = inter.validity();
    let again = Intermediate::restore(inter.der().to_vec(), &[8; 32], &td, 2, v).unwrap();
    let svid = again
        .issue(&service_id(&td, "api").unwrap(), &[9; 32], 4, Validity::starting(NOW, 600))
        .unwrap();
    assert!(verifies(&root, &svid, NOW, KeyUsage::client_auth()));
    // A root rebuilt from the same CA seed (another serial and window) still
    // signs intermediates the stored root verifies: same name, same key.
    let root2 = Root::new(&[7; 32], &td, 99, Validity::starting(NOW + 5, 86_400)).unwrap();
    let inter2 = root2.intermediate(&[5; 32], &td, 6, Validity::starting(NOW, 3600)).unwrap();
    let svid2 = inter2
        .issue(&service_id(&td, "api").unwrap(), &[9; 32], 7, Validity::starting(NOW, 600))
        .unwrap();
    assert!(verifies(&root, &svid2, NOW, KeyUsage::server_auth()));
}

#[test]
fn an_svid_is_refused_after_it_expires_and_under_another_root() {
    let (root, inter, td) = chain();
    let svid = inter
        .issue(&service_id(&td, "api").unwrap(), &[9; 32], 3, Validity::starting(NOW, 600))
        .unwrap();
    assert!(!verifies(&root, &svid, NOW + 601, KeyUsage::client_auth()));
    let other = Root::new(&[1; 32], &td, 1, Validity::starting(NOW, 86_400)).unwrap();
    assert!(!verifies(&other, &svid, NOW, KeyUsage::client_auth()));
}

#[test]
fn an_svid_never_outlives_its_intermediate() {
    let (_, inter, td) = chain();
    let svid = inter
        .issue(&service_id(&td, "api").unwrap(), &[9; 32], 3, Validity::starting(NOW, 10 * 86_400))
        .unwrap();
    assert_eq!(svid.validity.not_after, inter.validity().not_after);
    let empty = Validity { not_before: NOW, not_after: NOW };
    assert!(matches!(
        inter.issue(&service_id(&td, "x").unwrap(), &[9; 32], 4, empty),
        Err(IssueError::BadValidity { .. })
    ));
}

#[test]
fn the_root_and_intermediate_name_the_trust_domain_and_garbage_never_panics() {
    let (root, inter, _) = chain();
    assert_eq!(san::uri_sans(root.der()).unwrap(), ["spiffe://mesh.test"]);
    assert_eq!(san::uri_sans(inter.der()).unwrap(), ["spiffe://mesh.test"]);
    let leaf = {
        let (_, inter, td) = chain();
        inter
            .issue(&service_id(&td, "a").unwrap(), &[3; 32], 5, Validity::starting(NOW, 60))
            .unwrap()
    };
    let der = &leaf.chain[0];
    for cut in 0..der.len() {
        let _ = san::uri_sans(&der[..cut]);
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..2000 {
        let mut bytes = der.clone();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let i = (seed as usize) % bytes.len();
        bytes[i] = (seed >> 32) as u8;
        let _ = san::spiffe_id(&bytes);
    }
    assert_eq!(san::spiffe_id(b"\x30\x00"), Err(san::SanError::Malformed));
}

#[test]
fn the_schedule_renews_at_half_life_and_never_renews_a_revoked_identity() {
    let td = TrustDomain::parse("mesh.test").unwrap();
    let (a, b) = (service_id(&td, "a").unwrap(), service_id(&td, "b").unwrap());
    let mut s = Schedule::new(RotationPolicy { ttl_secs: 100, renew_permille: 500 });
    s.handle_issued(&a, Validity { not_before: 1000, not_after: 1100 });
    s.handle_issued(&b, Validity { not_before: 1020, not_after: 1120 });
    assert_eq!(s.poll_timeout(), Some(1050));
    assert!(s.poll_due(1049).is_empty());
    assert_eq!(s.poll_due(1050), std::slice::from_ref(&a));
    assert_eq!(s.poll_timeout(), Some(1070));
    assert!(s.revoke(&b));
    assert!(!s.revoke(&b));
    assert_eq!(s.poll_timeout(), None);
    s.handle_issued(&b, Validity { not_before: 1100, not_after: 1200 });
    assert!(s.poll_due(10_000).is_empty());
    assert!(s.is_revoked(&b) && !s.is_revoked(&a));
}

#[test]
fn a_host_certificate_chains_to_the_root_and_names_its_dns_name() {
    let (root, _, _) = chain();
    let host =
        root.issue_host("gw.example.org", &[21; 32], 5, Validity::starting(NOW, 600)).unwrap();
    let anchor_der = CertificateDer::from(root.der().to_vec());
    let anchors = [anchor_from_trusted_cert(&anchor_der).unwrap()];
    let leaf = CertificateDer::from(host.cert.clone());
    let ee = EndEntityCert::try_from(&leaf).unwrap();
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(NOW));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &[],
        at,
        KeyUsage::server_auth(),
        None,
        None,
    )
    .unwrap();
    let name = rustls_pki_types::ServerName::try_from("gw.example.org").unwrap();
    ee.verify_is_valid_for_subject_name(&name).unwrap();
    let other = rustls_pki_types::ServerName::try_from("other.example.org").unwrap();
    assert!(ee.verify_is_valid_for_subject_name(&other).is_err());
    assert_eq!(san::dns_sans(&host.cert).unwrap(), ["gw.example.org"]);
    assert!(san::uri_sans(&host.cert).unwrap().is_empty(), "not a workload identity");
    assert_eq!(host.key_pkcs8, ed25519_pkcs8(&[21; 32]));
}

#[test]
fn a_host_name_that_is_not_a_dns_name_is_refused() {
    let (root, _, _) = chain();
    for bad in ["", "gw example", "-gw.org", "gw..org", "gw_1.org", &"a".repeat(64)] {
        let e = root.issue_host(bad, &[21; 32], 5, Validity::starting(NOW, 600));
        assert!(matches!(e, Err(IssueError::BadName(_))), "{bad:?}");
    }
    assert!(dns_name_ok("site-a.mesh.test") && dns_name_ok("gw1"));
}
