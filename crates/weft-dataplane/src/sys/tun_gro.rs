//! [`TunWriteBatch`]: decrypted packets waiting to be written to the TUN
//! device, each with headroom for the virtio-net header, so that
//! [`TunDevice::write_coalesced`](super::TunDevice::write_coalesced) can merge
//! the segments of one flow in place (GRO) before writing.
//!
//! Each buffer is allocated once with room for a whole 64 KB super-packet
//! (the coalescing appends later segments of a flow to the first packet's
//! buffer); the pages are only touched as packets are written into them.

use tun_rs::{GROTable, VIRTIO_NET_HDR_LEN};

use super::batch::PushError;

/// Headroom before each packet: the virtio-net header is written there.
const HEADROOM: usize = VIRTIO_NET_HDR_LEN;

/// Capacity of each buffer: the coalescer only appends to a buffer that has
/// room for twice the headroom and the merged packet.
const BUF_CAPACITY: usize = 2 * HEADROOM + 65_535;

/// Up to `capacity` IP packets to write to the TUN device in one go.
pub struct TunWriteBatch {
    bufs: Vec<Vec<u8>>,
    filled: usize,
    gro: GROTable,
}

impl std::fmt::Debug for TunWriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunWriteBatch")
            .field("capacity", &self.bufs.len())
            .field("len", &self.filled)
            .finish_non_exhaustive()
    }
}

impl TunWriteBatch {
    /// A batch of `capacity` packets (at least 1).
    pub fn new(capacity: usize) -> Self {
        let bufs = (0..capacity.max(1)).map(|_| Vec::with_capacity(BUF_CAPACITY)).collect();
        Self { bufs, filled: 0, gro: GROTable::new() }
    }

    /// How many packets it can hold.
    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    /// How many packets it holds.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Whether every slot is in use: write it before pushing more.
    pub fn is_full(&self) -> bool {
        self.filled == self.bufs.len()
    }

    /// Copies `packet` (an IP packet of at most 65 535 bytes) into the next slot.
    pub fn push(&mut self, packet: &[u8]) -> Result<(), PushError> {
        if packet.len() > 65_535 {
            return Err(PushError::TooLong { len: packet.len(), slot: 65_535 });
        }
        let Some(buf) = self.bufs.get_mut(self.filled) else {
            return Err(PushError::Full { capacity: self.bufs.len() });
        };
        buf.clear();
        buf.resize(HEADROOM, 0);
        buf.extend_from_slice(packet);
        self.filled += 1;
        Ok(())
    }

    /// The packets, in order (as pushed; before coalescing).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.bufs[..self.filled].iter().map(|b| &b[HEADROOM..])
    }

    /// Forgets every packet (keeps the memory).
    pub fn clear(&mut self) {
        self.filled = 0;
    }

    /// The filled buffers, the coalescing state and the headroom, for the
    /// device's write.
    pub(crate) fn parts_mut(&mut self) -> (&mut [Vec<u8>], &mut GROTable, usize) {
        (&mut self.bufs[..self.filled], &mut self.gro, HEADROOM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_packets_come_back_in_order_without_the_headroom() {
        let mut b = TunWriteBatch::new(2);
        b.push(b"one").unwrap();
        b.push(b"").unwrap();
        assert!(b.is_full());
        assert_eq!(b.push(b"x"), Err(PushError::Full { capacity: 2 }));
        let got: Vec<&[u8]> = b.iter().collect();
        assert_eq!(got, [&b"one"[..], b""]);
        let (bufs, _, offset) = b.parts_mut();
        assert_eq!(offset, VIRTIO_NET_HDR_LEN);
        assert_eq!(bufs[0].len(), VIRTIO_NET_HDR_LEN + 3);
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn a_packet_longer_than_an_ip_packet_can_be_is_refused() {
        let mut b = TunWriteBatch::new(1);
        assert!(matches!(b.push(&vec![0; 65_536]), Err(PushError::TooLong { .. })));
        assert!(b.is_empty());
    }
}
