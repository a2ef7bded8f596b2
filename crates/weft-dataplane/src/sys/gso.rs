//! The arithmetic of UDP segmentation offload, kept apart from the system
//! calls so it can be tested on its own (pure: no I/O).
//!
//! - Sending ([`gso_runs`]): consecutive datagrams to the same destination,
//!   all of one size except a shorter last one, go to the kernel as one
//!   `sendmsg` with a `UDP_SEGMENT` control message; the kernel (or the
//!   NIC) cuts them apart again. A run is what one such message carries.
//! - Receiving ([`segments`]): with `UDP_GRO` the kernel hands over several
//!   datagrams of one flow back to back in one buffer, with their size;
//!   every one is that long except possibly the last.

use std::net::SocketAddr;

/// Most datagrams the kernel accepts in one `UDP_SEGMENT` send
/// (`UDP_MAX_SEGMENTS`).
pub(crate) const MAX_SEGMENTS: usize = 64;

/// Most payload bytes one `UDP_SEGMENT` send may carry: an IP packet is at
/// most 65 535 bytes, less the IPv6 and UDP headers, rounded down.
pub(crate) const MAX_GSO_BYTES: usize = 65_000;

/// Splits datagrams (their destinations and lengths, in order) into runs
/// that one `UDP_SEGMENT` send can carry: yields `(first, count)` pairs
/// covering every datagram once, in order. A run has one destination, at
/// most [`MAX_SEGMENTS`] datagrams and [`MAX_GSO_BYTES`] bytes, and every
/// datagram but the last has the first one's length; the last may be
/// shorter. Empty datagrams always travel alone. `max_segments` (at most
/// [`MAX_SEGMENTS`]) of 1 makes every datagram a run of its own (no GSO).
pub(crate) fn gso_runs<'a>(
    datagrams: impl Iterator<Item = (SocketAddr, usize)> + 'a,
    max_segments: usize,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    let max_segments = max_segments.clamp(1, MAX_SEGMENTS);
    let mut datagrams = datagrams.enumerate().peekable();
    std::iter::from_fn(move || {
        let (first, (dest, size)) = datagrams.next()?;
        let mut count = 1;
        let mut bytes = size;
        while size > 0 && count < max_segments {
            match datagrams.peek() {
                Some(&(_, (d, len)))
                    if d == dest && len > 0 && len <= size && bytes + len <= MAX_GSO_BYTES =>
                {
                    datagrams.next();
                    count += 1;
                    bytes += len;
                    if len < size {
                        break;
                    }
                }
                _ => break,
            }
        }
        Some((first, count))
    })
}

/// The datagrams of a buffer received with `UDP_GRO` segment size
/// `segment` (0: the buffer is one datagram).
pub(crate) fn segments(buf: &[u8], segment: usize) -> impl Iterator<Item = &[u8]> + '_ {
    let size = if segment == 0 { buf.len().max(1) } else { segment };
    let empty = buf.is_empty();
    buf.chunks(size).chain(empty.then_some(&buf[..0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    fn runs(d: &[(u16, usize)]) -> Vec<(usize, usize)> {
        gso_runs(d.iter().map(|&(p, l)| (a(p), l)), MAX_SEGMENTS).collect()
    }

    #[test]
    fn same_size_datagrams_to_one_destination_form_one_run() {
        assert_eq!(runs(&[(1, 100), (1, 100), (1, 100)]), [(0, 3)]);
    }

    #[test]
    fn a_shorter_datagram_ends_a_run_and_a_longer_one_starts_another() {
        assert_eq!(
            runs(&[(1, 100), (1, 60), (1, 100), (1, 100), (1, 120)]),
            [(0, 2), (2, 2), (4, 1)]
        );
    }

    #[test]
    fn another_destination_starts_another_run() {
        assert_eq!(runs(&[(1, 100), (2, 100), (2, 100), (1, 100)]), [(0, 1), (1, 2), (3, 1)]);
    }

    #[test]
    fn runs_are_capped_in_segments_and_bytes() {
        let many: Vec<_> = (0..130).map(|_| (1, 10)).collect();
        assert_eq!(runs(&many), [(0, 64), (64, 64), (128, 2)]);
        let big: Vec<_> = (0..50).map(|_| (1, 1500)).collect();
        assert_eq!(runs(&big), [(0, 43), (43, 7)]);
    }

    #[test]
    fn without_gso_every_datagram_is_a_run() {
        let d = [(1, 100), (1, 100)].map(|(p, l)| (a(p), l));
        assert_eq!(gso_runs(d.into_iter(), 1).collect::<Vec<_>>(), [(0, 1), (1, 1)]);
    }

    #[test]
    fn empty_datagrams_travel_alone() {
        assert_eq!(runs(&[(1, 0), (1, 0), (1, 5), (1, 0)]), [(0, 1), (1, 1), (2, 1), (3, 1)]);
    }

    #[test]
    fn a_gro_buffer_splits_into_its_segments_with_a_short_last_one() {
        let buf: Vec<u8> = (0..10).collect();
        let got: Vec<&[u8]> = segments(&buf, 4).collect();
        assert_eq!(got, [&[0, 1, 2, 3][..], &[4, 5, 6, 7], &[8, 9]]);
        assert_eq!(segments(&buf, 0).collect::<Vec<_>>(), [&buf[..]]);
        assert_eq!(segments(&buf, 10).count(), 1);
        let empty: &[u8] = &[];
        assert_eq!(segments(empty, 0).collect::<Vec<&[u8]>>(), [empty]);
    }

    proptest! {
        #[test]
        fn runs_cover_every_datagram_once_and_obey_the_kernel_rules(
            d in proptest::collection::vec((0u16..3, 0usize..1600), 0..200)
        ) {
            let got = runs(&d);
            let mut next = 0;
            for (first, count) in got {
                prop_assert_eq!(first, next);
                prop_assert!((1..=MAX_SEGMENTS).contains(&count));
                let run = &d[first..first + count];
                let size = run[0].1;
                prop_assert!(run.iter().all(|x| x.0 == run[0].0));
                prop_assert!(run[..count - 1].iter().all(|x| x.1 == size));
                prop_assert!(run[count - 1].1 <= size);
                prop_assert!(count == 1 || run.iter().map(|x| x.1).sum::<usize>() <= MAX_GSO_BYTES);
                next = first + count;
            }
            prop_assert_eq!(next, d.len());
        }

        #[test]
        fn gro_segments_put_back_together_give_the_buffer(
            buf in proptest::collection::vec(any::<u8>(), 1..5000), seg in 1usize..2000
        ) {
            let parts: Vec<&[u8]> = segments(&buf, seg).collect();
            prop_assert!(parts[..parts.len() - 1].iter().all(|p| p.len() == seg));
            prop_assert_eq!(parts.concat(), buf);
        }
    }
}
