//! One real TCP connection per module socket.
//!
//! A socket task connects (binding the requested local port, if any),
//! reports the outcome, then forwards what the peer sends until it closes.
//! Writes go through a separate writer task fed by a channel: dropping the
//! sender flushes what is queued and half-closes the connection, which is
//! how AT+SMGMT and faults close a socket.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// What a socket task reports.
#[derive(Debug)]
pub enum SocketReport {
    /// The connection is up, from this local port.
    Connected {
        /// The local port the kernel (or the request) chose.
        local_port: u16,
    },
    /// The connection could not be made (refused, timed out).
    ConnectFailed,
    /// Bytes from the peer.
    Received(Bytes),
    /// The peer closed, or the connection broke.
    Closed,
}

/// Where to connect and how.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The peer.
    pub remote: SocketAddrV4,
    /// The local port to bind, 0 for any.
    pub local_port: u16,
    /// Longest wait for the handshake.
    pub timeout: Duration,
}

async fn connect(target: Target) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if target.local_port != 0 {
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, target.local_port)))?;
    }
    match tokio::time::timeout(target.timeout, socket.connect(target.remote.into())).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connect to {} timed out", target.remote),
        )),
    }
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(data) = rx.recv().await {
        if let Err(e) = wr.write_all(&data).await {
            tracing::debug!("socket write failed: {e}");
            return;
        }
    }
    let _ = wr.shutdown().await;
}

/// Runs one socket: `report` is called with every [`SocketReport`].
pub async fn run_socket(
    target: Target,
    rx: mpsc::UnboundedReceiver<Bytes>,
    report: impl Fn(SocketReport),
) {
    let stream = match connect(target).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::debug!("connect to {} failed: {e}", target.remote);
            report(SocketReport::ConnectFailed);
            return;
        }
    };
    // The modules' TCP stacks (the W5500's, the WizFi310's) send what they
    // are handed without Nagle's wait; a transparent data mode hands over
    // each UART read, and the host's Nagle would hold every frame's tail
    // for the peer's delayed ACK.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("TCP_NODELAY: {e}");
    }
    let local_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
    report(SocketReport::Connected { local_port });
    let (mut rd, wr) = stream.into_split();
    tokio::spawn(write_loop(wr, rx));
    let mut buf = vec![0u8; 8192];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => {
                report(SocketReport::Closed);
                return;
            }
            Ok(n) => report(SocketReport::Received(Bytes::copy_from_slice(&buf[..n]))),
        }
    }
}

/// The IO shell's handle on one running socket task. Dropping it closes
/// the socket: the writer flushes what is queued and half-closes, the
/// reader (or a pending connect) stops.
#[derive(Debug)]
pub struct SocketLink {
    generation: u64,
    tx: mpsc::UnboundedSender<Bytes>,
    task: tokio::task::AbortHandle,
}

impl SocketLink {
    /// Starts a socket task for `target`. `generation` tells this link's
    /// reports from those of an earlier link of the same module socket,
    /// which may still be in flight after it was replaced.
    pub fn open(
        target: Target,
        generation: u64,
        report: impl Fn(SocketReport) + Send + 'static,
    ) -> SocketLink {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_socket(target, rx, report));
        SocketLink {
            generation,
            tx,
            task: task.abort_handle(),
        }
    }

    /// The generation given to [`SocketLink::open`].
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Queues bytes for the peer (dropped if the connection is gone).
    pub fn send(&self, data: Bytes) {
        let _ = self.tx.send(data);
    }
}

impl Drop for SocketLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
