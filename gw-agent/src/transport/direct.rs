//! The `direct` transport: the host's own TCP connection to the OMP, no
//! module. A software gateway, and the load generator's building block.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use gmmp_codec::{Frame, GmmpCodec};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::FramedRead;

use super::{LinkStatus, Transport, TransportError};

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// GMMP over a plain TCP connection from the host.
#[derive(Debug)]
pub struct DirectTransport {
    addr: String,
    conn: Option<(FramedRead<OwnedReadHalf, GmmpCodec>, OwnedWriteHalf)>,
}

impl DirectTransport {
    /// A transport to `host:port` (not connected yet).
    pub fn new(host: &str, port: u16) -> Self {
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        DirectTransport { addr, conn: None }
    }

    /// The address connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Transport for DirectTransport {
    fn name(&self) -> &'static str {
        "direct"
    }

    async fn connect(&mut self) -> Result<(), TransportError> {
        self.conn = None;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| TransportError::ConnectTimeout {
                addr: self.addr.clone(),
                after: CONNECT_TIMEOUT,
            })?
            .map_err(|source| TransportError::Connect {
                addr: self.addr.clone(),
                source,
            })?;
        // Small frames, one request at a time: do not let Nagle hold them.
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        self.conn = Some((FramedRead::new(read, GmmpCodec), write));
        Ok(())
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        let (_, write) = self.conn.as_mut().ok_or(TransportError::NotConnected)?;
        write.write_all(&frame).await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<Frame>, TransportError> {
        let (read, _) = self.conn.as_mut().ok_or(TransportError::NotConnected)?;
        match read.next().await {
            Some(Ok(frame)) => Ok(Some(frame)),
            Some(Err(e)) => Err(e.into()),
            None => Ok(None),
        }
    }

    async fn close(&mut self) {
        if let Some((_, mut write)) = self.conn.take() {
            let _ = write.shutdown().await;
        }
    }

    fn link_status(&self) -> LinkStatus {
        LinkStatus {
            module: "none".into(),
            wifi: "n/a".into(),
        }
    }
}
