//! In-memory tests of two WireGuard sessions talking to each other.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use weft_types::PrivateKey;

use super::*;

const BUF: usize = 2048;

fn key(seed: u8) -> PrivateKey {
    let mut k = [seed; 32];
    k[0] &= 0xf8;
    k[31] = (k[31] & 0x7f) | 0x40;
    PrivateKey(k)
}

fn sessions(keepalive: Option<u16>) -> (WgSession, WgSession) {
    let (a, b) = (key(1), key(2));
    (
        WgSession::new(&a, &public_key(&b), None, keepalive, 10),
        WgSession::new(&b, &public_key(&a), None, keepalive, 20),
    )
}

fn ipv4(src: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&[10, 0, 0, 9]);
    p.extend_from_slice(payload);
    p
}

fn ipv6(src: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
    p.extend_from_slice(payload);
    p
}

/// What one received datagram produced.
#[derive(Debug, Default)]
struct Outcome {
    to_network: Vec<Vec<u8>>,
    to_tunnel: Vec<(Vec<u8>, IpAddr)>,
    error: Option<WgError>,
}

/// Delivers `datagram` to `to`, flushing queued packets as the docs say.
fn deliver(to: &mut WgSession, datagram: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    let mut buf = vec![0u8; BUF];
    match to.decapsulate(None, datagram, &mut buf) {
        WgResult::ToNetwork(b) => {
            out.to_network.push(b.to_vec());
            while let WgResult::ToNetwork(b) = to.flush(&mut buf) {
                out.to_network.push(b.to_vec());
            }
        }
        WgResult::ToTunnel(p, src) => out.to_tunnel.push((p.to_vec(), src)),
        WgResult::Done => {}
        WgResult::Error(e) => out.error = Some(e),
    }
    out
}

fn send(from: &mut WgSession, packet: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; BUF];
    match from.encapsulate(packet, &mut buf) {
        WgResult::ToNetwork(b) => b.to_vec(),
        other => panic!("expected a datagram, got {other:?}"),
    }
}

/// Runs the handshake started by A's first packet; returns the datagram that
/// carried that packet once the session existed.
fn handshake(a: &mut WgSession, b: &mut WgSession, first: &[u8]) -> Vec<u8> {
    let init = send(a, first);
    assert!(matches!(classify(&init), DatagramKind::HandshakeInit { .. }));
    let response = deliver(b, &init).to_network;
    assert_eq!(response.len(), 1);
    let mut from_a = deliver(a, &response[0]).to_network;
    assert_eq!(from_a.len(), 2, "a keepalive, then the queued packet");
    assert_eq!(from_a[0].len(), DATA_OVERHEAD);
    assert!(deliver(b, &from_a[0]).to_tunnel.is_empty());
    from_a.pop().unwrap()
}

#[test]
fn two_sessions_handshake_and_carry_ipv4_and_ipv6_both_ways() {
    let (mut a, mut b) = sessions(None);
    let first = ipv4([10, 0, 0, 1], b"hello");
    let queued = handshake(&mut a, &mut b, &first);
    assert_eq!(
        deliver(&mut b, &queued).to_tunnel,
        vec![(first, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))]
    );

    let v4 = ipv4([10, 0, 0, 2], &[7u8; 1000]);
    let got = deliver(&mut a, &send(&mut b, &v4)).to_tunnel;
    assert_eq!(got, vec![(v4, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))]);

    let src6: Ipv6Addr = "fd00::1".parse().unwrap();
    let v6 = ipv6(src6, b"over six");
    assert_eq!(deliver(&mut b, &send(&mut a, &v6)).to_tunnel, vec![(v6.clone(), IpAddr::V6(src6))]);
    assert_eq!(deliver(&mut a, &send(&mut b, &v6)).to_tunnel, vec![(v6, IpAddr::V6(src6))]);
}

#[test]
fn a_tampered_data_packet_is_refused_with_an_error() {
    let (mut a, mut b) = sessions(None);
    handshake(&mut a, &mut b, &ipv4([10, 0, 0, 1], b"x"));
    let mut data = send(&mut a, &ipv4([10, 0, 0, 1], b"payload"));
    data[20] ^= 0x01;
    let got = deliver(&mut b, &data);
    assert_eq!(got.error, Some(WgError::AuthenticationFailed));
    assert!(got.to_tunnel.is_empty());
}

#[test]
fn a_replayed_data_packet_is_refused() {
    let (mut a, mut b) = sessions(None);
    handshake(&mut a, &mut b, &ipv4([10, 0, 0, 1], b"x"));
    let data = send(&mut a, &ipv4([10, 0, 0, 1], b"once"));
    assert_eq!(deliver(&mut b, &data).to_tunnel.len(), 1);
    assert_eq!(deliver(&mut b, &data).error, Some(WgError::Replayed));
}

#[test]
fn a_handshake_from_a_stranger_is_refused() {
    let (_, mut b) = sessions(None);
    let mut stranger = WgSession::new(&key(3), &public_key(&key(2)), None, None, 30);
    let init = send(&mut stranger, &ipv4([10, 0, 0, 3], b"x"));
    let got = deliver(&mut b, &init);
    assert!(got.error.is_some(), "{got:?}");
    assert!(got.to_network.is_empty());
}

#[test]
fn garbage_and_empty_datagrams_are_errors() {
    let (_, mut b) = sessions(None);
    assert_eq!(deliver(&mut b, &[]).error, Some(WgError::Malformed));
    assert_eq!(deliver(&mut b, &[4, 0, 0, 0, 1]).error, Some(WgError::Malformed));
    assert_eq!(deliver(&mut b, &[4u8; 40]).error, Some(WgError::Malformed));
}

#[test]
fn short_output_buffers_are_errors_not_panics() {
    let (mut a, mut b) = sessions(None);
    let mut small = [0u8; 100];
    assert_eq!(
        a.encapsulate(&[0u8; 80], &mut small),
        WgResult::Error(WgError::BufferTooSmall { needed: 148, got: 100 })
    );
    assert_eq!(
        b.decapsulate(None, &[0u8; 300], &mut small),
        WgResult::Error(WgError::BufferTooSmall { needed: 300, got: 100 })
    );
    assert!(matches!(a.update_timers(&mut small), WgResult::Error(WgError::BufferTooSmall { .. })));
    assert!(matches!(a.flush(&mut small), WgResult::Error(WgError::BufferTooSmall { .. })));
}

#[test]
fn stats_count_payload_bytes_and_the_handshake() {
    let (mut a, mut b) = sessions(None);
    assert_eq!(a.stats().since_last_handshake, None);
    let first = ipv4([10, 0, 0, 1], &[1u8; 80]);
    let queued = handshake(&mut a, &mut b, &first);
    deliver(&mut b, &queued);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.tx_bytes, 100);
    assert_eq!(sb.rx_bytes, 100);
    assert!(sa.since_last_handshake.is_some_and(|d| d < Duration::from_secs(5)));
    assert!(sa.handshake_rtt.is_some());
}

#[test]
fn timers_start_a_handshake_and_send_keepalives_when_due() {
    // boringtun reads the real clock: wait just past a 1 s persistent keepalive.
    let (mut idle, _) = sessions(Some(1));
    let (mut a, mut b) = sessions(Some(1));
    handshake(&mut a, &mut b, &ipv4([10, 0, 0, 1], b"x"));
    let mut buf = [0u8; BUF];
    assert_eq!(idle.update_timers(&mut buf), WgResult::Done);
    std::thread::sleep(Duration::from_millis(1100));

    let WgResult::ToNetwork(init) = idle.update_timers(&mut buf) else {
        panic!("a keepalive with no session must start a handshake");
    };
    assert!(matches!(classify(init), DatagramKind::HandshakeInit { .. }));

    let WgResult::ToNetwork(keepalive) = a.update_timers(&mut buf) else {
        panic!("an established session must send a persistent keepalive");
    };
    assert_eq!(keepalive.len(), DATA_OVERHEAD);
    let keepalive = keepalive.to_vec();
    let got = deliver(&mut b, &keepalive);
    assert!(got.error.is_none() && got.to_tunnel.is_empty());
    assert_eq!(a.persistent_keepalive(), Some(1));
}
