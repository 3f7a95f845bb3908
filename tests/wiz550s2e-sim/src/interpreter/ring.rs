//! The UART receive ring (`rxring` in the firmware's `uartHandler.c`,
//! `UART_RRB_SIZE` bytes): the interrupt handler puts every byte the host
//! sends into it and drops the byte when it is full
//! (`Chip_UART_RXIntHandlerRB`); the main loop takes bytes out when it is
//! free to. While the firmware is busy — a record being handed to the
//! socket, AT+FDNS — what the host sends waits here.

use std::collections::VecDeque;

/// Bytes the UART receive ring holds (`UART_RRB_SIZE`).
pub const RX_RING: usize = 1024;

/// The receive ring.
#[derive(Debug, Default)]
pub(crate) struct RxRing {
    bytes: VecDeque<u8>,
    lost: u64,
}

impl RxRing {
    /// Puts `bytes` in, in order, as far as they fit; the rest is lost.
    /// Returns how many were lost.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> usize {
        let room = RX_RING - self.bytes.len();
        let kept = room.min(bytes.len());
        self.bytes.extend(&bytes[..kept]);
        let lost = bytes.len() - kept;
        self.lost += lost as u64;
        lost
    }

    /// Takes everything out (the main loop reads it in order).
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.bytes.drain(..).collect()
    }

    /// Puts back, at the front, what the main loop took but did not get to
    /// (it became busy halfway).
    pub(crate) fn put_back(&mut self, unread: &[u8]) {
        for &b in unread.iter().rev() {
            self.bytes.push_front(b);
        }
    }

    /// Empties the ring (`UART_buffer_flush`).
    pub(crate) fn flush(&mut self) {
        self.bytes.clear();
    }

    /// Bytes waiting.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Bytes lost to a full ring since power-up.
    pub(crate) fn lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_does_not_fit_is_lost_and_what_is_put_back_comes_first() {
        let mut ring = RxRing::default();
        assert_eq!(ring.put(&[1; 1000]), 0);
        assert_eq!(ring.put(&[2; 30]), 6);
        assert_eq!((ring.len(), ring.lost()), (1024, 6));
        let mut all = ring.take();
        assert_eq!(all.len(), 1024);
        ring.put(&[3]);
        ring.put_back(&all.split_off(1020));
        assert_eq!(ring.take(), [2, 2, 2, 2, 3]);
        ring.put(&[4]);
        ring.flush();
        assert_eq!(ring.len(), 0);
    }
}
