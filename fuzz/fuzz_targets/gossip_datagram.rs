//! Gossip datagrams on a member: the fuzz bytes arrive both raw (as from an
//! attacker: must be rejected and counted) and as the payload of a correctly
//! authenticated envelope from an enrolled peer (so foca's decoder and the
//! membership behind it see arbitrary content). Nothing may panic, and the
//! member must still answer timers afterwards.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use weft_mesh::membership::testing::TestMesh;
use weft_mesh::membership::{Authenticator, MemberInfo, Membership, MembershipConfig};
use weft_types::{PublicKey, SiteId};

fn site(s: &str) -> SiteId {
    SiteId::new(s).unwrap()
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 7946)
}

/// The envelope framing of `weft_mesh::membership` (version 1).
fn envelope(auth: &impl Authenticator, sender: &str, counter: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![1, sender.len() as u8];
    out.extend_from_slice(sender.as_bytes());
    out.extend_from_slice(&counter.to_be_bytes());
    out.extend_from_slice(&(payload.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(&payload[..payload.len().min(u16::MAX as usize)]);
    let tag = auth.seal(&out);
    out.extend_from_slice(&tag);
    out
}

fuzz_target!(|data: &[u8]| {
    static START: OnceLock<Instant> = OnceLock::new();
    let now = *START.get_or_init(Instant::now);
    let mesh = TestMesh::new(7, [site("a"), site("b")]);
    let mut m = Membership::new(
        MemberInfo::new(site("a"), addr(1), PublicKey([1; 32])),
        MembershipConfig::lan(),
        mesh.authenticator(&site("a")),
        1,
    )
    .unwrap();
    let _ = m.handle_datagram(now, addr(2), data);
    let b = mesh.authenticator(&site("b"));
    let _ = m.handle_datagram(now, addr(2), &envelope(&b, "b", 1, data));
    m.handle_timeout(now + Duration::from_secs(1));
    while m.poll_transmit().is_some() {}
    while m.poll_event().is_some() {}
});
