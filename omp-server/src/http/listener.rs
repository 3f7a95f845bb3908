//! The HTTP listener's limits: at most `max_connections` open at once (the
//! GMMP side shares the process's file descriptors), and a connection that
//! makes no progress — no byte read or written — for `idle_timeout` is
//! closed. The idle limit is what ends a half-sent request header, a body
//! that stops arriving, a response the client stops reading and an idle
//! keep-alive connection; it must exceed the longest `?wait=` long-poll
//! (60 s), during which a connection is silent by design.
//!
//! A connection over the cap waits in the kernel's accept backlog until
//! another closes (the same as the GMMP listener's cap).
//!
//! # Why this is written here
//!
//! One timer for both directions of the socket, reset by any byte, is what
//! "no progress" means; the server stack's own timeouts each cover a part:
//!
//! - hyper's `http1::Builder::header_read_timeout` (also reached through
//!   hyper-util's `server::conn::auto::Builder::http1()`): a deadline from
//!   the start of a request head to its end, the wait for the next request
//!   of a keep-alive connection included. Nothing for the body or for
//!   writing, and it only runs with a `Timer` set on the builder:
//!   `axum::serve` makes its own `auto::Builder` without one and offers no
//!   way to configure it, so under `axum::serve` it never fires. Using it
//!   means an accept loop of our own in place of `axum::serve` (its
//!   graceful shutdown included) and still leaves bodies and writes open.
//! - hyper-util's `auto::Builder`: `http2().keep_alive_interval` /
//!   `keep_alive_timeout` are HTTP/2 PINGs; HTTP/1 has no idle limit.
//! - tower-http's `TimeoutLayer`: a deadline for the whole response future
//!   (408), not reset by progress. It starts only once a head is parsed (so
//!   no half-sent header, no idle keep-alive) and would cut the 60 s
//!   long-poll unless longer than it.
//! - tower-http's `RequestBodyTimeoutLayer` / `TimeoutBody`: a limit
//!   between body frames — a stalled request body only. (The API bounds
//!   the body as a whole with `DeadlineBody`, see [`super::router`].)
//! - tokio-io-timeout's `TimeoutStream`: separate read and write timeouts,
//!   each started when one operation returns `Pending`. hyper keeps a read
//!   pending while it writes a response (to notice the client leaving), so
//!   a response that takes long to download would be cut by the read
//!   timeout although bytes flow.
//! - `axum::serve`: no connection cap and no timeout; its
//!   `ListenerExt::tap_io` only configures each accepted stream. tower's
//!   `ConcurrencyLimit` caps requests in flight, not connections (an idle
//!   keep-alive holds a descriptor with no request).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// A TCP listener with a connection cap and an idle limit per connection.
#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    idle_timeout: Duration,
}

impl LimitedListener {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, max_connections: usize, idle_timeout: Duration) -> Self {
        LimitedListener {
            inner,
            slots: Arc::new(Semaphore::new(max_connections)),
            idle_timeout,
        }
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed.
        let slot = self.slots.clone().acquire_owned().await.ok();
        // axum's own accept: retries, and pauses on EMFILE.
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%addr, error = %e, "set_nodelay failed");
        }
        (LimitedStream::new(stream, slot, self.idle_timeout), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection: holds its place under the cap, and fails with
/// `TimedOut` once it has made no progress for the idle limit.
#[derive(Debug)]
pub struct LimitedStream {
    inner: TcpStream,
    _slot: Option<OwnedSemaphorePermit>,
    idle_timeout: Duration,
    idle: Pin<Box<Sleep>>,
}

impl LimitedStream {
    fn new(inner: TcpStream, slot: Option<OwnedSemaphorePermit>, idle_timeout: Duration) -> Self {
        LimitedStream {
            inner,
            _slot: slot,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }

    fn progressed(&mut self) {
        let next = Instant::now() + self.idle_timeout;
        self.idle.as_mut().reset(next);
    }

    /// A pending operation: an error once the idle limit has passed.
    fn check_idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "HTTP connection idle past the limit",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.check_idle(cx),
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.check_idle(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.check_idle(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn pair(cap: usize, idle: Duration) -> (LimitedListener, SocketAddr) {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        (LimitedListener::new(inner, cap, idle), addr)
    }

    #[tokio::test]
    async fn a_silent_connection_fails_after_the_idle_limit_and_progress_resets_it() {
        let (mut listener, addr) = pair(4, Duration::from_millis(300)).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await;
        let mut buf = [0u8; 8];
        // Bytes keep it alive, however long it has existed.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.write_all(b"G").await.unwrap();
            assert_eq!(server.read(&mut buf).await.unwrap(), 1);
        }
        // Silent from here: the next read fails once the limit has passed.
        let err = tokio::time::timeout(Duration::from_secs(10), server.read(&mut buf))
            .await
            .expect("the idle limit ends the read")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn connections_over_the_cap_wait_until_one_closes() {
        let (mut listener, addr) = pair(1, Duration::from_secs(75)).await;
        let _first_client = TcpStream::connect(addr).await.unwrap();
        let (first, _) = listener.accept().await;
        let _second_client = TcpStream::connect(addr).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(second.is_err(), "the cap holds the second connection");
        drop(first);
        tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("accepted once a place is free");
    }
}
