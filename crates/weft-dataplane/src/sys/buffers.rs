//! Socket buffer sizing: force big buffers past `net.core.{r,w}mem_max`.
//!
//! Inside a child network namespace the `rmem_max`/`wmem_max` sysctls are
//! read-only and small, so plain `SO_RCVBUF` caps at about 208 KiB and bursts
//! are dropped. `SO_RCVBUFFORCE`/`SO_SNDBUFFORCE` ignore the cap but need
//! `CAP_NET_ADMIN`; without it we fall back to the capped options and say so.

use std::fmt;
use std::io;
use std::os::fd::AsFd;

use socket2::SockRef;

/// Default receive and send buffer size asked for: 7 MiB (the kernel reports
/// twice what is set, for its bookkeeping).
pub const DEFAULT_BUFFER: usize = 7 << 20;

/// Which buffer a [`BufferWarning`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The receive buffer (`SO_RCVBUF*`).
    Recv,
    /// The send buffer (`SO_SNDBUF*`).
    Send,
}

/// A buffer could not be forced to the size asked; the socket works with the
/// smaller buffer in [`BufferSizes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferWarning {
    /// Which buffer.
    pub direction: Direction,
    /// The size asked for.
    pub wanted: usize,
    /// Why forcing failed (usually `EPERM`: no `CAP_NET_ADMIN`).
    pub reason: String,
}

impl fmt::Display for BufferWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = match self.direction {
            Direction::Recv => "SO_RCVBUFFORCE",
            Direction::Send => "SO_SNDBUFFORCE",
        };
        write!(
            f,
            "{opt} {} bytes failed ({}); fell back to the sysctl-capped size",
            self.wanted, self.reason
        )
    }
}

/// The buffer sizes a socket ended up with, as the kernel reports them
/// (`getsockopt`, which is twice the value set), and any fallbacks taken.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BufferSizes {
    /// Effective receive buffer, bytes.
    pub recv: usize,
    /// Effective send buffer, bytes.
    pub send: usize,
    /// One entry per buffer that could not be forced.
    pub warnings: Vec<BufferWarning>,
}

/// Sets `fd`'s buffers to `recv`/`send` bytes, forcing them when allowed; a
/// size of 0 leaves that buffer at the kernel default.
pub(crate) fn apply(fd: impl AsFd, recv: usize, send: usize) -> io::Result<BufferSizes> {
    let fd = fd.as_fd();
    let sock = SockRef::from(&fd);
    let mut warnings = Vec::new();
    if recv > 0
        && let Err(e) = rustix::net::sockopt::set_socket_recv_buffer_size_force(fd, recv)
    {
        warnings.push(BufferWarning {
            direction: Direction::Recv,
            wanted: recv,
            reason: e.to_string(),
        });
        sock.set_recv_buffer_size(recv)
            .map_err(|e| io::Error::new(e.kind(), format!("set SO_RCVBUF to {recv}: {e}")))?;
    }
    if send > 0
        && let Err(e) = rustix::net::sockopt::set_socket_send_buffer_size_force(fd, send)
    {
        warnings.push(BufferWarning {
            direction: Direction::Send,
            wanted: send,
            reason: e.to_string(),
        });
        sock.set_send_buffer_size(send)
            .map_err(|e| io::Error::new(e.kind(), format!("set SO_SNDBUF to {send}: {e}")))?;
    }
    Ok(BufferSizes { recv: sock.recv_buffer_size()?, send: sock.send_buffer_size()?, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_names_the_option_and_the_reason() {
        let w = BufferWarning {
            direction: Direction::Send,
            wanted: DEFAULT_BUFFER,
            reason: "Operation not permitted".into(),
        };
        let s = w.to_string();
        assert!(
            s.contains("SO_SNDBUFFORCE") && s.contains("7340032") && s.contains("not permitted"),
            "{s}"
        );
    }
}
