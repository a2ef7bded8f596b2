//! `recvmmsg(2)` and `sendmmsg(2)` over preallocated batches: one system call
//! for up to [`MAX_BATCH`] messages, with the UDP offload control messages:
//! `UDP_SEGMENT` on send (one message carries a run of datagrams, see
//! [`gso_runs`]) and `UDP_GRO` on receive (one message may hold several
//! datagrams of one size, recorded per slot for the batch to split).

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::batch::{MAX_BATCH, RecvBatch, SendBatch};
use super::gso::{MAX_SEGMENTS, gso_runs};
use super::sockaddr;

/// Room for the control messages of one datagram (8-byte aligned): a
/// `UDP_GRO` or `UDP_SEGMENT` size and an `SO_RXQ_OVFL` count.
type CmsgBuf = [u64; 8];

/// What a receive returned: datagrams, and the socket's drop count when the
/// kernel reported it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    /// Datagrams in the batch (a coalesced message counts each of its own).
    pub(crate) datagrams: usize,
    /// `SO_RXQ_OVFL`: datagrams the socket dropped so far for want of
    /// receive buffer, as of the newest message that said.
    pub(crate) overflows: Option<u32>,
}

fn empty_iovec() -> libc::iovec {
    libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }
}

fn zeroed_hdrs() -> [libc::mmsghdr; MAX_BATCH] {
    // SAFETY: mmsghdr is a C struct of integers and raw pointers; all-zero
    // (null pointers, zero lengths) is a valid value of it.
    unsafe { mem::zeroed() }
}

/// Receives up to `batch.capacity()` messages; blocks (per the socket's
/// mode and receive timeout) only until the first one arrives. The `UDP_GRO`
/// segment size of each message is recorded, and the socket's overflow
/// count (`SO_RXQ_OVFL`) returned when the kernel sent it.
pub(crate) fn recv(fd: BorrowedFd<'_>, batch: &mut RecvBatch) -> io::Result<Received> {
    let (packets, sources, segments) = batch.parts_mut();
    let n = packets.capacity();
    let mut iovs = [empty_iovec(); MAX_BATCH];
    let mut names = [sockaddr::zeroed(); MAX_BATCH];
    let mut cmsgs = [CmsgBuf::default(); MAX_BATCH];
    let mut hdrs = zeroed_hdrs();
    for ((iov, slot), ((hdr, name), cmsg)) in iovs
        .iter_mut()
        .zip(packets.slots_mut())
        .zip(hdrs.iter_mut().zip(names.iter_mut()).zip(cmsgs.iter_mut()))
    {
        *iov = libc::iovec { iov_base: slot.as_mut_ptr().cast(), iov_len: slot.len() };
        hdr.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
        hdr.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_hdr.msg_iov = std::ptr::from_mut(iov);
        hdr.msg_hdr.msg_iovlen = 1;
        hdr.msg_hdr.msg_control = cmsg.as_mut_ptr().cast();
        hdr.msg_hdr.msg_controllen = mem::size_of::<CmsgBuf>() as _;
    }
    // SAFETY: the first `n` headers point at `n` live iovecs, each covering a
    // distinct whole slot of `packets` (exclusively borrowed for this call),
    // at `n` live sockaddr_storage values with their true size and at `n`
    // live, aligned control buffers with their true size.
    let got = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    if got < 0 {
        packets.set_filled([]);
        return Err(io::Error::last_os_error());
    }
    let got = got as usize;
    for ((src, hdr), name) in sources.iter_mut().zip(&hdrs[..got]).zip(&names) {
        if let Some(addr) = sockaddr::from_raw(name, hdr.msg_hdr.msg_namelen) {
            *src = addr;
        }
    }
    let mut overflows = None;
    for (seg, hdr) in segments.iter_mut().zip(&hdrs[..got]) {
        let (size, dropped) = control(&hdr.msg_hdr);
        *seg = size;
        overflows = dropped.or(overflows);
    }
    packets.set_filled(hdrs[..got].iter().map(|h| h.msg_len as usize));
    Ok(Received { datagrams: batch.count(), overflows })
}

/// The `UDP_GRO` segment size a received message carries (0 if none) and
/// its `SO_RXQ_OVFL` count, if any.
fn control(msg: &libc::msghdr) -> (usize, Option<u32>) {
    let mut size = 0;
    let mut dropped = None;
    // SAFETY: `msg` was filled by recvmmsg: its control pointer and length
    // describe the live buffer given to the kernel, of which the kernel set
    // `msg_controllen` bytes; CMSG_FIRSTHDR/NXTHDR stay within them and each
    // header they return is followed by its data within the buffer.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_UDP
                && c.cmsg_type == libc::UDP_GRO
                && c.cmsg_len as usize
                    >= libc::CMSG_LEN(mem::size_of::<libc::c_int>() as u32) as usize
            {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                size = usize::try_from(v).unwrap_or(0);
            } else if c.cmsg_level == libc::SOL_SOCKET
                && c.cmsg_type == libc::SO_RXQ_OVFL
                && c.cmsg_len as usize >= libc::CMSG_LEN(mem::size_of::<u32>() as u32) as usize
            {
                dropped = Some(std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<u32>()));
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    (size, dropped)
}

/// Sends datagrams `start..` of `batch` (at most [`MAX_BATCH`]) in one call;
/// with `gso`, runs of same-size datagrams to one destination go as one
/// message with `UDP_SEGMENT`. Returns how many datagrams the kernel took.
pub(crate) fn send(
    fd: BorrowedFd<'_>,
    batch: &SendBatch,
    start: usize,
    gso: bool,
) -> io::Result<usize> {
    let mut iovs = [empty_iovec(); MAX_BATCH];
    let mut names = [sockaddr::zeroed(); MAX_BATCH];
    let mut cmsgs = [CmsgBuf::default(); MAX_BATCH];
    let mut counts = [0usize; MAX_BATCH];
    let mut hdrs = zeroed_hdrs();
    let todo = batch.len().saturating_sub(start).min(MAX_BATCH);
    for (iov, (_, payload)) in iovs.iter_mut().zip(batch.iter().skip(start).take(todo)) {
        *iov = libc::iovec { iov_base: payload.as_ptr().cast_mut().cast(), iov_len: payload.len() };
    }
    let datagrams = batch.iter().skip(start).take(todo).map(|(d, p)| (d, p.len()));
    let mut n = 0;
    for (first, count) in gso_runs(datagrams, if gso { MAX_SEGMENTS } else { 1 }) {
        let Some((dest, payload)) = batch.get(start + first) else { break };
        let (raw, len) = sockaddr::to_raw(dest);
        names[n] = raw;
        let hdr = &mut hdrs[n].msg_hdr;
        hdr.msg_name = std::ptr::from_mut(&mut names[n]).cast();
        hdr.msg_namelen = len;
        hdr.msg_iov = std::ptr::from_mut(&mut iovs[first]);
        hdr.msg_iovlen = count;
        if count > 1 {
            set_segment(hdr, &mut cmsgs[n], payload.len() as u16);
        }
        counts[n] = count;
        n += 1;
    }
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: the first `n` headers point at live iovecs over payloads
    // borrowed from `batch` (sendmmsg only reads them, despite the `*mut`
    // type), each header's `msg_iovlen` iovecs lying within `iovs`; at live,
    // initialised socket addresses with their used lengths; and at live
    // control buffers holding one complete `UDP_SEGMENT` message when set.
    let sent = unsafe { libc::sendmmsg(fd.as_raw_fd(), hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(counts[..sent as usize].iter().sum())
}

/// Makes `hdr` carry a `UDP_SEGMENT` control message of `size` in `buf`.
fn set_segment(hdr: &mut libc::msghdr, buf: &mut CmsgBuf, size: u16) {
    // SAFETY: CMSG_SPACE of a u16 (24 bytes) fits the 32-byte, 8-aligned
    // `buf`; CMSG_FIRSTHDR of a header whose control length covers it
    // returns its start, and CMSG_DATA points within it.
    unsafe {
        hdr.msg_control = buf.as_mut_ptr().cast();
        hdr.msg_controllen = libc::CMSG_SPACE(mem::size_of::<u16>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(hdr);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), size);
    }
}

/// Whether the kernel does UDP GSO on `fd` (`UDP_SEGMENT` can be read).
pub(crate) fn probe_gso(fd: &impl AsFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals of the sizes passed.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    rc == 0
}

/// Turns UDP GRO on for `fd`; whether the kernel accepted.
pub(crate) fn enable_gro(fd: &impl AsFd) -> bool {
    set_int(fd, libc::SOL_UDP, libc::UDP_GRO)
}

/// Asks the kernel to report with every datagram how many the socket has
/// dropped for want of receive buffer (`SO_RXQ_OVFL`); whether it accepted.
pub(crate) fn enable_overflow_count(fd: &impl AsFd) -> bool {
    set_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL)
}

/// Sets the `int` socket option `level`/`name` to 1; whether it worked.
fn set_int(fd: &impl AsFd, level: libc::c_int, name: libc::c_int) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live local of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_fd().as_raw_fd(),
            level,
            name,
            (&raw const on).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}
