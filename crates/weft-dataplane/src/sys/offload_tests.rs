//! Tests of the offload arithmetic the TUN device relies on (tun-rs's
//! `gso_split` and `handle_gro`, driven the way [`TunDevice`](super::TunDevice)
//! drives them): super-packets as the kernel hands them over (virtio-net
//! header, partial checksum) split into segments whose IP and TCP/UDP
//! checksums verify, whose sequence numbers follow, whose flags sit on the
//! last segment only, and whose payloads put back together give the
//! original; and segments coalesced back into one super-packet whose
//! checksum, once the kernel completes it, verifies. IPv4 and IPv6, TCP and
//! UDP, every length up to 64 KB, the short last segment.

use proptest::prelude::*;
use tun_rs::{
    VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP_L4,
    VIRTIO_NET_HDR_LEN, VirtioNetHdr, gso_split, handle_gro,
};

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM` (`linux/virtio_net.h`): the transport
/// checksum is partial, to be completed from `csum_start`.
const NEEDS_CSUM: u8 = 1;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// One's-complement sum of `data` (big-endian 16-bit words), unfolded.
fn sum(data: &[u8]) -> u32 {
    data.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Sum of the pseudo-header of an L4 segment of `len` bytes.
fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    sum(src) + sum(dst) + u32::from(proto) + (len as u32 & 0xffff) + (len as u32 >> 16)
}

/// A packet's addresses and L4 offset.
fn layout(p: &[u8]) -> (&[u8], &[u8], usize) {
    if p[0] >> 4 == 4 { (&p[12..16], &p[16..20], 20) } else { (&p[8..24], &p[24..40], 40) }
}

/// Whether `p`'s IPv4 header checksum (if any) and L4 checksum verify.
fn checksums_verify(p: &[u8], proto: u8) -> bool {
    let (src, dst, l4) = layout(p);
    let ip_ok = l4 == 40 || fold(sum(&p[..20])) == 0xffff;
    ip_ok && fold(pseudo(src, dst, proto, p.len() - l4) + sum(&p[l4..])) == 0xffff
}

/// A super-packet as an offloading TUN device reads it: the virtio-net
/// header, then one IP packet carrying `payload` with a partial (pseudo-
/// header only) transport checksum.
fn super_packet(v6: bool, proto: u8, mss: u16, payload: &[u8], flags: u8) -> Vec<u8> {
    let l4 = if v6 { 40 } else { 20 };
    let th = if proto == TCP { 20 } else { 8 };
    let total = l4 + th + payload.len();
    let mut p = vec![0u8; total];
    if v6 {
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        p[6] = proto;
        p[7] = 64;
        p[8..24].copy_from_slice(&[0xfd, 0x77, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p[24..40].copy_from_slice(&[0xfd, 0x77, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    } else {
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 77, 1, 1]);
        p[16..20].copy_from_slice(&[10, 77, 2, 1]);
        let c = !fold(sum(&p[..20]));
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
    p[l4..l4 + 2].copy_from_slice(&40_000u16.to_be_bytes());
    p[l4 + 2..l4 + 4].copy_from_slice(&5201u16.to_be_bytes());
    let csum_offset = if proto == TCP {
        p[l4 + 4..l4 + 8].copy_from_slice(&0xfff0_0000u32.to_be_bytes()); // wraps
        p[l4 + 8..l4 + 12].copy_from_slice(&7u32.to_be_bytes());
        p[l4 + 12] = 5 << 4;
        p[l4 + 13] = ACK | flags;
        p[l4 + 14..l4 + 16].copy_from_slice(&512u16.to_be_bytes());
        16
    } else {
        p[l4 + 4..l4 + 6].copy_from_slice(&((total - l4) as u16).to_be_bytes());
        6
    };
    p[l4 + th..].copy_from_slice(payload);
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum (without the
    // length, as the kernel leaves it for GSO packets).
    let (src, dst, _) = layout(&p);
    let partial = fold(sum(src) + sum(dst) + u32::from(proto));
    p[l4 + csum_offset..l4 + csum_offset + 2].copy_from_slice(&partial.to_be_bytes());
    let gso_type = match (proto, v6) {
        (UDP, _) => VIRTIO_NET_HDR_GSO_UDP_L4,
        (_, false) => VIRTIO_NET_HDR_GSO_TCPV4,
        (_, true) => VIRTIO_NET_HDR_GSO_TCPV6,
    };
    let hdr = VirtioNetHdr {
        flags: NEEDS_CSUM,
        gso_type,
        hdr_len: (l4 + th) as u16,
        gso_size: mss,
        csum_start: l4 as u16,
        csum_offset: csum_offset as u16,
    };
    let mut out = vec![0u8; VIRTIO_NET_HDR_LEN];
    hdr.encode(&mut out).expect("header fits");
    out.extend_from_slice(&p);
    out
}

/// Splits a super-packet as `TunDevice::read_batch` does; the segments.
fn split(raw: &mut [u8], v6: bool) -> Vec<Vec<u8>> {
    let hdr = VirtioNetHdr::decode(raw).expect("header");
    let mut slots = vec![vec![0u8; 1500]; 128];
    let mut sizes = vec![0usize; 128];
    let n = gso_split(&mut raw[VIRTIO_NET_HDR_LEN..], hdr, &mut slots, &mut sizes, 0, v6)
        .expect("split");
    slots.iter().zip(&sizes).take(n).map(|(s, &len)| s[..len].to_vec()).collect()
}

/// Coalesces `packets` as `TunDevice::write_coalesced` does; each buffer to
/// write (virtio-net header and packet).
// tun-rs does not export its GRO table types: `Default::default()` names them.
#[allow(clippy::default_trait_access)]
fn coalesce(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut bufs: Vec<Vec<u8>> = packets
        .iter()
        .map(|p| {
            let mut b = Vec::with_capacity(2 * VIRTIO_NET_HDR_LEN + 65_535);
            b.resize(VIRTIO_NET_HDR_LEN, 0);
            b.extend_from_slice(p);
            b
        })
        .collect();
    let mut to_write = Vec::new();
    handle_gro(
        &mut bufs,
        VIRTIO_NET_HDR_LEN,
        &mut Default::default(),
        &mut Default::default(),
        true,
        &mut to_write,
    )
    .expect("coalesce");
    to_write.iter().map(|&i| bufs[i].clone()).collect()
}

/// What the kernel does with a written packet marked `NEEDS_CSUM`: sums from
/// `csum_start` to the end (the field holds the pseudo-header sum) and
/// stores the complement at `csum_start + csum_offset`.
fn complete_checksum(buf: &[u8]) -> Vec<u8> {
    let hdr = VirtioNetHdr::decode(buf).expect("header");
    let mut p = buf[VIRTIO_NET_HDR_LEN..].to_vec();
    if hdr.flags & NEEDS_CSUM != 0 {
        let start = usize::from(hdr.csum_start);
        let at = start + usize::from(hdr.csum_offset);
        let c = !fold(sum(&p[start..]));
        p[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// Checks every property of a split of `payload` and of its coalescing.
fn check(v6: bool, proto: u8, mss: u16, payload: &[u8], flags: u8) -> Result<(), TestCaseError> {
    let mut raw = super_packet(v6, proto, mss, payload, flags);
    let segments = split(&mut raw, v6);
    let (_, _, l4) = layout(&raw[VIRTIO_NET_HDR_LEN..]);
    let th = if proto == TCP { 20 } else { 8 };
    prop_assert_eq!(segments.len(), payload.len().div_ceil(usize::from(mss)).max(1));
    let mut joined = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        prop_assert!(
            checksums_verify(s, proto),
            "segment {i} of {} fails its checksums",
            segments.len()
        );
        let body = &s[l4 + th..];
        prop_assert!(last || body.len() == usize::from(mss), "segment {i} is short");
        if proto == TCP {
            let seq = u32::from_be_bytes(s[l4 + 4..l4 + 8].try_into().unwrap());
            prop_assert_eq!(seq, 0xfff0_0000u32.wrapping_add(joined.len() as u32));
            prop_assert_eq!(s[l4 + 13] & PSH, if last { flags & PSH } else { 0 });
        } else {
            let len = u16::from_be_bytes([s[l4 + 4], s[l4 + 5]]);
            prop_assert_eq!(usize::from(len), s.len() - l4);
        }
        if v6 {
            prop_assert_eq!(usize::from(u16::from_be_bytes([s[4], s[5]])), s.len() - 40);
        } else {
            prop_assert_eq!(usize::from(u16::from_be_bytes([s[2], s[3]])), s.len());
        }
        joined.extend_from_slice(body);
    }
    prop_assert_eq!(&joined[..], payload);

    let writes = coalesce(&segments);
    let mut rejoined = Vec::new();
    for w in &writes {
        let p = complete_checksum(w);
        prop_assert!(checksums_verify(&p, proto), "a coalesced write fails its checksums");
        rejoined.extend_from_slice(&p[l4 + th..]);
    }
    prop_assert_eq!(&rejoined[..], payload);
    if proto == TCP && segments.len() > 1 {
        prop_assert!(writes.len() < segments.len(), "TCP segments were not coalesced");
    }
    Ok(())
}

#[test]
fn a_tso_super_packet_splits_into_mss_segments_with_a_short_last_one_and_coalesces_back() {
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
    for v6 in [false, true] {
        check(v6, TCP, 1380, &payload, PSH).unwrap();
    }
}

#[test]
fn a_uso_super_packet_splits_into_datagrams_with_their_own_lengths_and_checksums() {
    let payload: Vec<u8> = (0..5_001u32).map(|i| (i * 13) as u8).collect();
    for v6 in [false, true] {
        check(v6, UDP, 1200, &payload, 0).unwrap();
    }
}

#[test]
fn a_super_packet_whose_headers_lie_is_refused_not_a_panic() {
    let mut raw = super_packet(false, TCP, 1000, &[1; 3000], 0);
    let hdr = VirtioNetHdr::decode(&raw).unwrap();
    let mut bad = hdr;
    bad.csum_offset = 3; // not where TCP's checksum is
    let mut slots = vec![vec![0u8; 1500]; 8];
    let mut sizes = vec![0usize; 8];
    let input = &mut raw[VIRTIO_NET_HDR_LEN..];
    assert!(gso_split(input, bad, &mut slots, &mut sizes, 0, false).is_err());
    // Three segments do not fit two slots.
    let mut raw = super_packet(false, TCP, 1000, &[1; 3000], 0);
    let input = &mut raw[VIRTIO_NET_HDR_LEN..];
    assert!(gso_split(input, hdr, &mut slots[..2], &mut sizes[..2], 0, false).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn splitting_and_coalescing_keep_every_byte_and_every_checksum_right(
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        mss in 536u16..1441,
        len in 1usize..60_000,
        psh in any::<bool>(),
        seed in any::<u8>(),
    ) {
        let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        let proto = if tcp { TCP } else { UDP };
        check(v6, proto, mss, &payload, if psh && tcp { PSH } else { 0 })?;
    }
}
