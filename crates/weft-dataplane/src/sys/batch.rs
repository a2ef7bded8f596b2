//! Preallocated packet batches: the memory that batched system calls fill
//! and drain.
//!
//! A batch owns `capacity` fixed-size slots in one allocation, made once; the
//! calls that fill or drain it never allocate. [`PacketBatch`] holds bare
//! packets (the TUN side), [`RecvBatch`] adds each datagram's source and
//! [`SendBatch`] each datagram's destination (the UDP side).
//!
//! Callers read datagrams through [`RecvBatch::iter`] / [`RecvBatch::get`],
//! never through raw slots, so a later receive path with UDP GRO (one slot
//! holding several coalesced datagrams) can split them without changing
//! callers.

use std::net::{Ipv4Addr, SocketAddr};

use super::gso::segments;

/// Most messages one batched system call moves (and so the most slots a batch
/// can have): bounds the per-call scratch space on the stack.
pub const MAX_BATCH: usize = 128;

/// Most packets a [`PacketBatch`] holds: two reads' worth of super-packets
/// split into segments (the TUN side), while the UDP batches stay within
/// [`MAX_BATCH`].
pub const MAX_PACKETS: usize = 2 * MAX_BATCH;

/// Default slot size: a full 1500-byte underlay packet plus headroom.
pub const DEFAULT_SLOT: usize = 2048;

/// Slot size for receiving with UDP GRO: the largest UDP payload, which a
/// coalesced message can reach.
pub const GRO_SLOT: usize = 65_535;

/// Why a packet could not be added to a batch. Neither variant changes the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// Every slot is in use: send or clear the batch first.
    #[error("batch is full ({capacity} packets)")]
    Full {
        /// The batch's capacity.
        capacity: usize,
    },
    /// The packet is longer than a slot.
    #[error("packet of {len} bytes does not fit a {slot}-byte slot")]
    TooLong {
        /// The packet's length.
        len: usize,
        /// The batch's slot size.
        slot: usize,
    },
}

/// `capacity` slots of `slot` bytes each, the first `len()` of them holding
/// packets.
#[derive(Debug, Clone)]
pub struct PacketBatch {
    data: Vec<u8>,
    lens: Vec<usize>,
    slot: usize,
    filled: usize,
    /// Where an offloading TUN read lands before it is split into the
    /// slots; allocated on first use.
    raw: Vec<u8>,
}

impl PacketBatch {
    /// A batch of `capacity` slots (clamped to `1..=MAX_PACKETS`) of `slot`
    /// bytes (at least 1).
    pub fn new(capacity: usize, slot: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_PACKETS);
        let slot = slot.max(1);
        Self {
            data: vec![0; capacity * slot],
            lens: vec![0; capacity],
            slot,
            filled: 0,
            raw: Vec::new(),
        }
    }

    /// How many packets the batch can hold.
    pub fn capacity(&self) -> usize {
        self.lens.len()
    }

    /// The size of one slot: the longest packet it can hold.
    pub fn slot_size(&self) -> usize {
        self.slot
    }

    /// How many packets it holds.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether it holds no packet.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Whether every slot is in use.
    pub fn is_full(&self) -> bool {
        self.filled == self.capacity()
    }

    /// Forgets every packet (keeps the memory).
    pub fn clear(&mut self) {
        self.filled = 0;
    }

    /// Packet `i`, if `i < len()`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        (i < self.filled).then(|| &self.data[i * self.slot..][..self.lens[i]])
    }

    /// The packets, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + Clone + '_ {
        (0..self.filled).map(|i| &self.data[i * self.slot..][..self.lens[i]])
    }

    /// Copies `packet` into the next free slot.
    pub fn push(&mut self, packet: &[u8]) -> Result<(), PushError> {
        if packet.len() > self.slot {
            return Err(PushError::TooLong { len: packet.len(), slot: self.slot });
        }
        self.push_with(|slot| {
            slot[..packet.len()].copy_from_slice(packet);
            packet.len()
        })
    }

    /// Lets `write` fill the next free slot in place (for example, encrypt
    /// into it) and return the packet's length, which is clamped to the slot.
    pub fn push_with(&mut self, write: impl FnOnce(&mut [u8]) -> usize) -> Result<(), PushError> {
        if self.is_full() {
            return Err(PushError::Full { capacity: self.capacity() });
        }
        let i = self.filled;
        let len = write(&mut self.data[i * self.slot..][..self.slot]);
        self.lens[i] = len.min(self.slot);
        self.filled += 1;
        Ok(())
    }

    /// Lets `write` fill the next free slot in place and return the packet's
    /// length (clamped to the slot), or `None` to leave the slot free: then
    /// `Ok(false)` and the batch is unchanged.
    pub fn try_push_with(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Result<bool, PushError> {
        if self.is_full() {
            return Err(PushError::Full { capacity: self.capacity() });
        }
        let i = self.filled;
        let Some(len) = write(&mut self.data[i * self.slot..][..self.slot]) else {
            return Ok(false);
        };
        self.lens[i] = len.min(self.slot);
        self.filled += 1;
        Ok(true)
    }

    /// Every slot, whole, for a receive call to fill.
    pub(crate) fn slots_mut(&mut self) -> impl Iterator<Item = &mut [u8]> + '_ {
        self.data.chunks_exact_mut(self.slot)
    }

    /// Every slot, whole, and a scratch buffer of `raw` bytes (allocated once)
    /// for a read that is then split into the slots.
    pub(crate) fn split_parts_mut(&mut self, raw: usize) -> (Vec<&mut [u8]>, &mut [u8]) {
        if self.raw.len() < raw {
            self.raw = vec![0; raw];
        }
        (self.data.chunks_exact_mut(self.slot).collect(), &mut self.raw[..raw])
    }

    /// Records that a receive call filled the first `lens.len()` slots.
    pub(crate) fn set_filled(&mut self, lens: impl IntoIterator<Item = usize>) {
        let mut n = 0;
        for (dst, len) in self.lens.iter_mut().zip(lens) {
            *dst = len.min(self.slot);
            n += 1;
        }
        self.filled = n;
    }
}

/// A batch of received datagrams and their sources, filled by
/// [`UplinkSocket::recv_batch`](super::UplinkSocket::recv_batch).
///
/// With UDP GRO one slot may hold several datagrams of one source, back to
/// back, all of one size but the last; [`iter`](Self::iter) yields them one
/// by one. Give such a batch slots of [`GRO_SLOT`] bytes.
#[derive(Debug, Clone)]
pub struct RecvBatch {
    packets: PacketBatch,
    sources: Vec<SocketAddr>,
    /// Per slot: the GRO segment size (0: the slot is one datagram).
    segments: Vec<usize>,
    /// Datagrams in the filled slots.
    datagrams: usize,
}

impl RecvBatch {
    /// A batch of `capacity` slots (clamped to `1..=MAX_BATCH`) of `slot` bytes.
    pub fn new(capacity: usize, slot: usize) -> Self {
        let packets = PacketBatch::new(capacity.min(MAX_BATCH), slot);
        let sources = vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)); packets.capacity()];
        let segments = vec![0; packets.capacity()];
        Self { packets, sources, segments, datagrams: 0 }
    }

    /// How many messages one receive can return (each may hold several
    /// datagrams with GRO).
    pub fn capacity(&self) -> usize {
        self.packets.capacity()
    }

    /// How many datagrams the last receive returned.
    pub fn len(&self) -> usize {
        self.datagrams
    }

    /// Whether it holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Forgets every datagram.
    pub fn clear(&mut self) {
        self.packets.clear();
        self.datagrams = 0;
    }

    /// Datagram `i` and its source, if `i < len()`.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        self.iter().nth(i)
    }

    /// The datagrams and their sources, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        self.packets
            .iter()
            .zip(&self.sources)
            .zip(&self.segments)
            .flat_map(|((p, s), &seg)| segments(p, seg).map(move |d| (*s, d)))
    }

    /// Slot size and the parts a receive call fills; the receive calls
    /// [`count`](Self::count) after filling them.
    pub(crate) fn parts_mut(&mut self) -> (&mut PacketBatch, &mut [SocketAddr], &mut [usize]) {
        (&mut self.packets, &mut self.sources, &mut self.segments)
    }

    /// Counts the datagrams of the filled slots after a receive; returns it.
    pub(crate) fn count(&mut self) -> usize {
        let slots = self.packets.len();
        self.datagrams = (0..slots)
            .map(|i| {
                let len = self.packets.lens[i];
                match self.segments[i] {
                    0 => 1,
                    seg => len.div_ceil(seg).max(1),
                }
            })
            .sum();
        self.datagrams
    }
}

/// Datagrams to send, each with its destination, drained by
/// [`UplinkSocket::send_batch`](super::UplinkSocket::send_batch).
#[derive(Debug, Clone)]
pub struct SendBatch {
    packets: PacketBatch,
    dests: Vec<SocketAddr>,
}

impl SendBatch {
    /// A batch of `capacity` slots (clamped to `1..=MAX_BATCH`) of `slot` bytes.
    pub fn new(capacity: usize, slot: usize) -> Self {
        let packets = PacketBatch::new(capacity.min(MAX_BATCH), slot);
        let dests = Vec::with_capacity(packets.capacity());
        Self { packets, dests }
    }

    /// How many datagrams it can hold.
    pub fn capacity(&self) -> usize {
        self.packets.capacity()
    }

    /// How many datagrams it holds.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether it holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Whether every slot is in use.
    pub fn is_full(&self) -> bool {
        self.packets.is_full()
    }

    /// Forgets every datagram (keeps the memory).
    pub fn clear(&mut self) {
        self.packets.clear();
        self.dests.clear();
    }

    /// Datagram `i` and its destination, if `i < len()`.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        self.packets.get(i).map(|p| (self.dests[i], p))
    }

    /// The datagrams and their destinations, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (SocketAddr, &[u8])> + '_ {
        self.packets.iter().zip(&self.dests).map(|(p, d)| (*d, p))
    }

    /// Copies `payload` into the next free slot, to go to `dest`.
    pub fn push(&mut self, dest: SocketAddr, payload: &[u8]) -> Result<(), PushError> {
        self.packets.push(payload)?;
        self.dests.push(dest);
        Ok(())
    }

    /// Lets `write` fill the next free slot in place (for example, encrypt
    /// into it) and return the datagram's length, or `None` to leave the
    /// slot free (`Ok(false)`, nothing changes); it goes to `dest`.
    pub fn try_push_with(
        &mut self,
        dest: SocketAddr,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Result<bool, PushError> {
        let pushed = self.packets.try_push_with(write)?;
        if pushed {
            self.dests.push(dest);
        }
        Ok(pushed)
    }

    /// Lets `write` fill the next free slot in place and return the
    /// datagram's length; it goes to `dest`.
    pub fn push_with(
        &mut self,
        dest: SocketAddr,
        write: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), PushError> {
        self.packets.push_with(write)?;
        self.dests.push(dest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn a_new_batch_is_empty_and_clamps_its_capacity() {
        let b = PacketBatch::new(1000, 64);
        assert_eq!(b.capacity(), MAX_PACKETS);
        assert_eq!(SendBatch::new(1000, 64).capacity(), MAX_BATCH);
        assert_eq!(RecvBatch::new(1000, 64).capacity(), MAX_BATCH);
        assert!(b.is_empty());
        assert_eq!(PacketBatch::new(0, 0).capacity(), 1);
        assert_eq!(PacketBatch::new(0, 0).slot_size(), 1);
    }

    #[test]
    fn pushed_packets_come_back_in_order_with_their_lengths() {
        let mut b = PacketBatch::new(3, 8);
        b.push(b"ab").unwrap();
        b.push(b"").unwrap();
        b.push(b"12345678").unwrap();
        assert!(b.is_full());
        let got: Vec<&[u8]> = b.iter().collect();
        assert_eq!(got, [&b"ab"[..], b"", b"12345678"]);
        assert_eq!(b.get(3), None);
    }

    #[test]
    fn a_full_batch_or_a_long_packet_is_refused_without_change() {
        let mut b = PacketBatch::new(1, 4);
        assert_eq!(b.push(b"12345"), Err(PushError::TooLong { len: 5, slot: 4 }));
        assert!(b.is_empty());
        b.push(b"1").unwrap();
        assert_eq!(b.push(b"2"), Err(PushError::Full { capacity: 1 }));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn push_with_clamps_a_claimed_length_to_the_slot() {
        let mut b = PacketBatch::new(1, 4);
        b.push_with(|s| {
            s.fill(7);
            99
        })
        .unwrap();
        assert_eq!(b.get(0), Some(&[7u8; 4][..]));
    }

    #[test]
    fn set_filled_records_what_a_receive_wrote() {
        let mut b = PacketBatch::new(4, 4);
        for (i, s) in b.slots_mut().enumerate() {
            s.fill(i as u8);
        }
        b.set_filled([2, 9]);
        assert_eq!(b.len(), 2);
        assert_eq!(b.get(0), Some(&[0u8, 0][..]));
        assert_eq!(b.get(1), Some(&[1u8; 4][..]));
    }

    #[test]
    fn send_batch_keeps_each_destination_with_its_payload_and_clears() {
        let mut s = SendBatch::new(2, 16);
        s.push(addr(1), b"one").unwrap();
        s.push_with(addr(2), |buf| {
            buf[..3].copy_from_slice(b"two");
            3
        })
        .unwrap();
        assert!(s.push(addr(3), b"x").is_err());
        let got: Vec<_> = s.iter().collect();
        assert_eq!(got, [(addr(1), &b"one"[..]), (addr(2), &b"two"[..])]);
        s.clear();
        assert!(s.is_empty());
        s.push(addr(3), b"3").unwrap();
        assert_eq!(s.get(0), Some((addr(3), &b"3"[..])));
    }

    #[test]
    fn try_push_with_keeps_the_slot_only_when_asked() {
        let mut s = SendBatch::new(1, 8);
        assert_eq!(s.try_push_with(addr(1), |_| None), Ok(false));
        assert!(s.is_empty());
        let wrote = s.try_push_with(addr(2), |slot| {
            slot[..2].copy_from_slice(b"ok");
            Some(2)
        });
        assert_eq!(wrote, Ok(true));
        assert_eq!(s.get(0), Some((addr(2), &b"ok"[..])));
        assert_eq!(s.try_push_with(addr(3), |_| Some(1)), Err(PushError::Full { capacity: 1 }));
    }

    #[test]
    fn a_failed_push_leaves_destinations_aligned_with_payloads() {
        let mut s = SendBatch::new(2, 2);
        assert!(s.push(addr(1), b"too long").is_err());
        s.push(addr(2), b"ok").unwrap();
        assert_eq!(s.get(0), Some((addr(2), &b"ok"[..])));
    }
}
