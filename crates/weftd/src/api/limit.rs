//! A cap on open connections per listener: past it, new connections wait in
//! the kernel's backlog until one closes, so clients cannot exhaust the
//! agent's file descriptors.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most connections open at once on one listener.
pub(crate) const MAX_CONNECTIONS: usize = 256;

/// A listener that holds a permit per open connection.
pub(crate) struct Limited<L> {
    inner: L,
    permits: Arc<Semaphore>,
}

impl<L> Limited<L> {
    /// `inner`, with at most `max` connections open.
    pub(crate) fn new(inner: L, max: usize) -> Self {
        Self { inner, permits: Arc::new(Semaphore::new(max)) }
    }
}

/// A connection holding its permit until it is dropped.
pub(crate) struct Counted<T> {
    io: T,
    _permit: OwnedSemaphorePermit,
}

impl<L: axum::serve::Listener> axum::serve::Listener for Limited<L> {
    type Io = Counted<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed.
        let permit = self.permits.clone().acquire_owned().await.expect("an open semaphore");
        let (io, addr) = self.inner.accept().await;
        (Counted { io, _permit: permit }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener as _;

    #[tokio::test(flavor = "current_thread")]
    async fn a_connection_past_the_cap_waits_until_one_closes() {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut l = Limited::new(tcp, 1);
        let _c1 = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _c2 = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (first, _) = l.accept().await;
        let second = tokio::time::timeout(std::time::Duration::from_millis(100), l.accept()).await;
        assert!(second.is_err(), "the second waits while the first is open");
        drop(first);
        let second = tokio::time::timeout(std::time::Duration::from_secs(2), l.accept()).await;
        assert!(second.is_ok(), "and is accepted once the first closes");
    }
}
