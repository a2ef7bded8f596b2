//! The shield against real WireGuard initiations (from a `WgSession`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use weft_dataplane::wg::{DatagramKind, WgResult, WgSession, classify, public_key};
use weft_types::PrivateKey;

use super::*;

fn key(seed: u8) -> PrivateKey {
    let mut k = [seed; 32];
    k[0] &= 0xf8;
    k[31] = (k[31] & 0x7f) | 0x40;
    PrivateKey(k)
}

/// A handshake initiation from `from` to `to`.
fn initiation(from: &PrivateKey, to: &PrivateKey) -> Vec<u8> {
    let mut s = WgSession::new(from, &public_key(to), None, None, 1);
    let mut out = [0u8; 256];
    let packet = [0x45u8; 40];
    match s.encapsulate(&packet, &mut out) {
        WgResult::ToNetwork(b) => b.to_vec(),
        other => panic!("no initiation: {other:?}"),
    }
}

fn src(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xc633_6400 + n))
}

fn shield(now: Instant) -> FloodShield {
    let config = FloodConfig {
        handshakes_per_source: 2,
        source_burst: 2,
        handshakes: 5,
        burst: 5,
        cookie_replies: 3,
        ..FloodConfig::default()
    };
    FloodShield::new(now, config, &key(2), &["wan0".to_owned()])
}

#[test]
fn a_spoofed_flood_of_valid_initiations_reaches_the_crypto_only_within_the_global_rate() {
    let t0 = Instant::now();
    let s = shield(t0);
    let init = initiation(&key(1), &key(2));
    let mut out = [0u8; 128];
    let mut proceeded = 0;
    let mut replies = 0;
    for n in 0..50 {
        match s.on_initiation(t0, (0, src(n)), &init, &mut out) {
            InitOutcome::Proceed(who) => {
                assert_eq!(who, Some(public_key(&key(1))));
                proceeded += 1;
            }
            InitOutcome::Reply(r) => {
                assert!(matches!(classify(r), DatagramKind::CookieReply { .. }));
                replies += 1;
            }
            InitOutcome::Drop => {}
        }
    }
    assert_eq!((proceeded, replies), (5, 3));
    assert!(s.under_load());
    let dropped: Vec<_> = s.dropped();
    assert_eq!(dropped[3], ("cookie_required", 45));
    assert_eq!(s.inits.load(Relaxed), 50);
    // A second later the budget is back.
    let later = t0 + Duration::from_secs(1);
    assert!(matches!(
        s.on_initiation(later, (0, src(99)), &init, &mut out),
        InitOutcome::Proceed(_)
    ));
}

#[test]
fn one_loud_source_is_cut_off_by_its_own_limit_and_junk_is_counted() {
    let t0 = Instant::now();
    let s = shield(t0);
    let init = initiation(&key(1), &key(2));
    let mut out = [0u8; 128];
    let outcomes: Vec<_> = (0..4)
        .map(|_| s.on_initiation(t0, (0, src(1)), &init, &mut out) == InitOutcome::Drop)
        .collect();
    assert_eq!(outcomes, [false, false, true, true]);
    // An initiation for another site fails MAC1: no X25519, no reply.
    let other = initiation(&key(1), &key(3));
    assert_eq!(s.on_initiation(t0, (0, src(2)), &other, &mut out), InitOutcome::Drop);
    s.on_junk(t0, 0, src(3), 10);
    s.on_junk(t0, 0, src(3), 10);
    let d = s.dropped();
    assert_eq!(d, [("junk", 2), ("bad_mac1", 1), ("rate_source", 2), ("cookie_required", 0)]);
    assert!(!s.under_load());
    assert_eq!(s.take_top(1, 1), [(src(1), 4)]);
    // Everything here was unauthenticated: 4 + 1 initiations of 148 bytes, 2 junk of 10.
    assert_eq!(s.totals(), [(0, 0), (7, 5 * 148 + 20)]);
}

#[test]
fn a_peer_address_rekeys_through_a_flood_without_a_cookie() {
    let t0 = Instant::now();
    let s = shield(t0);
    let init = initiation(&key(1), &key(2));
    let mut out = [0u8; 128];
    for n in 0..50 {
        let _ = s.on_initiation(t0, (0, src(n)), &init, &mut out);
    }
    assert!(s.under_load());
    let peer = src(1000);
    assert!(!matches!(s.on_initiation(t0, (0, peer), &init, &mut out), InitOutcome::Proceed(_)));
    s.known.write().unwrap().insert(peer);
    let later = t0 + Duration::from_millis(500);
    assert_eq!(
        s.on_initiation(later, (0, peer), &init, &mut out),
        InitOutcome::Proceed(Some(public_key(&key(1))))
    );
}
