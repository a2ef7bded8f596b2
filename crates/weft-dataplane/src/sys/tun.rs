//! [`TunDevice`]: the overlay's TUN interface (layer 3, no packet-info
//! header), created in the calling thread's network namespace.
//!
//! The fd is kept non-blocking; blocking reads wait in `poll(2)`. That lets
//! [`TunDevice::read_batch`] block for the first packet and then drain what
//! is queued without extra mode switches. Today a batch is one `read`/`write`
//! per packet; with `IFF_VNET_HDR` + `TUNSETOFFLOAD` (tun-rs `offload`) one
//! read will return a 64 KB super-packet split into the same batch, so
//! callers of the batch calls will not change.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use tun_rs::{DeviceBuilder, SyncDevice};

use super::batch::PacketBatch;

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
}

impl TunConfig {
    /// A device called `name` with the default MTU.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), mtu: DEFAULT_MTU }
    }

    /// Sets the MTU.
    #[must_use]
    pub fn mtu(mut self, mtu: u16) -> Self {
        self.mtu = mtu;
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
}

impl std::fmt::Debug for TunDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunDevice")
            .field("name", &self.name)
            .field("mtu", &self.mtu)
            .field("fd", &self.dev.as_raw_fd())
            .finish()
    }
}

impl TunDevice {
    /// Creates the device in the calling thread's namespace, sets its MTU and
    /// brings it up. Errors name the device.
    pub fn create(config: &TunConfig) -> io::Result<Self> {
        let ctx = |e: io::Error, what: &str| {
            io::Error::new(e.kind(), format!("tun {:?}: {what}: {e}", config.name))
        };
        let dev = DeviceBuilder::new()
            .name(&config.name)
            .mtu(config.mtu)
            .packet_information(false)
            .build_sync()
            .map_err(|e| ctx(e, "create"))?;
        dev.set_nonblocking(true).map_err(|e| ctx(e, "O_NONBLOCK"))?;
        Ok(Self { dev, name: config.name.clone(), mtu: config.mtu })
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

    /// Reads one packet, waiting as long as it takes.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf, None)
    }

    /// Reads one packet, or fails with [`io::ErrorKind::WouldBlock`] after
    /// `timeout` (so a thread can wake periodically).
    pub fn read_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.read_inner(buf, Some(timeout))
    }

    /// Writes one IP packet.
    pub fn write(&self, packet: &[u8]) -> io::Result<usize> {
        loop {
            match self.dev.send(packet) {
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
    pub fn read_batch(
        &self,
        batch: &mut PacketBatch,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        batch.clear();
        let mut lens = [0usize; super::MAX_BATCH];
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
