use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn config() -> LimiterConfig {
    LimiterConfig {
        per_source_rate: 2,
        per_source_burst: 4,
        global_rate: 100,
        global_burst: 10,
        cookie_reply_rate: 3,
        max_sources: 8,
    }
}

#[test]
fn one_source_over_its_burst_is_dropped_before_any_crypto() {
    let t0 = Instant::now();
    let mut l = HandshakeLimiter::new(t0, config());
    let verdicts: Vec<_> = (0..6).map(|_| l.handle_initiation(t0, ip(1), false)).collect();
    assert_eq!(&verdicts[..4], &[InitVerdict::Accept; 4]);
    assert_eq!(&verdicts[4..], &[InitVerdict::DropSource; 2]);
    // Another source is not affected.
    assert_eq!(l.handle_initiation(t0, ip(2), false), InitVerdict::Accept);
    // Half a second at 2/s gives the first source one more.
    let later = t0 + Duration::from_millis(500);
    assert_eq!(l.handle_initiation(later, ip(1), false), InitVerdict::Accept);
    assert_eq!(l.handle_initiation(later, ip(1), false), InitVerdict::DropSource);
}

#[test]
fn many_sources_over_the_global_rate_put_the_site_under_load() {
    let t0 = Instant::now();
    let mut l = HandshakeLimiter::new(t0, config());
    let verdicts: Vec<_> = (0..20).map(|n| l.handle_initiation(t0, ip(n), false)).collect();
    assert_eq!(verdicts.iter().filter(|v| **v == InitVerdict::Accept).count(), 10);
    let replies =
        verdicts.iter().filter(|v| matches!(v, InitVerdict::UnderLoad { may_reply: true })).count();
    let silent = verdicts
        .iter()
        .filter(|v| matches!(v, InitVerdict::UnderLoad { may_reply: false }))
        .count();
    assert_eq!((replies, silent), (3, 7), "cookie replies are limited too");
    assert!(l.under_load());
    // A quiet second later the site is no longer under load.
    assert_eq!(
        l.handle_initiation(t0 + Duration::from_secs(1), ip(99), false),
        InitVerdict::Accept
    );
    assert!(!l.under_load());
}

#[test]
fn the_source_table_stays_bounded_and_keeps_recent_sources() {
    let t0 = Instant::now();
    let mut l = HandshakeLimiter::new(t0, config());
    for _ in 0..4 {
        let _ = l.handle_initiation(t0, ip(1), false);
    }
    assert_eq!(l.handle_initiation(t0, ip(1), false), InitVerdict::DropSource);
    for n in 100..1100 {
        l.note_junk(t0, ip(n));
        assert!(l.sources() <= 8, "{} sources remembered", l.sources());
    }
    // ip(1) was rotated out long ago: it starts afresh.
    assert_eq!(l.handle_initiation(t0, ip(1), false), InitVerdict::Accept);
    // A source seen in the previous generation keeps its (empty) bucket.
    for _ in 0..3 {
        let _ = l.handle_initiation(t0, ip(1), false);
    }
    l.note_junk(t0, ip(5000));
    l.note_junk(t0, ip(5001));
    l.note_junk(t0, ip(5002));
    assert_eq!(l.handle_initiation(t0, ip(1), false), InitVerdict::DropSource);
}

#[test]
fn take_top_names_the_heaviest_sources_and_starts_a_new_window() {
    let t0 = Instant::now();
    let mut l = HandshakeLimiter::new(t0, LimiterConfig { max_sources: 100, ..config() });
    for (n, hits) in [(1, 5), (2, 50), (3, 1), (4, 20)] {
        for _ in 0..hits {
            l.note_junk(t0, ip(n));
        }
    }
    assert_eq!(l.take_top(2, 2), vec![(ip(2), 50), (ip(4), 20)]);
    assert_eq!(l.take_top(10, 1), vec![], "the window restarted");
    l.note_junk(t0, ip(3));
    assert_eq!(l.take_top(10, 1), vec![(ip(3), 1)]);
}

#[test]
fn a_known_peer_address_is_not_held_up_by_a_flood_from_others_but_keeps_its_own_limit() {
    let t0 = Instant::now();
    let mut l = HandshakeLimiter::new(t0, config());
    for n in 100..200 {
        let _ = l.handle_initiation(t0, ip(n), false);
    }
    assert!(l.under_load());
    let peer = ip(7);
    assert!(matches!(l.handle_initiation(t0, peer, false), InitVerdict::UnderLoad { .. }));
    let verdicts: Vec<_> = (0..5).map(|_| l.handle_initiation(t0, peer, true)).collect();
    assert_eq!(&verdicts[..3], &[InitVerdict::Accept; 3], "one token went on the first try");
    assert_eq!(&verdicts[3..], &[InitVerdict::DropSource; 2]);
}
