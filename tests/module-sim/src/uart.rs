//! The UART's two directions over the pty master, paced at the line rate
//! when asked: 10 bit times per byte (8N1), so 115200 bit/s carries 11520
//! bytes/s. Output is written in slices of about 10 ms of line time, each
//! followed by a sleep until the line would have sent it; input is read
//! the same way, so a host writing faster than the line blocks on the pty.
//!
//! Each direction keeps a line clock: when the line would have finished
//! sending what it was given. Bytes that were already waiting when the
//! previous slice ended follow on that clock, as on a real UART whose
//! transmit buffer is never empty; only bytes that had to be waited for
//! start the clock again from now. (Restarting from now after every
//! slice made each tokio timer's lateness, up to its 1 ms resolution per
//! 10 ms slice, count as idle line: a busy line ran at about 90 % of its
//! rate.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

/// Something for the output direction.
#[derive(Debug)]
pub enum UartOut {
    /// Bytes to send.
    Bytes(Bytes),
    /// Hold the line quiet for this long.
    Pause(Duration),
}

/// The current line rate, shared by both directions (a module's baud-rate
/// command changes it while running).
#[derive(Debug, Clone)]
pub struct LineRate {
    baud: Arc<AtomicU32>,
    pace: bool,
}

impl LineRate {
    /// `baud` bit/s; paced only when `pace`.
    pub fn new(baud: u32, pace: bool) -> Self {
        LineRate {
            baud: Arc::new(AtomicU32::new(baud.max(1))),
            pace,
        }
    }

    /// Changes the rate for both directions.
    pub fn set(&self, baud: u32) {
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

    /// When the line is done with `n` more bytes: they follow the line's
    /// `clock`, unless they had to be waited for (then they start `now`).
    fn advance(&self, clock: Instant, now: Instant, n: usize, waited: bool) -> Instant {
        let start = if waited { clock.max(now) } else { clock };
        start + self.time_of(n)
    }

    /// Advances `clock` by the line time of `n` bytes and sleeps until then.
    /// `waited` says the bytes were not there when the line became free,
    /// so the line was idle in between and its clock starts from now.
    async fn spend(&self, clock: &mut Instant, n: usize, waited: bool) {
        if !self.pace {
            return;
        }
        *clock = self.advance(*clock, Instant::now(), n, waited);
        sleep_until(*clock).await;
    }
}

/// Writes everything sent on `rx` to the pty until the channel closes or
/// the pty fails.
pub async fn write_loop<W: AsyncWrite + Unpin>(
    mut out: W,
    mut rx: mpsc::UnboundedReceiver<UartOut>,
    rate: LineRate,
) {
    let mut clock = Instant::now();
    loop {
        let (item, waited) = match rx.try_recv() {
            Ok(item) => (item, false),
            Err(mpsc::error::TryRecvError::Empty) => match rx.recv().await {
                Some(item) => (item, true),
                None => return,
            },
            Err(mpsc::error::TryRecvError::Disconnected) => return,
        };
        match item {
            UartOut::Pause(d) => {
                tokio::time::sleep(d).await;
                // The quiet time is not line time to make up for.
                clock = clock.max(Instant::now());
            }
            UartOut::Bytes(bytes) => {
                let slice = if rate.pace {
                    rate.slice()
                } else {
                    bytes.len().max(1)
                };
                for (i, piece) in bytes.chunks(slice).enumerate() {
                    if let Err(e) = out.write_all(piece).await {
                        tracing::warn!("pty write failed: {e}");
                        return;
                    }
                    rate.spend(&mut clock, piece.len(), waited && i == 0).await;
                }
            }
        }
    }
}

/// Reads the pty and forwards what the host sent, paced like the line.
pub async fn read_loop<R: AsyncRead + Unpin>(
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
        // Polled once first: ready at once means the bytes were waiting.
        let mut read = std::pin::pin!(input.read(&mut buf[..limit]));
        let (result, waited) = match futures::poll!(read.as_mut()) {
            std::task::Poll::Ready(result) => (result, false),
            std::task::Poll::Pending => (read.await, true),
        };
        match result {
            Ok(0) => return,
            Ok(n) => {
                if tx.send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                    return;
                }
                rate.spend(&mut clock, n, waited).await;
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

    #[test]
    fn a_late_timer_is_not_idle_line_but_a_wait_for_bytes_is() {
        let rate = LineRate::new(115_200, true);
        let slice = rate.time_of(115);
        let clock = Instant::now();
        // The sleep until `clock` woke 1 ms late; the next slice was already
        // waiting, so it ends one slice after `clock`, not after the wake.
        let late = clock + Duration::from_millis(1);
        assert_eq!(rate.advance(clock, late, 115, false), clock + slice);
        // The next bytes came 5 ms after the line went quiet: idle line.
        let quiet = clock + Duration::from_millis(5);
        assert_eq!(rate.advance(clock, quiet, 115, true), quiet + slice);
        // Bytes waited for but there before the line was free still queue.
        let early = clock - Duration::from_millis(1);
        assert_eq!(rate.advance(clock, early, 115, true), clock + slice);
    }
}
