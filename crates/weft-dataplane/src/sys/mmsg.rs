//! `recvmmsg(2)` and `sendmmsg(2)` over preallocated batches: one system call
//! for up to [`MAX_BATCH`] datagrams. This is where control messages (UDP GSO
//! segment size, GRO) will be added.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::batch::{MAX_BATCH, RecvBatch, SendBatch};
use super::sockaddr;

fn empty_iovec() -> libc::iovec {
    libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }
}

fn zeroed_hdrs() -> [libc::mmsghdr; MAX_BATCH] {
    // SAFETY: mmsghdr is a C struct of integers and raw pointers; all-zero
    // (null pointers, zero lengths) is a valid value of it.
    unsafe { mem::zeroed() }
}

/// Receives up to `batch.capacity()` datagrams; blocks (per the socket's
/// mode and receive timeout) only until the first one arrives.
pub(crate) fn recv(fd: BorrowedFd<'_>, batch: &mut RecvBatch) -> io::Result<usize> {
    let (packets, sources) = batch.parts_mut();
    let n = packets.capacity();
    let mut iovs = [empty_iovec(); MAX_BATCH];
    let mut names = [sockaddr::zeroed(); MAX_BATCH];
    let mut hdrs = zeroed_hdrs();
    for ((iov, slot), (hdr, name)) in
        iovs.iter_mut().zip(packets.slots_mut()).zip(hdrs.iter_mut().zip(names.iter_mut()))
    {
        *iov = libc::iovec { iov_base: slot.as_mut_ptr().cast(), iov_len: slot.len() };
        hdr.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
        hdr.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_hdr.msg_iov = std::ptr::from_mut(iov);
        hdr.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: the first `n` headers point at `n` live iovecs, each covering a
    // distinct whole slot of `packets` (exclusively borrowed for this call), and
    // at `n` live sockaddr_storage values with their true size; no timeout.
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
    packets.set_filled(hdrs[..got].iter().map(|h| h.msg_len as usize));
    Ok(got)
}

/// Sends datagrams `start..` of `batch` (at most [`MAX_BATCH`]) in one call;
/// returns how many the kernel took.
pub(crate) fn send(fd: BorrowedFd<'_>, batch: &SendBatch, start: usize) -> io::Result<usize> {
    let mut iovs = [empty_iovec(); MAX_BATCH];
    let mut names = [sockaddr::zeroed(); MAX_BATCH];
    let mut hdrs = zeroed_hdrs();
    let mut n = 0;
    for ((dest, payload), ((iov, name), hdr)) in
        batch.iter().skip(start).zip(iovs.iter_mut().zip(names.iter_mut()).zip(hdrs.iter_mut()))
    {
        *iov = libc::iovec { iov_base: payload.as_ptr().cast_mut().cast(), iov_len: payload.len() };
        let (raw, len) = sockaddr::to_raw(dest);
        *name = raw;
        hdr.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
        hdr.msg_hdr.msg_namelen = len;
        hdr.msg_hdr.msg_iov = std::ptr::from_mut(iov);
        hdr.msg_hdr.msg_iovlen = 1;
        n += 1;
    }
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: the first `n` headers point at live iovecs over payloads borrowed
    // from `batch` (sendmmsg only reads them, despite the `*mut` type) and at
    // live, initialised socket addresses with their used lengths.
    let sent = unsafe { libc::sendmmsg(fd.as_raw_fd(), hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}
