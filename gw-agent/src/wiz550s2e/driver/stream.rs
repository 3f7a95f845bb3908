//! Data mode on the port: AT+MDATA, then the port's bytes are the
//! connection's both ways, untouched, until `+++`
//! ([`escape`](Driver::escape)).
//!
//! ```text
//! AT+MDATA  →  [S]  <connection bytes…>        (reader: PORT_STREAM)
//! write_stream(bytes)  →  the module passes them to its connection
//! <guard> +++ <guard>  →  \r\n\r\n\r\n[W,0]\r\n[S,0]  (reader: PORT_LINES)
//! ```
//!
//! The reader switches on the `[S]` itself, in the middle of a read: the
//! bytes behind it in the same read are the connection's already, and go
//! out as [`Event::Stream`] whatever they hold.

use std::sync::atomic::{AtomicU8, Ordering};

use super::{Answering, Command, Driver, Error, Final, write_all};
use crate::wiz550s2e::data_mode::EnterDataMode;

/// The reader parses lines, events and records (command mode).
pub(super) const PORT_LINES: u8 = 0;
/// AT+MDATA is in flight: its `[S]` turns the reader to [`PORT_STREAM`].
pub(super) const PORT_ARMED: u8 = 1;
/// The reader passes every byte on as [`Event::Stream`](super::Event::Stream).
pub(super) const PORT_STREAM: u8 = 2;

/// True (once) when the reader is armed: the success just read is
/// AT+MDATA's, and the port is the connection's from here on.
pub(super) fn begins_stream(port_mode: &AtomicU8) -> bool {
    port_mode
        .compare_exchange(PORT_ARMED, PORT_STREAM, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// The CR LF ending AT+MDATA's `[S]` line, still to be dropped from the
/// start of the stream: the parser split the line before it, and it may
/// come in the next read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LineEnd(usize);

impl LineEnd {
    /// The whole CR LF still to come.
    pub(super) fn pending() -> Self {
        LineEnd(0)
    }

    /// Nothing (more) to drop.
    pub(super) fn done() -> Self {
        LineEnd(2)
    }

    /// `bytes` without the part of the CR LF at their start; the first
    /// other byte ends the dropping (a module that ended the line in LF
    /// alone).
    pub(super) fn strip<'a>(&mut self, mut bytes: &'a [u8]) -> &'a [u8] {
        while let (Some(want), Some(got)) = (b"\r\n".get(self.0), bytes.first()) {
            if want != got {
                *self = LineEnd::done();
                break;
            }
            self.0 += 1;
            bytes = &bytes[1..];
        }
        bytes
    }
}

impl Driver {
    /// AT+MDATA: data mode once it answers `[S]`; the module's connection
    /// (working mode `C`: to its AT+MMODE target) is its own from then on.
    pub async fn enter_data_mode(&self) -> Result<(), Error> {
        let line = EnterDataMode.line();
        let timeout = EnterDataMode.timeout(&self.inner.timeouts);
        let mode = &self.inner.port_mode;
        let mut ex = self.lock().await;
        let _guard = self.begin(&mut ex);
        // Armed only with the exchange ours: no other command's `[S]` can
        // come while it is.
        mode.store(PORT_ARMED, Ordering::SeqCst);
        let written = write_all(&mut ex, &[line.as_bytes(), b"\r\n"]).await;
        let answer = match written {
            Ok(()) => self.await_final(&mut ex, Answering::AtOnce, timeout).await,
            Err(e) => Err(e),
        };
        // Not answered `[S]`: the reader must not take a later success
        // for it.
        let _ = mode.compare_exchange(PORT_ARMED, PORT_LINES, Ordering::SeqCst, Ordering::SeqCst);
        match answer? {
            Some(Final::Done(_)) if self.in_data_mode() => Ok(()),
            Some(Final::Done(_)) => Err(Error::InvalidArgument {
                command: "AT+MDATA",
                reason: "answered, but not by its own [S]".into(),
            }),
            Some(Final::Failed { code, param }) => Err(Error::Module {
                command: line,
                code,
                param,
            }),
            None => Err(self.recover(&mut ex, line, timeout).await),
        }
    }

    /// Whether the port carries the data-mode connection.
    pub fn in_data_mode(&self) -> bool {
        self.inner.port_mode.load(Ordering::SeqCst) == PORT_STREAM
    }

    /// Writes `bytes` to the data-mode connection, as they are.
    pub async fn write_stream(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut ex = self.lock().await;
        if !self.in_data_mode() {
            return Err(Error::InvalidArgument {
                command: "data-mode write",
                reason: "the module is in command mode".into(),
            });
        }
        write_all(&mut ex, &[bytes]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_success_line_end_is_dropped_however_the_reads_split_it() {
        let mut end = LineEnd::pending();
        assert_eq!(end.strip(b"\r"), b"");
        assert_eq!(end.strip(b"\n\r\n\x01"), b"\r\n\x01", "only one CR LF");
        assert_eq!(end, LineEnd::done());
        assert_eq!(end.strip(b"\r\n"), b"\r\n");
        let mut lf_only = LineEnd::pending();
        assert_eq!(lf_only.strip(b"\n\x01"), b"\n\x01", "not a CR first: kept");
        let mut none = LineEnd::pending();
        assert_eq!(none.strip(b""), b"");
        assert_eq!(none.strip(b"\r\n[S]"), b"[S]");
    }
}
