//! One task per TCP connection: read frames, handle each request in order,
//! answer each one. The rules below are decided by the connection's
//! [`Machine`], without IO; this module is the IO loop around it (read
//! frames, write answers and pushes, sleep until the machine's next
//! deadline), `handling` acts on its decisions with the handlers, and
//! `respond` encodes and writes the answers.
//!
//! Life of a session:
//! - New connection: it must send a valid frame within
//!   `first_frame_timeout`, and stays under that idle limit until it is
//!   bound to a GW; and it must bind within `auth_timeout` of connecting,
//!   whatever it sends (refused frames do not keep it open). Until it
//!   binds it holds a place under the listener's unauthenticated caps
//!   ([`UnauthenticatedSlot`]), and is closed between requests when a
//!   newer connection takes that place (`listen::shed`).
//! - Every frame: once its first byte is in, its last must follow within
//!   `frame_timeout`. The idle limits restart only on whole frames, so
//!   without this a peer trickling one byte at a time (slowloris) would be
//!   held to the idle limit only — 20 minutes for a bound GW by default,
//!   forever with a heartbeat period of 0.
//! - Bound: a GW registration, or any request that authenticates, binds
//!   the connection to that GW in the [`Registry`](crate::registry) (an
//!   older session of the same GW is closed). The idle limit becomes the
//!   GW's heartbeat period × `heartbeat_grace`; a period of 0 means never
//!   closed for silence.
//! - A control response (0x0E) has no answer: it is taken only when it
//!   authenticates as the GW the connection is bound to (key, GW ID,
//!   domain), otherwise counted and ignored.
//! - Closed by the registry: replaced by a newer session of its GW, or
//!   its approval removed ([`crate::revocation`]).
//! - A malformed frame closes this connection only (GMMP has no frame
//!   marker to re-synchronise on). A refused request is answered rc 0x04
//!   where its response has a result code; otherwise (heartbeat) the
//!   connection is closed.
//! - Shutdown is checked between frames, so a request being handled (a
//!   delivery waiting for its commit) is finished and answered first.
//!
//! Memory: the read buffer starts at 64 bytes and grows to at most one
//! frame (the codec refuses longer ones); responses are written straight
//! from a small buffer (no `FramedWrite`, whose 8 KiB buffer per session
//! would break the 4 KiB-per-idle-session budget); the handlers' futures
//! are boxed per request, so an idle task does not carry their size; the
//! push [`Outbox`] allocates nothing while empty.
//!
//! Logs: a peer can cause malformed frames and refused requests at will,
//! so they are logged at warn level within a [`LogBudget`] (and only the
//! first refusal of each connection), otherwise at debug level; a
//! connection that never bound logs its end at debug level, with the count
//! of its refused requests.
//!
//! Buffered bytes per connection are capped: the read buffer by the
//! codec's largest frame (2142 bytes), pushed frames by the outbox's
//! capacity. Split deliveries are held by the writer, not the connection
//! (their parts may come over several), within `max_connection_buffer`
//! bytes each.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use gmmp_codec::{CodecError, Frame, GmmpCodec};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::cluster::Kind;
use crate::gmmp::log_budget::LogBudget;
use crate::gmmp::presence;
use crate::listen::{self, UnauthenticatedSlot};
use crate::registry::Outbox;
use crate::state::Shared;

mod handling;
pub mod machine;
mod respond;

pub use machine::silence_limit;
use machine::{Expiry, Machine, Timeouts};

const INITIAL_READ_CAPACITY: usize = 64;
/// Warn lines per second for events a peer causes at will.
static PEER_FAULT_LOG: LogBudget = LogBudget::new(10);
/// An idle deadline far enough to mean never, for the one timer a session
/// keeps armed (see `serve`).
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// What handling one frame asks of the session.
enum Next {
    Continue,
    Close(&'static str),
}

struct Session {
    state: Arc<Shared>,
    id: u64,
    peer: SocketAddr,
    write: OwnedWriteHalf,
    close: CancellationToken,
    /// The protocol state: binding, deadlines, refusals.
    machine: Machine,
    /// Frames pushed to the bound GW (controls); `None` while unbound.
    outbox: Option<Arc<Outbox>>,
    /// Held while unbound (see the listener's caps).
    unauthenticated: Option<UnauthenticatedSlot>,
    /// Response buffer, reused (see `respond`).
    out: BytesMut,
}

/// The session clock: tokio's, so that a paused test clock governs the
/// deadlines too, as a std instant for the machine.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Runs one connection to its end. `_permit` holds a place under the
/// connection cap until the session ends, `unauthenticated` one under the
/// unauthenticated caps until it binds to a GW.
pub async fn run(
    state: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    unauthenticated: UnauthenticatedSlot,
    shutdown: CancellationToken,
) {
    state
        .metrics
        .connections_open
        .fetch_add(1, Ordering::Relaxed);
    let (read, write) = stream.into_split();
    let mut frames = FramedRead::with_capacity(read, GmmpCodec, INITIAL_READ_CAPACITY);
    let mut session = Session {
        id: state.next_session_id(),
        machine: Machine::new(Timeouts::from_config(&state.config), now()),
        state,
        peer,
        write,
        close: CancellationToken::new(),
        outbox: None,
        unauthenticated: Some(unauthenticated),
        out: BytesMut::new(),
    };
    tracing::debug!(%peer, session = session.id, "connection opened");
    let reason = session.serve(&mut frames, &shutdown).await;
    if let Some(b) = session.machine.bound() {
        if session.state.registry.unbind(&b.gw_id, session.id) {
            let why = presence::Offline::of_session_end(reason);
            session
                .state
                .note_event(presence::offline(&b.gw_id, peer, why, reason));
        }
        if let Some(cluster) = &session.state.cluster {
            cluster.release(Kind::Gmmp, &b.gw_id, session.id);
        }
        session
            .state
            .control
            .disconnected(&b.gw_id, session.id)
            .await;
    }
    let _ = session.write.shutdown().await;
    session
        .state
        .metrics
        .connections_open
        .fetch_sub(1, Ordering::Relaxed);
    let refused = session.machine.refusals();
    if session.unauthenticated.is_some() {
        // Never bound to a GW: scans and attacks end here by the thousand.
        tracing::debug!(%peer, reason, refused, "connection closed");
    } else {
        tracing::info!(%peer, gw_id = session.machine.gw_id(), reason, refused, "connection closed");
    }
}

/// What the read side brings.
enum Read {
    /// A whole frame.
    Frame(Frame),
    /// The first bytes of a frame (buffered, not yet whole).
    Started,
    /// Undecodable input, or a read error.
    Failed(CodecError),
    /// End of stream.
    End,
}

impl Session {
    async fn serve(
        &mut self,
        frames: &mut FramedRead<OwnedReadHalf, GmmpCodec>,
        shutdown: &CancellationToken,
    ) -> &'static str {
        // One timer, moved to the machine's next deadline whenever it
        // changes (not one timer per frame).
        let mut armed = self.machine.poll_timeout();
        let timer = tokio::time::sleep_until(tokio::time::Instant::from_std(
            armed.unwrap_or_else(|| now() + NEVER),
        ));
        tokio::pin!(timer);
        // Made once, not per frame: each `cancelled()` made anew locks the
        // token's tree and registers a waiter again.
        let shutting_down = shutdown.cancelled();
        tokio::pin!(shutting_down);
        let close = self.close.clone();
        let replaced = close.cancelled();
        tokio::pin!(replaced);
        loop {
            let deadline = self.machine.poll_timeout();
            if deadline != armed {
                if let Some(at) = deadline {
                    timer.as_mut().reset(tokio::time::Instant::from_std(at));
                }
                armed = deadline;
            }
            let push = async {
                match self.outbox.as_ref() {
                    Some(outbox) => outbox.next().await,
                    None => std::future::pending().await,
                }
            };
            let in_progress = self.machine.frame_in_progress();
            tokio::select! {
                biased;
                () = &mut shutting_down => return "server shutting down",
                () = &mut replaced => return self.closed_by_registry(),
                () = listen::shed(self.unauthenticated.as_ref()) => return listen::SHED_REASON,
                read = next_read(frames, in_progress) => match read {
                    Read::Started => self.machine.frame_started(now()),
                    Read::End => return "peer closed",
                    Read::Failed(e) => return self.malformed(e),
                    Read::Frame(frame) => {
                        self.state.metrics.frames_in.fetch_add(1, Ordering::Relaxed);
                        // Boxed: the handlers' futures (sqlx queries) are large, and
                        // an idle session must not carry their space.
                        match Box::pin(self.handle(frame)).await {
                            Next::Continue => {}
                            Next::Close(reason) => return reason,
                        }
                        self.machine.handled(now());
                    }
                },
                bytes = push => {
                    if let Err(reason) = self.write_bytes(&bytes).await {
                        return reason;
                    }
                }
                () = &mut timer, if armed.is_some() => {
                    // Re-armed on the next turn even when the deadline is
                    // unchanged: an elapsed timer would fire again at once.
                    armed = None;
                    if let Some(expiry) = self.machine.handle_timeout(now()) {
                        self.expired(expiry, frames.read_buffer().len());
                        return expiry.reason();
                    }
                }
            }
        }
    }

    /// Why the registry closed this session: another session of its GW
    /// took its place (here or on another instance), or the GW's approval
    /// was removed (nothing took it).
    fn closed_by_registry(&self) -> &'static str {
        let gw_id = self.machine.gw_id();
        let cluster = self.state.cluster.as_ref();
        if cluster.is_some_and(|c| c.taken_by(Kind::Gmmp, gw_id, self.id).is_some()) {
            return "replaced by a newer session of the same GW on another instance";
        }
        match self.state.registry.get(gw_id) {
            Some(other) if other.id != self.id => "replaced by a newer session of the same GW",
            _ => "the GW's approval was removed",
        }
    }

    /// Logs the close of a connection by a deadline.
    fn expired(&self, expiry: Expiry, buffered: usize) {
        match expiry {
            Expiry::FrameNotCompleted(limit) => tracing::info!(peer = %self.peer,
                gw_id = self.machine.gw_id(), buffered, ?limit,
                "frame not completed in time; closing"),
            Expiry::NotAuthenticated(limit) => tracing::info!(peer = %self.peer, ?limit,
                "not bound to a GW in time; closing"),
            Expiry::Silent(limit) => tracing::info!(peer = %self.peer,
                gw_id = self.machine.gw_id(), ?limit, "silent past the limit; closing"),
        }
    }

    /// Counts and logs undecodable input; the reason the connection closes.
    fn malformed(&self, e: CodecError) -> &'static str {
        self.state
            .metrics
            .malformed_frames
            .fetch_add(1, Ordering::Relaxed);
        if let CodecError::Io(io) = &e {
            tracing::info!(peer = %self.peer, gw_id = self.machine.gw_id(), error = %io, "read failed");
            return "read error";
        }
        match PEER_FAULT_LOG.take() {
            Some(left_out) => tracing::warn!(peer = %self.peer, gw_id = self.machine.gw_id(),
                kind = e.kind(), error = %e, left_out,
                "malformed frame; closing this connection"),
            None => tracing::debug!(peer = %self.peer, kind = e.kind(), error = %e,
                "malformed frame; closing this connection"),
        }
        "malformed frame"
    }
}

/// The next thing the read side brings. [`Read::Started`] comes once per
/// frame, when its first bytes are buffered and `frame_in_progress` is
/// still false (the machine then holds the frame's deadline), so the
/// select loop may drop this future whenever another branch (a push) wins
/// without losing that deadline.
async fn next_read(
    frames: &mut FramedRead<OwnedReadHalf, GmmpCodec>,
    frame_in_progress: bool,
) -> Read {
    std::future::poll_fn(|cx| match frames.poll_next_unpin(cx) {
        Poll::Ready(Some(Ok(frame))) => Poll::Ready(Read::Frame(frame)),
        Poll::Ready(Some(Err(e))) => Poll::Ready(Read::Failed(e)),
        Poll::Ready(None) => Poll::Ready(Read::End),
        Poll::Pending if !frame_in_progress && !frames.read_buffer().is_empty() => {
            Poll::Ready(Read::Started)
        }
        Poll::Pending => Poll::Pending,
    })
    .await
}
