//! [`UplinkSocket`]: one UDP socket per uplink, with forced buffers and
//! batched I/O, and UDP segmentation offloads when the kernel has them:
//! `UDP_SEGMENT` (GSO) on send, `UDP_GRO` on receive. Both are probed when
//! the socket opens; GSO is switched off for good if a send fails with
//! `EIO` (an egress device that cannot checksum segments).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::batch::{RecvBatch, SendBatch};
use super::buffers::{self, BufferSizes, DEFAULT_BUFFER};
use super::mmsg;

/// How to open an [`UplinkSocket`]. Build with [`UplinkConfig::new`] and the
/// chained setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkConfig {
    /// Local address to bind (port 0 picks one).
    pub local: SocketAddr,
    /// Interface to pin the socket to (`SO_BINDTODEVICE`), if any.
    pub device: Option<String>,
    /// Open in non-blocking mode.
    pub nonblocking: bool,
    /// Receive buffer to ask for, bytes (0: kernel default).
    pub recv_buffer: usize,
    /// Send buffer to ask for, bytes (0: kernel default).
    pub send_buffer: usize,
    /// Use UDP GSO and GRO when the kernel has them (default on).
    pub offload: bool,
}

impl UplinkConfig {
    /// Bind `local`, blocking, no device, 7 MiB buffers.
    pub fn new(local: SocketAddr) -> Self {
        Self {
            local,
            device: None,
            nonblocking: false,
            recv_buffer: DEFAULT_BUFFER,
            send_buffer: DEFAULT_BUFFER,
            offload: true,
        }
    }

    /// Uses (or not) UDP GSO/GRO when the kernel has them.
    #[must_use]
    pub fn offload(mut self, yes: bool) -> Self {
        self.offload = yes;
        self
    }

    /// Pins the socket to interface `name` (`SO_BINDTODEVICE`).
    #[must_use]
    pub fn device(mut self, name: impl Into<String>) -> Self {
        self.device = Some(name.into());
        self
    }

    /// Opens the socket non-blocking (or blocking).
    #[must_use]
    pub fn nonblocking(mut self, yes: bool) -> Self {
        self.nonblocking = yes;
        self
    }

    /// Asks for these receive and send buffer sizes (0: kernel default).
    #[must_use]
    pub fn buffers(mut self, recv: usize, send: usize) -> Self {
        self.recv_buffer = recv;
        self.send_buffer = send;
        self
    }
}

/// A bound UDP socket for one uplink. An IPv6 socket is IPv6-only (one socket
/// per family). All methods take `&self`, so one thread can receive while
/// another sends.
#[derive(Debug)]
pub struct UplinkSocket {
    socket: UdpSocket,
    buffers: BufferSizes,
    device: Option<String>,
    /// `UDP_SEGMENT` works (cleared if a GSO send fails with `EIO`).
    gso: AtomicBool,
    /// `UDP_GRO` is on: receives may coalesce datagrams.
    gro: bool,
    /// Datagrams dropped for want of receive buffer, as last reported.
    overflows: AtomicU64,
    /// The DSCP outgoing datagrams carry now (set by [`UplinkSocket::set_dscp`]).
    dscp: AtomicU8,
}

fn context(e: &io::Error, what: &str, cfg: &UplinkConfig) -> io::Error {
    let dev = cfg.device.as_deref().map(|d| format!(" (device {d})")).unwrap_or_default();
    io::Error::new(e.kind(), format!("uplink socket {}{dev}: {what}: {e}", cfg.local))
}

impl UplinkSocket {
    /// Opens, sizes, pins and binds a socket as `config` says. Errors name the
    /// address, the device and the step that failed. Buffers that could not
    /// be forced are not an error: see [`BufferSizes::warnings`].
    pub fn bind(config: &UplinkConfig) -> io::Result<Self> {
        let socket =
            Socket::new(Domain::for_address(config.local), Type::DGRAM, Some(Protocol::UDP))
                .map_err(|e| context(&e, "socket", config))?;
        if config.local.is_ipv6() {
            socket.set_only_v6(true).map_err(|e| context(&e, "IPV6_V6ONLY", config))?;
        }
        let buffers = buffers::apply(&socket, config.recv_buffer, config.send_buffer)
            .map_err(|e| context(&e, "buffers", config))?;
        if let Some(dev) = &config.device {
            socket
                .bind_device(Some(dev.as_bytes()))
                .map_err(|e| context(&e, "SO_BINDTODEVICE", config))?;
        }
        socket.bind(&config.local.into()).map_err(|e| context(&e, "bind", config))?;
        socket
            .set_nonblocking(config.nonblocking)
            .map_err(|e| context(&e, "O_NONBLOCK", config))?;
        // Best effort: without it drops in the buffer are only not counted.
        mmsg::enable_overflow_count(&socket);
        let (gso, gro) = if config.offload {
            (mmsg::probe_gso(&socket), mmsg::enable_gro(&socket))
        } else {
            (false, false)
        };
        Ok(Self {
            socket: socket.into(),
            buffers,
            device: config.device.clone(),
            gso: AtomicBool::new(gso),
            gro,
            overflows: AtomicU64::new(0),
            dscp: AtomicU8::new(0),
        })
    }

    /// Marks the datagrams sent from now on with `dscp` (0..=63) in the outer
    /// IP header (`IP_TOS` / `IPV6_TCLASS`, ECN bits left 0). A no-op when the
    /// mark is already `dscp`. Call it from the one thread that sends batches.
    pub fn set_dscp(&self, dscp: u8) -> io::Result<()> {
        let dscp = dscp & 0x3f;
        if self.dscp.load(Ordering::Relaxed) == dscp {
            return Ok(());
        }
        let sock = socket2::SockRef::from(&self.socket);
        let tos = u32::from(dscp) << 2;
        if self.socket.local_addr()?.is_ipv6() {
            sock.set_tclass_v6(tos)?;
        } else {
            sock.set_tos_v4(tos)?;
        }
        self.dscp.store(dscp, Ordering::Relaxed);
        Ok(())
    }

    /// Datagrams the kernel dropped on this socket because its receive
    /// buffer was full (`SO_RXQ_OVFL`), as of the last receive; 0 where the
    /// kernel does not report it.
    pub fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }

    /// Whether sends use UDP GSO (`UDP_SEGMENT`).
    pub fn gso(&self) -> bool {
        self.gso.load(Ordering::Relaxed)
    }

    /// Whether receives use UDP GRO (`UDP_GRO`): give [`recv_batch`](Self::recv_batch)
    /// slots of 64 KiB ([`GRO_SLOT`](super::GRO_SLOT)) then.
    pub fn gro(&self) -> bool {
        self.gro
    }

    /// The bound local address (with the port the kernel picked, if 0 was asked).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The interface the socket is pinned to, if any.
    pub fn device(&self) -> Option<&str> {
        self.device.as_deref()
    }

    /// The buffer sizes in force and any fallbacks taken when opening.
    pub fn buffers(&self) -> &BufferSizes {
        &self.buffers
    }

    /// Switches non-blocking mode.
    pub fn set_nonblocking(&self, yes: bool) -> io::Result<()> {
        self.socket.set_nonblocking(yes)
    }

    /// Makes blocking receives give up after `timeout` (`None`: wait forever)
    /// with an error of kind [`io::ErrorKind::WouldBlock`], so a thread can
    /// wake periodically. Alternatively poll the fd ([`AsFd`]).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// Sends one datagram.
    pub fn send_to(&self, buf: &[u8], dest: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(buf, dest)
    }

    /// Receives one datagram and its source.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf)
    }

    /// Receives up to `batch.capacity()` messages in one `recvmmsg` call,
    /// replacing the batch's contents; returns how many datagrams (also
    /// `batch.len()`: with GRO one message may hold several).
    ///
    /// Blocks only until the first datagram (then takes what is queued), up to
    /// the read timeout. A timeout or an empty non-blocking socket gives
    /// [`io::ErrorKind::WouldBlock`] and an empty batch. Messages longer than a
    /// slot are truncated to it.
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        loop {
            match mmsg::recv(self.socket.as_fd(), batch) {
                Ok(got) => {
                    if let Some(n) = got.overflows {
                        self.overflows.fetch_max(u64::from(n), Ordering::Relaxed);
                    }
                    return Ok(got.datagrams);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends every datagram of `batch` with `sendmmsg`, looping over partial
    /// sends; returns how many were sent. Same as
    /// [`send_batch_from`](Self::send_batch_from) with `start` 0.
    pub fn send_batch(&self, batch: &SendBatch) -> io::Result<usize> {
        self.send_batch_from(batch, 0)
    }

    /// Sends datagrams `start..` of `batch`, looping until all are sent or a
    /// send fails. Returns how many were sent; when that is fewer than asked,
    /// datagram `start + n` failed or would block, and calling again from
    /// there reports its error. `Err` only when not one datagram was sent
    /// ([`io::ErrorKind::WouldBlock`] on a full non-blocking socket).
    pub fn send_batch_from(&self, batch: &SendBatch, start: usize) -> io::Result<usize> {
        let mut next = start;
        while next < batch.len() {
            let gso = self.gso();
            match mmsg::send(self.socket.as_fd(), batch, next, gso) {
                Ok(0) => break,
                Ok(n) => next += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The egress device cannot segment: no GSO from now on.
                Err(e) if gso && e.raw_os_error() == Some(libc::EIO) => {
                    self.gso.store(false, Ordering::Relaxed);
                }
                Err(e) if next == start => return Err(e),
                Err(_) => break,
            }
        }
        Ok(next.saturating_sub(start))
    }
}

impl AsFd for UplinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for UplinkSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
