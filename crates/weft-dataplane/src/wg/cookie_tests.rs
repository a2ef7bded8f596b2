//! The cookie guard against a real boringtun initiator.

use std::net::{IpAddr, Ipv4Addr};

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use weft_types::PrivateKey;

use super::*;

fn key(seed: u8) -> PrivateKey {
    let mut k = [seed; 32];
    k[0] &= 0xf8;
    k[31] = (k[31] & 0x7f) | 0x40;
    PrivateKey(k)
}

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8));

/// An initiator (site `a`) talking to the responder `b`.
fn initiator(a: &PrivateKey, b: &PrivateKey) -> Tunn {
    let b_public = x25519::PublicKey::from(public_key(b).0);
    Tunn::new(x25519::StaticSecret::from(a.0), b_public, None, None, 1, None)
}

fn initiation(t: &mut Tunn, force: bool) -> Vec<u8> {
    let mut buf = [0u8; 256];
    match t.format_handshake_initiation(&mut buf, force) {
        TunnResult::WriteToNetwork(b) => b.to_vec(),
        other => panic!("no initiation: {other:?}"),
    }
}

#[test]
fn under_load_an_initiation_without_cookie_gets_a_reply_and_its_retry_passes() {
    let (a, b) = (key(1), key(2));
    let guard = CookieGuard::new(&b);
    let mut t = initiator(&a, &b);
    let first = initiation(&mut t, false);
    assert!(guard.mac1_valid(&first));
    let mut out = [0u8; 128];
    let CookieCheck::Reply(reply) = guard.check(SRC, &first, &mut out) else {
        panic!("no cookie reply for an initiation without MAC2");
    };
    assert_eq!(reply.len(), COOKIE_REPLY_LEN);
    assert!(matches!(classify(reply), DatagramKind::CookieReply { .. }));
    // The initiator takes the cookie in and puts MAC2 in its next initiation.
    let reply = reply.to_vec();
    let mut sink = [0u8; 256];
    assert!(matches!(t.decapsulate(Some(SRC), &reply, &mut sink), TunnResult::Done));
    let retry = initiation(&mut t, true);
    assert_eq!(guard.check(SRC, &retry, &mut out), CookieCheck::Valid);
    // The cookie is bound to the source address: from elsewhere it is not valid.
    assert!(matches!(guard.check(OTHER, &retry, &mut out), CookieCheck::Reply(_)));
    assert_eq!(guard.initiator(&retry), Some(public_key(&a)));
}

#[test]
fn junk_and_initiations_for_another_site_fail_mac1_without_a_reply() {
    let (a, b, c) = (key(1), key(2), key(3));
    let guard = CookieGuard::new(&b);
    let mut out = [0u8; 128];
    // Addressed to c: MAC1 is keyed by c's public key.
    let for_c = initiation(&mut initiator(&a, &c), false);
    assert!(!guard.mac1_valid(&for_c));
    assert_eq!(guard.check(SRC, &for_c, &mut out), CookieCheck::BadMac1);
    assert_eq!(guard.initiator(&for_c), None);
    let mut junk = for_c.clone();
    junk[0] = 9;
    assert_eq!(guard.check(SRC, &junk, &mut out), CookieCheck::BadMac1);
    assert_eq!(guard.check(SRC, &[1, 0, 0, 0], &mut out), CookieCheck::BadMac1);
    assert_eq!(guard.check(SRC, &[], &mut out), CookieCheck::BadMac1);
    // A flipped bit in the covered bytes breaks MAC1 too.
    let mut flipped = initiation(&mut initiator(&a, &b), false);
    flipped[40] ^= 1;
    assert!(!guard.mac1_valid(&flipped));
    assert_eq!(guard.check(SRC, &flipped, &mut out), CookieCheck::BadMac1);
}

#[test]
fn the_guard_finds_the_same_initiator_as_the_one_shot_lookup() {
    let (a, b) = (key(1), key(2));
    let guard = CookieGuard::new(&b);
    let init = initiation(&mut initiator(&a, &b), false);
    assert_eq!(guard.initiator(&init), initiator_public_key(&b, &init));
    assert_eq!(guard.initiator(&init), Some(public_key(&a)));
}

#[test]
fn a_forged_initiation_sealed_with_our_mac1_passes_mac1_and_nothing_more() {
    let b = key(2);
    let guard = CookieGuard::new(&b);
    let mut forged = [0x5au8; HANDSHAKE_INIT_LEN];
    forged[..4].copy_from_slice(&[1, 0, 0, 0]);
    assert!(!guard.mac1_valid(&forged));
    assert!(seal_mac1(&public_key(&b), &mut forged));
    assert!(guard.mac1_valid(&forged));
    assert_eq!(guard.initiator(&forged), None, "random contents decrypt to no peer");
    assert!(!seal_mac1(&public_key(&b), &mut [0u8; 64]));
}
