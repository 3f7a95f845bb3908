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
//! One source — an IPv4 address or an IPv6 /64, as the GMMP listener
//! counts them — holds at most half of the places
//! ([`per_source_cap`]); a connection beyond its source's share is
//! answered 503 and closed at once, so the other half stays open to
//! everyone else (a monitor's `/healthz` among them) however many
//! half-sent requests one peer keeps open. The header-read timeout
//! (hyper's, see [`super::serve`]) ends those half-sent requests.
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
//!   way to configure it, so under `axum::serve` it never fires. The API
//!   therefore runs its own accept loop ([`super::server`]) with the
//!   timeout set; it still leaves bodies and writes to this idle limit.
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
use tokio::io::AsyncWriteExt as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::framing::HeadScanner;
use crate::gmmp::log_budget::LogBudget;
use crate::listen::{Unauthenticated, UnauthenticatedSlot};

/// The answer to a connection beyond its source's share, written without
/// waiting (a peer that does not read it just gets the close).
const OVER_SHARE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nconnection: close\r\ncontent-length: 124\r\n\r\n\
{\"error\":{\"code\":\"unavailable\",\"message\":\"this address holds its share \
of the HTTP API's connections; close one and retry\"}}";

/// The places one source may hold: half of `max_connections` (at least
/// one), so that one peer never holds them all.
pub fn per_source_cap(max_connections: usize) -> usize {
    (max_connections / 2).max(1)
}

/// A TCP listener with a connection cap, a per-source share of it, and an
/// idle limit per connection.
#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    sources: Arc<Unauthenticated>,
    idle_timeout: Duration,
    refusals: LogBudget,
}

impl LimitedListener {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, max_connections: usize, idle_timeout: Duration) -> Self {
        LimitedListener {
            inner,
            slots: Arc::new(Semaphore::new(max_connections)),
            // The GMMP listener's per-source counter, here counting every
            // open HTTP connection (the semaphore bounds the total).
            sources: Unauthenticated::new(max_connections, per_source_cap(max_connections)),
            idle_timeout,
            refusals: LogBudget::new(1),
        }
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // The semaphore is never closed.
            let slot = self.slots.clone().acquire_owned().await.ok();
            // axum's own accept: retries, and pauses on EMFILE.
            let (mut stream, addr) = Listener::accept(&mut self.inner).await;
            let source = match self.sources.try_acquire(addr.ip()) {
                Ok(source) => source,
                Err(refused) => {
                    if let Some(suppressed) = self.refusals.take() {
                        tracing::warn!(%addr, suppressed, "HTTP connection refused: {refused}");
                    }
                    let _ = stream.try_write(OVER_SHARE);
                    let _ = stream.shutdown().await;
                    continue;
                }
            };
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%addr, error = %e, "set_nodelay failed");
            }
            let places = Places {
                _slot: slot,
                _source: source,
            };
            return (LimitedStream::new(stream, places, self.idle_timeout), addr);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection's places under the cap and in its source's share, freed
/// together when it closes.
#[derive(Debug)]
struct Places {
    _slot: Option<OwnedSemaphorePermit>,
    _source: UnauthenticatedSlot,
}

/// An accepted connection: holds its place under the cap, fails with
/// `TimedOut` once it has made no progress for the idle limit, and shows
/// what it reads to a [`HeadScanner`].
#[derive(Debug)]
pub struct LimitedStream {
    inner: TcpStream,
    _places: Places,
    idle_timeout: Duration,
    idle: Pin<Box<Sleep>>,
    heads: Arc<std::sync::Mutex<HeadScanner>>,
}

impl LimitedStream {
    fn new(inner: TcpStream, places: Places, idle_timeout: Duration) -> Self {
        LimitedStream {
            inner,
            _places: places,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            heads: Arc::default(),
        }
    }

    /// The scanner of this connection's request heads (for the service
    /// that answers them).
    pub fn heads(&self) -> Arc<std::sync::Mutex<HeadScanner>> {
        self.heads.clone()
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
                    self.heads
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .feed(&buf.filled()[before..]);
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

    #[test]
    fn the_over_share_answer_is_json_of_its_declared_length() {
        let text = std::str::from_utf8(OVER_SHARE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "unavailable");
        assert_eq!(per_source_cap(1024), 512);
        assert_eq!(per_source_cap(1), 1);
    }

    #[tokio::test]
    async fn one_source_holds_half_of_the_places_and_the_rest_are_refused() {
        let (mut listener, addr) = pair(4, Duration::from_secs(75)).await;
        let _clients: Vec<TcpStream> = {
            let mut v = Vec::new();
            for _ in 0..2 {
                v.push(TcpStream::connect(addr).await.unwrap());
            }
            v
        };
        let _held = [listener.accept().await, listener.accept().await];
        let mut third = TcpStream::connect(addr).await.unwrap();
        // The third from the same address is answered and closed while
        // the listener waits for a connection it may keep.
        let accept = tokio::time::timeout(Duration::from_millis(300), listener.accept());
        let (refused, accepted) = tokio::join!(
            async {
                let mut answer = Vec::new();
                third.read_to_end(&mut answer).await.unwrap();
                answer
            },
            accept
        );
        assert!(refused.starts_with(b"HTTP/1.1 503 "));
        assert!(accepted.is_err(), "nothing else was accepted");
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
