//! AT+NSEND: one send, or a stream of them with each next line written
//! right behind the previous record's data (the rules are in
//! [`pipeline`](crate::wiz550s2e::pipeline)).
//!
//! ```text
//! AT+NSEND=0,n1   →  [W,0]
//! <n1 bytes> AT+NSEND=0,n2      (the line before [S,0]: it waits in the ring)
//!                 →  [S,0] [W,0]
//! <n2 bytes>      →  [S,0]
//! ```
//!
//! The answers stay in order: a record's `[S,0]` / `[F,…]`, then the
//! answer to the line queued behind it. Each record's data is written only
//! after its own `[W,0]`.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::time::{Instant, timeout_at};

use super::{Answering, Driver, Error, ErrorCode, Exchange, Final, Incoming, write_all};
use crate::wiz550s2e::pipeline::{Record, Records, fits_ahead, nsend_line};
use crate::wiz550s2e::reply::ReplyLine;

/// What answered an AT+NSEND line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoAhead {
    /// `[W,<sock>]`: the module reads the record's bytes next.
    Ready,
    /// `[F,,<code>[,<param>]]`: no bytes are read for it.
    Refused { code: ErrorCode, param: Option<u32> },
    /// Nothing within `command`.
    Silent,
}

impl Driver {
    /// Sends `data` on `sock` with AT+NSEND, in records of at most
    /// [`MAX_RECORD`](crate::wiz550s2e::MAX_RECORD) bytes, each record's
    /// line written behind the data of the one before (see
    /// [`send_pipelined`](Self::send_pipelined)).
    pub async fn send(&self, sock: u8, data: &[u8]) -> Result<(), Error> {
        let mut data = Some(Bytes::copy_from_slice(data));
        self.send_pipelined(sock, || data.take()).await.map(drop)
    }

    /// AT+NSEND for a stream of chunks: sends what `next` yields, in order,
    /// each chunk in records of at most
    /// [`MAX_RECORD`](crate::wiz550s2e::MAX_RECORD) bytes, until `next`
    /// yields `None` or another call waits for the driver (it then gets its
    /// turn once the chunk begun is out; call again for the rest). Returns
    /// how many non-empty chunks went out (empty ones are skipped).
    ///
    /// The next record's AT+NSEND line is written right behind a record's
    /// data, before its `[S,0]`: the firmware reads it from its receive
    /// ring once the data is in and answers it right after the `[S,0]`.
    /// A busy answer (`[F,,7,<free>]`) is tried again after `busy_retry`,
    /// up to `busy_attempts` times in a row.
    ///
    /// On an error the chunks not yet out are lost to the caller (it took
    /// them from `next`): a caller that must not lose them keeps its own
    /// copy — the agent's spool does.
    pub async fn send_pipelined<F>(&self, sock: u8, mut next: F) -> Result<usize, Error>
    where
        F: FnMut() -> Option<Bytes>,
    {
        let t = &self.inner.timeouts;
        let mut records = Records::default();
        let Some(mut record) = records.next(Some(&mut next)) else {
            return Ok(0);
        };
        let mut ex = self.lock().await;
        let _guard = self.begin(&mut ex);
        let mut line = nsend_line(sock, record.data.len());
        write_line(&mut ex, &line).await?;
        let mut busy = 0;
        let mut sent = 0;
        loop {
            match self.await_go_ahead(&mut ex).await? {
                GoAhead::Ready => busy = 0,
                GoAhead::Refused {
                    code: ErrorCode::Busy,
                    ..
                } if busy < t.busy_attempts => {
                    busy += 1;
                    tokio::time::sleep(t.busy_retry).await;
                    write_line(&mut ex, &line).await?;
                    continue;
                }
                GoAhead::Refused { code, param } => {
                    return Err(Error::Module {
                        command: line,
                        code,
                        param,
                    });
                }
                GoAhead::Silent => {
                    // The go-ahead may have been lost rather than never
                    // sent: the firmware then waits, without a timeout, for
                    // the bytes. NULs complete that payload (the session is
                    // over anyway), and in command mode the firmware drops
                    // control bytes, so they are harmless there.
                    self.pad(&mut ex, record.data.len()).await?;
                    return Err(self.recover(&mut ex, line, t.command).await);
                }
            }
            write_all(&mut ex, &[&record.data]).await?;
            let following = match self.others_wait() {
                true => records.next::<F>(None),
                false => records.next(Some(&mut next)),
            }
            .map(|r| (nsend_line(sock, r.data.len()), r));
            let queued = following
                .as_ref()
                .is_some_and(|(l, _)| fits_ahead(record.data.len(), l.len() + 2));
            if let (true, Some((next_line, _))) = (queued, &following) {
                write_line(&mut ex, next_line).await?;
            }
            match self.await_final(&mut ex, Answering::AtOnce, t.send).await? {
                Some(Final::Done(_)) => sent += usize::from(record.ends_chunk),
                Some(Final::Failed { code, param }) => {
                    if let (true, Some((next_line, next_record))) = (queued, following) {
                        self.finish_queued(&mut ex, next_line, &next_record).await;
                    }
                    return Err(Error::Module {
                        command: line,
                        code,
                        param,
                    });
                }
                None => {
                    if let (true, Some((_, next_record))) = (queued, &following) {
                        // The module may have taken that line and answered
                        // `[W,0]` unseen: it would read the re-sync `AT`s
                        // as that record's bytes.
                        self.pad(&mut ex, next_record.data.len()).await?;
                    }
                    return Err(self.recover(&mut ex, line, t.send).await);
                }
            }
            let Some((next_line, next_record)) = following else {
                return Ok(sent);
            };
            if !queued {
                write_line(&mut ex, &next_line).await?;
            }
            line = next_line;
            record = next_record;
        }
    }

    /// `len` NULs in place of a record's bytes, counted
    /// ([`padded_records`](Self::padded_records)).
    async fn pad(&self, ex: &mut Exchange, len: usize) -> Result<(), Error> {
        self.inner.padded_records.fetch_add(1, Ordering::Relaxed);
        write_all(ex, &[&vec![0u8; len]]).await
    }

    /// Waits for the answer to an AT+NSEND line.
    async fn await_go_ahead(&self, ex: &mut Exchange) -> Result<GoAhead, Error> {
        let deadline = Instant::now() + self.inner.timeouts.command;
        loop {
            match timeout_at(deadline, ex.replies.recv()).await {
                Err(_) => return Ok(GoAhead::Silent),
                Ok(None) => return Err(Error::Closed),
                Ok(Some(Incoming::Line(ReplyLine::Wait { .. }))) => return Ok(GoAhead::Ready),
                Ok(Some(Incoming::Line(ReplyLine::Failure { code, param, .. }))) => {
                    return Ok(GoAhead::Refused { code, param });
                }
                Ok(Some(other)) => tracing::debug!(?other, "before the AT+NSEND go-ahead"),
            }
        }
    }

    /// After a record failed, the line queued behind it: the module parses
    /// it anyway. When it is accepted, NULs of its length are its bytes —
    /// the module must not read later commands as them, and the record's
    /// own frames must not reach the peer after the failed one's were lost.
    /// The outcome is only logged: the failed record is the error to report.
    async fn finish_queued(&self, ex: &mut Exchange, line: String, record: &Record) {
        let t = &self.inner.timeouts;
        let outcome = match self.await_go_ahead(ex).await {
            Ok(GoAhead::Ready) => match self.pad(ex, record.data.len()).await {
                Ok(()) => self.await_final(ex, Answering::AtOnce, t.send).await,
                Err(e) => Err(e),
            },
            Ok(GoAhead::Refused { code, param }) => Ok(Some(Final::Failed { code, param })),
            Ok(GoAhead::Silent) => match self.pad(ex, record.data.len()).await {
                Ok(()) => Ok(None),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Some(Final::Done(_))) => tracing::debug!(%line, "queued AT+NSEND filled with NULs"),
            Ok(Some(Final::Failed { code, .. })) => {
                tracing::debug!(%line, %code, "queued AT+NSEND refused after a failed one");
            }
            Ok(None) => {
                let error = self.recover(ex, line, t.send).await;
                tracing::debug!(%error, "queued AT+NSEND unanswered");
            }
            Err(error) => tracing::debug!(%line, %error, "queued AT+NSEND"),
        }
    }
}

async fn write_line(ex: &mut Exchange, line: &str) -> Result<(), Error> {
    write_all(ex, &[line.as_bytes(), b"\r\n"]).await
}
