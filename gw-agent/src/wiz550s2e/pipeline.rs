//! AT+NSEND records without IO: how the driver cuts what it sends into
//! records, and how far it may write ahead of the module's answers.
//!
//! The firmware (`atc_run` in `WIZ550S2E_App/src/ATcmd/atcmd.c`) takes the
//! UART's bytes one at a time from a 1,024-byte receive ring that the UART
//! interrupt fills: it copies a record's bytes until the record's length,
//! sends them, answers `[S,0]` (or `[F,,13]`), and only then parses what
//! follows. An AT+NSEND line written right behind a record's data therefore
//! waits in the ring and is answered (`[W,0]`, or `[F,…]`) just after the
//! record's own answer, and the host → module line need not idle while
//! those answers travel back behind received data.
//!
//! The ring's interrupt handler drops what does not fit, and the main loop
//! may leave the ring unread for a while (before it prints received data it
//! waits for its UART output to drain), so every byte written after the
//! last point an answer proves read must be taken as unread. `[W,0]` proves
//! its line read; a record's `[S,0]` / `[F,…]` proves its data read. The
//! driver writes a record's data only after that record's `[W,0]`, so what
//! can be unread at once is that data and the next line written behind it:
//! [`fits_ahead`] keeps that within [`RX_RING`], and [`MAX_RECORD`] keeps
//! every record small enough for it. (The UART's 16-byte hardware FIFO in
//! front of the ring is not counted: the bound holds without it.)
//!
//! The next record's data is never written before its own `[W,0]`: had
//! its line been refused (`[F,,7,<free>]` busy, `[F,,11]`), the module
//! would parse those bytes as command lines.

use std::collections::VecDeque;

use bytes::Bytes;

/// Bytes the firmware's UART receive ring holds (`UART_RRB_SIZE`).
pub const RX_RING: usize = 1024;

/// The longest AT+NSEND line the driver writes, CR LF included:
/// `AT+NSEND=9,1024\r\n`.
const LONGEST_LINE: usize = "AT+NSEND=9,1024\r\n".len();

/// Most bytes of one record the driver writes (1,007): the ring less the
/// longest line, so the next record's line always fits behind the data.
/// Below the firmware's own limit, [`MAX_SEND`](super::MAX_SEND).
pub const MAX_RECORD: usize = RX_RING - LONGEST_LINE;

/// The AT+NSEND line for `len` bytes on `sock`, without its CR LF.
pub(crate) fn nsend_line(sock: u8, len: usize) -> String {
    format!("AT+NSEND={sock},{len}")
}

/// Whether an AT+NSEND line of `line` bytes (CR LF included) may be written
/// right behind `data` bytes of a record, before the record's answer: both
/// may still be unread in the ring then.
pub(crate) fn fits_ahead(data: usize, line: usize) -> bool {
    data + line <= RX_RING
}

/// One AT+NSEND record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// Its bytes, 1..=[`MAX_RECORD`].
    pub(crate) data: Bytes,
    /// Whether it is the last record of what the caller handed over.
    pub(crate) ends_chunk: bool,
}

/// Records waiting for their AT+NSEND, in order.
#[derive(Debug, Default)]
pub(crate) struct Records {
    queue: VecDeque<Record>,
}

impl Records {
    /// The next record: a queued one, else the first cut from the next
    /// non-empty chunk `more` yields (an empty chunk needs no AT+NSEND).
    /// `None` when nothing is queued and `more` is not given or runs dry.
    pub(crate) fn next<F>(&mut self, more: Option<&mut F>) -> Option<Record>
    where
        F: FnMut() -> Option<Bytes>,
    {
        if self.queue.is_empty() {
            let more = more?;
            let chunk = std::iter::from_fn(more).find(|c| !c.is_empty())?;
            self.cut(chunk);
        }
        self.queue.pop_front()
    }

    /// Cuts `chunk` into records of at most [`MAX_RECORD`] bytes.
    fn cut(&mut self, chunk: Bytes) {
        let len = chunk.len();
        let mut start = 0;
        while start < len {
            let end = (start + MAX_RECORD).min(len);
            self.queue.push_back(Record {
                data: chunk.slice(start..end),
                ends_chunk: end == len,
            });
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_record_and_the_longest_line_fit_the_ring() {
        assert_eq!(MAX_RECORD, 1007);
        let longest = nsend_line(0, super::super::MAX_SEND).len() + 2;
        assert!(fits_ahead(MAX_RECORD, longest));
        assert!(!fits_ahead(MAX_RECORD + 1, longest));
        assert!(!fits_ahead(
            super::super::MAX_SEND,
            "AT+NSEND=0,1\r\n".len()
        ));
    }

    #[test]
    fn chunks_are_cut_into_records_and_their_ends_marked() {
        let big: Bytes = (0..2500u32).map(|i| i as u8).collect();
        let mut chunks = vec![Bytes::from_static(b"x"), Bytes::new(), big.clone()].into_iter();
        let mut more = || chunks.next();
        let mut records = Records::default();
        let first = records.next(Some(&mut more)).unwrap();
        assert_eq!((first.data.as_ref(), first.ends_chunk), (&b"x"[..], true));
        let cut: Vec<Record> = std::iter::from_fn(|| records.next(Some(&mut more))).collect();
        let lens: Vec<(usize, bool)> = cut.iter().map(|r| (r.data.len(), r.ends_chunk)).collect();
        assert_eq!(
            lens,
            [(1007, false), (1007, false), (486, true)],
            "the empty chunk is skipped"
        );
        let joined: Vec<u8> = cut.iter().flat_map(|r| r.data.to_vec()).collect();
        assert_eq!(joined, big);
    }

    #[test]
    fn queued_records_come_out_without_asking_for_more() {
        let mut records = Records::default();
        let mut once = Some(Bytes::from(vec![7u8; 1500]));
        let mut more = || once.take();
        assert_eq!(records.next(Some(&mut more)).unwrap().data.len(), 1007);
        let rest = records.next::<fn() -> Option<Bytes>>(None).unwrap();
        assert_eq!((rest.data.len(), rest.ends_chunk), (493, true));
        assert_eq!(records.next::<fn() -> Option<Bytes>>(None), None);
    }
}
