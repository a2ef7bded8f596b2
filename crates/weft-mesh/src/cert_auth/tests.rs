use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use weft_types::{PublicKey, SiteId};

use super::*;
use crate::identity::{CertBody, Label, MeshCa, PrefixList};
use crate::membership::{MemberInfo, Membership, MembershipConfig};

const NOW: u64 = 1_800_000_000;

fn site(i: u8) -> SiteId {
    SiteId::new(&format!("s{i}")).unwrap()
}

fn key(i: u8) -> SiteKey {
    SiteKey::from_seed(&[i; 32])
}

fn cert(ca: &MeshCa, i: u8, serial: u64) -> SiteCert {
    ca.issue_cert(CertBody {
        serial,
        site: site(i),
        role: Label::new("site").unwrap(),
        region: Label::new("").unwrap(),
        prefixes: PrefixList::new(Vec::new()).unwrap(),
        site_key: key(i).public(),
        wg_key: PublicKey([i; 32]),
        not_before: NOW - 10,
        not_after: NOW + 3600,
        learn_ranges: crate::identity::LearnRanges::default(),
    })
}

fn auth(ca: &MeshCa, i: u8, peers: &[u8]) -> CertAuthenticator {
    let mut a = CertAuthenticator::new(key(i), ca.public());
    for p in peers {
        a.admit(&cert(ca, *p, u64::from(*p)), NOW).unwrap();
    }
    a
}

#[test]
fn a_tag_made_by_an_admitted_site_opens_and_any_change_breaks_it() {
    let ca = MeshCa::from_seed(&[9; 32]);
    let (a, b) = (auth(&ca, 1, &[2]), auth(&ca, 2, &[1]));
    let tag = b.seal(b"envelope");
    assert_eq!(a.open(&site(2), b"envelope", &tag), Ok(()));
    assert_eq!(a.open(&site(2), b"envelopf", &tag), Err(AuthError::BadTag(site(2))));
    assert_eq!(a.open(&site(2), b"envelope", &tag[..63]), Err(AuthError::BadTag(site(2))));
    assert_eq!(a.open(&site(3), b"envelope", &tag), Err(AuthError::UnknownSender(site(3))));
    // Site 3 signing with site 2's name is refused: the key is site 2's certified one.
    let forged = key(3).sign(b"envelope");
    assert_eq!(a.open(&site(2), b"envelope", &forged), Err(AuthError::BadTag(site(2))));
}

#[test]
fn certificates_of_another_ca_or_past_their_validity_are_not_admitted() {
    let ca = MeshCa::from_seed(&[9; 32]);
    let other = MeshCa::from_seed(&[8; 32]);
    let mut a = CertAuthenticator::new(key(1), ca.public());
    assert!(matches!(a.admit(&cert(&other, 2, 2), NOW), Err(CertError::WrongCa { .. })));
    assert!(matches!(a.admit(&cert(&ca, 2, 2), NOW + 3600), Err(CertError::Expired { .. })));
    assert!(!a.is_admitted(&site(2)));
    a.admit(&cert(&ca, 2, 2), NOW).unwrap();
    assert_eq!(a.expire(NOW + 3599), 0);
    assert_eq!(a.expire(NOW + 3600), 1, "forgotten when it expires");
    assert!(!a.is_admitted(&site(2)));
}

#[test]
fn a_newer_serial_replaces_an_older_one_and_not_the_other_way() {
    let ca = MeshCa::from_seed(&[9; 32]);
    let mut a = auth(&ca, 1, &[]);
    a.admit(&cert(&ca, 2, 5), NOW).unwrap();
    a.admit(&cert(&ca, 2, 4), NOW).unwrap();
    assert_eq!(a.peers[&site(2)].serial, 5);
    a.admit(&cert(&ca, 2, 6), NOW).unwrap();
    assert_eq!(a.peers[&site(2)].serial, 6);
}

#[test]
fn a_revoked_site_is_forgotten_refused_as_revoked_and_cannot_be_admitted_again() {
    let ca = MeshCa::from_seed(&[9; 32]);
    let mut a = auth(&ca, 1, &[2, 3]);
    let tag = key(2).sign(b"x");
    let mut list = RevocationList::default();
    list.revoke_site(site(2)).unwrap();
    assert!(a.update_revocations(&ca.sign_revocations(&list)).unwrap());
    assert!(!a.update_revocations(&ca.sign_revocations(&list)).unwrap(), "same version: no change");
    assert_eq!(a.open(&site(2), b"x", &tag), Err(AuthError::Revoked(site(2))));
    assert!(matches!(a.admit(&cert(&ca, 2, 7), NOW), Err(CertError::Revoked { .. })));
    assert!(a.is_admitted(&site(3)), "others stay");
    // A list signed by another CA changes nothing.
    let other = MeshCa::from_seed(&[8; 32]);
    let mut all = RevocationList::default();
    all.revoke_site(site(3)).unwrap();
    all.revoke_site(site(4)).unwrap();
    assert!(a.update_revocations(&other.sign_revocations(&all)).is_err());
    assert!(a.is_admitted(&site(3)));
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 7946)
}

fn member(ca: &MeshCa, i: u8, peers: &[u8]) -> Membership<CertAuthenticator> {
    let info = MemberInfo::new(site(i), addr(i), PublicKey([i; 32]));
    let config = MembershipConfig {
        expected_members: std::num::NonZeroU32::new(4).unwrap(),
        ..MembershipConfig::lan()
    };
    Membership::new(info, config, auth(ca, i, peers), u64::from(i)).unwrap()
}

/// Delivers every datagram at once (index = last address byte - 1), for `d`.
fn run(nodes: &mut [Membership<CertAuthenticator>], start: std::time::Instant, d: Duration) {
    let mut now = start;
    while now < start + d {
        now += Duration::from_millis(5);
        let mut out = Vec::new();
        for (i, n) in nodes.iter_mut().enumerate() {
            if n.poll_timeout().is_some_and(|t| t <= now) {
                n.handle_timeout(now);
            }
            while let Some(t) = n.poll_transmit() {
                out.push((i, t));
            }
        }
        for (from, t) in out {
            let IpAddr::V4(v4) = t.to.ip() else { continue };
            let to = usize::from(v4.octets()[3]) - 1;
            if let Some(n) = nodes.get_mut(to) {
                let _ = n.handle_datagram(now, addr(from as u8 + 1), &t.bytes);
            }
        }
    }
}

#[test]
fn members_signing_with_certified_keys_form_a_mesh_and_an_outsider_cannot_join() {
    let ca = MeshCa::from_seed(&[9; 32]);
    let other = MeshCa::from_seed(&[8; 32]);
    let start = weft_types::virtual_origin();
    // Site 3 holds a certificate of another CA only: 1 and 2 cannot admit it.
    let mut nodes = vec![member(&ca, 1, &[2]), member(&ca, 2, &[1]), member(&other, 3, &[1, 2])];
    let mut probe = CertAuthenticator::new(key(1), ca.public());
    assert!(probe.admit(&cert(&other, 3, 3), NOW).is_err());
    for n in &mut nodes[1..] {
        n.join(start, addr(1)).unwrap();
    }
    run(&mut nodes, start, Duration::from_secs(3));
    let sees = |n: &Membership<CertAuthenticator>, j: u8| n.members().any(|m| m.site == site(j));
    assert!(sees(&nodes[0], 2) && sees(&nodes[1], 1), "the enrolled pair meet");
    assert!(
        !sees(&nodes[0], 3) && !sees(&nodes[1], 3),
        "the outsider is never a member: {:?} / {:?}",
        nodes[0].members().map(|m| m.site.clone()).collect::<Vec<_>>(),
        nodes[1].members().map(|m| m.site.clone()).collect::<Vec<_>>(),
    );
    let rejected = nodes[0].counters().rejected_unauthenticated;
    assert!(rejected > 0, "the outsider's datagrams are rejected and counted");
}

#[test]
fn an_announcement_signed_by_an_unadmitted_site_is_refused() {
    let ca = MeshCa::from_seed(&[9; 32]);
    let other = MeshCa::from_seed(&[8; 32]);
    let start = weft_types::virtual_origin();
    let mut a = member(&ca, 1, &[2]);
    let mut outsider = member(&other, 3, &[1]);
    outsider.join(start, addr(1)).unwrap();
    let t = outsider.poll_transmit().expect("an announcement");
    let r = a.handle_datagram(start, addr(3), &t.bytes);
    assert!(r.is_err(), "{r:?}");
}
