//! The UART's two directions over the pty master, paced at the line rate
//! when asked: 10 bit times per byte (8N1), so 115200 bit/s carries 11520
//! bytes/s. Output is written in slices of about 10 ms of line time, each
//! followed by a sleep until the line would have sent it; input is read
//! the same way, so a host writing faster than the line blocks on the pty.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

/// Something for the output direction.
#[derive(Debug)]
pub(crate) enum UartOut {
    /// Bytes to send.
    Bytes(Bytes),
    /// Hold the line quiet for this long.
    Pause(Duration),
}

/// The current line rate, shared by both directions (AT+USET changes it).
#[derive(Debug, Clone)]
pub(crate) struct LineRate {
    baud: Arc<AtomicU32>,
    pace: bool,
}

impl LineRate {
    pub(crate) fn new(baud: u32, pace: bool) -> Self {
        LineRate {
            baud: Arc::new(AtomicU32::new(baud.max(1))),
            pace,
        }
    }

    pub(crate) fn set(&self, baud: u32) {
        self.baud.store(baud.max(1), Ordering::Relaxed);
    }

    fn baud(&self) -> u64 {
        u64::from(self.baud.load(Ordering::Relaxed))
    }

    /// Bytes per slice: about 10 ms of line time, at least 1.
    fn slice(&self) -> usize {
        usize::try_from(self.baud() / 1000)
            .unwrap_or(usize::MAX)
            .max(1)
    }

    /// Line time of `n` bytes.
    fn time_of(&self, n: usize) -> Duration {
        let nanos = (n as u128) * 10 * 1_000_000_000 / u128::from(self.baud());
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Advances `clock` by the line time of `n` bytes and sleeps until then.
    async fn spend(&self, clock: &mut Instant, n: usize) {
        if !self.pace {
            return;
        }
        let now = Instant::now();
        if *clock < now {
            *clock = now;
        }
        *clock += self.time_of(n);
        sleep_until(*clock).await;
    }
}

/// Writes everything sent on `rx` to the pty until the channel closes or
/// the pty fails.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    mut out: W,
    mut rx: mpsc::UnboundedReceiver<UartOut>,
    rate: LineRate,
) {
    let mut clock = Instant::now();
    while let Some(item) = rx.recv().await {
        match item {
            UartOut::Pause(d) => tokio::time::sleep(d).await,
            UartOut::Bytes(bytes) => {
                let slice = if rate.pace {
                    rate.slice()
                } else {
                    bytes.len().max(1)
                };
                for piece in bytes.chunks(slice) {
                    if let Err(e) = out.write_all(piece).await {
                        tracing::warn!("pty write failed: {e}");
                        return;
                    }
                    rate.spend(&mut clock, piece.len()).await;
                }
            }
        }
    }
}

/// Reads the pty and forwards what the host sent, paced like the line.
pub(crate) async fn read_loop<R: AsyncRead + Unpin>(
    mut input: R,
    tx: mpsc::UnboundedSender<Bytes>,
    rate: LineRate,
) {
    let mut clock = Instant::now();
    let mut buf = vec![0u8; 4096];
    loop {
        let limit = if rate.pace {
            rate.slice().min(buf.len())
        } else {
            buf.len()
        };
        match input.read(&mut buf[..limit]).await {
            Ok(0) => return,
            Ok(n) => {
                if tx.send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                    return;
                }
                rate.spend(&mut clock, n).await;
            }
            Err(e) => {
                tracing::warn!("pty read failed: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_takes_ten_bit_times() {
        let rate = LineRate::new(115_200, true);
        assert_eq!(rate.time_of(11_520), Duration::from_secs(1));
        assert_eq!(rate.slice(), 115);
        rate.set(9600);
        assert_eq!(rate.time_of(960), Duration::from_secs(1));
        assert_eq!(rate.slice(), 9);
    }
}
