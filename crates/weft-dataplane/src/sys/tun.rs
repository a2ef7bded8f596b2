//! [`TunDevice`]: the overlay's TUN interface (layer 3, no packet-info
//! header), created in the calling thread's network namespace.
//!
//! The fd is kept non-blocking; blocking reads wait in `poll(2)`. That lets
//! [`TunDevice::read_batch`] block for the first packet and then drain what
//! is queued without extra mode switches.
//!
//! With offloads ([`TunConfig::offload`], on by default in `weftd`) the
//! device is opened with `IFF_VNET_HDR` and `TUNSETOFFLOAD` (checksum, TSO4,
//! TSO6, and USO4/USO6 when the kernel has them): one read returns a TCP or
//! UDP super-packet of up to 64 KB, which [`TunDevice::read_batch`] splits
//! into MTU-sized packets with correct checksums (tun-rs's `gso_split`); and
//! [`TunDevice::write_coalesced`] merges the TCP segments (and UDP datagrams)
//! of one flow into few large writes (tun-rs's `handle_gro`). Callers see
//! plain IP packets either way. When the kernel refuses the offloads the
//! device is opened without them and [`TunDevice::offloads`] says so.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use tun_rs::{DeviceBuilder, SyncDevice, VIRTIO_NET_HDR_LEN};

use super::batch::PacketBatch;
use super::tun_gro::TunWriteBatch;

/// Most bytes one read from an offloading device returns: a 64 KB
/// super-packet and its virtio-net header.
const SUPER_PACKET: usize = VIRTIO_NET_HDR_LEN + 65_535;

/// Free slots a batch keeps for each read from an offloading device: the
/// most segments a super-packet is split into (`UDP_MAX_SEGMENTS`, and a
/// 64 KB TCP super-packet at an MSS of 512 bytes or more).
const SEGMENTS_PER_READ: usize = 128;

/// What the TUN device offloads to the kernel, as negotiated at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunOffloads {
    /// `IFF_VNET_HDR` with checksum and TCP segmentation offload (TSO4/TSO6):
    /// reads may return TCP super-packets, writes may be coalesced.
    pub tso: bool,
    /// UDP segmentation offload (USO4/USO6, Linux 6.2+) on top of `tso`.
    pub uso: bool,
}

/// Default TUN MTU: 1420 leaves room for WireGuard-over-UDP-over-IPv6
/// headers inside a 1500-byte underlay (at 1500 every full packet fragments).
pub const DEFAULT_MTU: u16 = 1420;

/// How to create a [`TunDevice`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    /// Interface name (at most 15 bytes). Names only need to be unique within
    /// a network namespace; the caller picks.
    pub name: String,
    /// MTU, default [`DEFAULT_MTU`].
    pub mtu: u16,
    /// Ask for `IFF_VNET_HDR` offloads (default off here; `weftd` turns them
    /// on unless configured not to). Falls back to none when refused.
    pub offload: bool,
}

impl TunConfig {
    /// A device called `name` with the default MTU.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), mtu: DEFAULT_MTU, offload: false }
    }

    /// Sets the MTU.
    #[must_use]
    pub fn mtu(mut self, mtu: u16) -> Self {
        self.mtu = mtu;
        self
    }

    /// Asks for (or not) TSO/USO/checksum offloads with `IFF_VNET_HDR`.
    #[must_use]
    pub fn offload(mut self, yes: bool) -> Self {
        self.offload = yes;
        self
    }
}

/// An open TUN device, up, with its MTU set; removed when dropped (it is not
/// persistent). Addresses and routes are set with
/// [`netlink::Rtnl`](super::netlink::Rtnl).
pub struct TunDevice {
    dev: SyncDevice,
    name: String,
    mtu: u16,
    offloads: TunOffloads,
    /// Why offloads were asked for and not used, if so.
    offload_error: Option<String>,
    /// Super-packets read and dropped because they could not be split.
    malformed: AtomicU64,
}

impl std::fmt::Debug for TunDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunDevice")
            .field("name", &self.name)
            .field("mtu", &self.mtu)
            .field("offloads", &self.offloads)
            .field("offload_error", &self.offload_error)
            .field("malformed", &self.malformed)
            .field("fd", &self.dev.as_raw_fd())
            .finish()
    }
}

impl TunDevice {
    /// Creates the device in the calling thread's namespace, sets its MTU and
    /// brings it up. Errors name the device. Offloads asked for and refused
    /// by the kernel are not an error: the device is opened without them
    /// ([`offloads`](Self::offloads), [`offload_error`](Self::offload_error)).
    pub fn create(config: &TunConfig) -> io::Result<Self> {
        let ctx = |e: io::Error, what: &str| {
            io::Error::new(e.kind(), format!("tun {:?}: {what}: {e}", config.name))
        };
        let build = |offload: bool| {
            DeviceBuilder::new()
                .name(&config.name)
                .mtu(config.mtu)
                .packet_information(false)
                .offload(offload)
                .build_sync()
        };
        let (dev, offload_error) = if config.offload {
            match build(true) {
                Ok(dev) => (dev, None),
                Err(e) => (build(false).map_err(|e| ctx(e, "create"))?, Some(e.to_string())),
            }
        } else {
            (build(false).map_err(|e| ctx(e, "create"))?, None)
        };
        dev.set_nonblocking(true).map_err(|e| ctx(e, "O_NONBLOCK"))?;
        let offloads = TunOffloads { tso: dev.tcp_gso(), uso: dev.tcp_gso() && dev.udp_gso() };
        Ok(Self {
            dev,
            name: config.name.clone(),
            mtu: config.mtu,
            offloads,
            offload_error,
            malformed: AtomicU64::new(0),
        })
    }

    /// The offloads in force.
    pub fn offloads(&self) -> TunOffloads {
        self.offloads
    }

    /// Why the offloads asked for were refused, if they were.
    pub fn offload_error(&self) -> Option<&str> {
        self.offload_error.as_deref()
    }

    /// Packets read from the device and dropped because they were malformed
    /// (a super-packet whose headers do not allow splitting it, or one with
    /// more segments than the batch has room for).
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MTU it was created with.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// The interface index (in the device's namespace; call from a thread there).
    pub fn index(&self) -> io::Result<u32> {
        self.dev.if_index()
    }

    /// Writes one IP packet (behind an empty virtio-net header when
    /// offloading). Returns the packet's length.
    pub fn write(&self, packet: &[u8]) -> io::Result<usize> {
        let hdr = [0u8; VIRTIO_NET_HDR_LEN];
        loop {
            let sent = if self.offloads.tso {
                let iov = [io::IoSlice::new(&hdr), io::IoSlice::new(packet)];
                rustix::io::writev(&self.dev, &iov)
                    .map(|n| n.saturating_sub(VIRTIO_NET_HDR_LEN))
                    .map_err(io::Error::from)
            } else {
                self.dev.send(packet)
            };
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(PollFlags::OUT, None)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// Replaces `batch`'s contents with packets read from the device: waits
    /// (up to `timeout`, `None`: forever) for the first, then takes what is
    /// already queued, up to the batch's capacity. Packets longer than a slot
    /// are truncated. Returns how many; a timeout is
    /// [`io::ErrorKind::WouldBlock`].
    ///
    /// When offloading, each read may be a super-packet: it is split into
    /// MTU-sized packets, one per slot (slots must hold `mtu` bytes). Another
    /// read is made only while 128 slots are free (give the batch
    /// [`MAX_PACKETS`](super::MAX_PACKETS) slots for two per call); a
    /// super-packet with more segments than the free slots (an MSS under
    /// 512 bytes) is dropped and counted in [`malformed`](Self::malformed).
    pub fn read_batch(
        &self,
        batch: &mut PacketBatch,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        batch.clear();
        if self.offloads.tso {
            return self.read_batch_offload(batch, timeout);
        }
        let mut lens = [0usize; super::MAX_PACKETS];
        let mut n = 0;
        for slot in batch.slots_mut() {
            let got = if n == 0 { self.read_inner(slot, timeout) } else { self.dev.recv(slot) };
            match got {
                Ok(len) => {
                    lens[n] = len;
                    n += 1;
                }
                Err(_) if n > 0 => break,
                Err(e) => return Err(e),
            }
        }
        batch.set_filled(lens[..n].iter().copied());
        Ok(n)
    }

    /// Writes every packet of `batch`; returns how many were written. Stops at
    /// the first failure: `Err` if nothing was written, else the count so far.
    pub fn write_batch(&self, batch: &PacketBatch) -> io::Result<usize> {
        let mut n = 0;
        for packet in batch.iter() {
            match self.write(packet) {
                Ok(_) => n += 1,
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(n)
    }

    /// Writes the packets of `batch`, coalescing the segments of each TCP
    /// flow (and UDP flow, with USO) into super-packets when offloading,
    /// then clears the batch. Returns how many packets it held. A failed
    /// write does not stop the others; the last error is returned when one
    /// failed.
    pub fn write_coalesced(&self, batch: &mut TunWriteBatch) -> io::Result<usize> {
        let n = batch.len();
        let result = if n == 0 {
            Ok(0)
        } else if self.offloads.tso {
            let (bufs, gro, offset) = batch.parts_mut();
            self.dev.send_multiple(gro, bufs, offset)
        } else {
            let mut err = Ok(0);
            for packet in batch.iter() {
                if let Err(e) = self.write(packet) {
                    err = Err(e);
                }
            }
            err
        };
        batch.clear();
        result.map(|_| n)
    }

    fn read_batch_offload(
        &self,
        batch: &mut PacketBatch,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let mut sizes = [0usize; super::MAX_PACKETS];
        let (mut slots, raw) = batch.split_parts_mut(SUPER_PACKET);
        let mut n = 0;
        while n < slots.len() && (n == 0 || slots.len() - n >= SEGMENTS_PER_READ) {
            let room = slots.len();
            match self.dev.recv_multiple(raw, &mut slots[n..], &mut sizes[n..room], 0) {
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && n == 0 => {
                    if !self.wait(PollFlags::IN, timeout)? {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            "tun read timed out",
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Read, but not splittable: dropped and counted.
                Err(e) if e.raw_os_error().is_none() => {
                    self.malformed.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        drop(slots);
        batch.set_filled(sizes[..n].iter().copied());
        Ok(n)
    }

    fn read_inner(&self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
        loop {
            match self.dev.recv(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.wait(PollFlags::IN, timeout)? {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            "tun read timed out",
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// Waits for `flags`; `false` on timeout.
    fn wait(&self, flags: PollFlags, timeout: Option<Duration>) -> io::Result<bool> {
        let ts = timeout.map(Timespec::try_from).transpose().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "tun read timeout out of range")
        })?;
        let mut fds = [PollFd::new(&self.dev, flags)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(n) => Ok(n > 0),
            Err(rustix::io::Errno::INTR) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }
}

impl AsFd for TunDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dev.as_fd()
    }
}

impl AsRawFd for TunDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }
}
