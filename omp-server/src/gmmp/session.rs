//! One task per TCP connection: read frames, handle each request in order,
//! answer each one.
//!
//! Life of a session:
//! - New connection: it must send a valid frame within
//!   `first_frame_timeout`, and stays under that idle limit until it is
//!   bound to a GW; and it must bind within `auth_timeout` of connecting,
//!   whatever it sends (refused frames do not keep it open). Until it
//!   binds it holds a place under the listener's unauthenticated caps
//!   ([`UnauthenticatedSlot`]).
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
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use gmmp_codec::{
    AuthId, AuthKey, CodecError, DomainCode, Frame, GmmpCodec, MAX_PAYLOAD_LEN, Message, ResultCode,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::control::Live;
use crate::directory::GatewayEntry;
use crate::error::StoreError;
use crate::gmmp::listener::UnauthenticatedSlot;
use crate::gmmp::log_budget::LogBudget;
use crate::gmmp::{
    auth, control, delivery, encryption, heartbeat, profile, registration, unsupported,
};
use crate::registry::{Outbox, SessionHandle};
use crate::state::Shared;

const INITIAL_READ_CAPACITY: usize = 64;
/// Warn lines per second for events a peer causes at will.
static PEER_FAULT_LOG: LogBudget = LogBudget::new(10);
/// Largest response buffer a session keeps between responses (a delivery
/// response is 93 or 97 bytes, a profile response 189).
const KEPT_OUT_CAPACITY: usize = 256;
/// A peer that does not take a response within this time is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The GW a connection is bound to.
struct Binding {
    auth_id: String,
    gw_id: String,
    outbox: Arc<Outbox>,
}

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
    binding: Option<Binding>,
    idle_limit: Option<Duration>,
    /// Held while unbound (see the listener's caps).
    unauthenticated: Option<UnauthenticatedSlot>,
    /// When the connection last became unbound (connect, deregistration).
    unbound_since: Instant,
    /// Requests refused on this connection.
    refusals: u64,
    /// Response buffer, reused (see `respond`).
    out: BytesMut,
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
        idle_limit: Some(state.config.first_frame_timeout),
        state,
        peer,
        write,
        close: CancellationToken::new(),
        binding: None,
        unauthenticated: Some(unauthenticated),
        unbound_since: Instant::now(),
        refusals: 0,
        out: BytesMut::new(),
    };
    tracing::debug!(%peer, session = session.id, "connection opened");
    let reason = session.serve(&mut frames, &shutdown).await;
    if let Some(b) = &session.binding {
        session.state.registry.unbind(&b.gw_id, session.id);
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
    let refused = session.refusals;
    if session.unauthenticated.is_some() {
        // Never bound to a GW: scans and attacks end here by the thousand.
        tracing::debug!(%peer, reason, refused, "connection closed");
    } else {
        tracing::info!(%peer, gw_id = session.gw_id(), reason, refused, "connection closed");
    }
}

impl Session {
    fn gw_id(&self) -> &str {
        self.binding.as_ref().map_or("", |b| b.gw_id.as_str())
    }

    async fn serve(
        &mut self,
        frames: &mut FramedRead<tokio::net::tcp::OwnedReadHalf, GmmpCodec>,
        shutdown: &CancellationToken,
    ) -> &'static str {
        let silence = tokio::time::sleep_until(self.silence_deadline());
        tokio::pin!(silence);
        // The deadline of a frame whose first bytes are in (see `next_frame`).
        let mut partial: Option<Pin<Box<Sleep>>> = None;
        let frame_timeout = self.state.config.frame_timeout;
        // Made once, not per frame: each `cancelled()` made anew locks the
        // token's tree and registers a waiter again.
        let shutting_down = shutdown.cancelled();
        tokio::pin!(shutting_down);
        let close = self.close.clone();
        let replaced = close.cancelled();
        tokio::pin!(replaced);
        loop {
            let push = async {
                match self.binding.as_ref() {
                    Some(b) => b.outbox.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = &mut shutting_down => return "server shutting down",
                () = &mut replaced => return "replaced by a newer session of the same GW",
                frame = next_frame(frames, &mut partial, frame_timeout) => match frame {
                    Err(Stalled) => {
                        tracing::info!(peer = %self.peer, gw_id = self.gw_id(),
                            buffered = frames.read_buffer().len(), limit = ?frame_timeout,
                            "frame not completed in time; closing");
                        return "frame not completed in time";
                    }
                    Ok(None) => return "peer closed",
                    Ok(Some(Err(e))) => {
                        self.state.metrics.malformed_frames.fetch_add(1, Ordering::Relaxed);
                        if let gmmp_codec::CodecError::Io(io) = &e {
                            tracing::info!(peer = %self.peer, gw_id = self.gw_id(), error = %io, "read failed");
                            return "read error";
                        }
                        match PEER_FAULT_LOG.take() {
                            Some(left_out) => tracing::warn!(peer = %self.peer, gw_id = self.gw_id(),
                                kind = e.kind(), error = %e, left_out,
                                "malformed frame; closing this connection"),
                            None => tracing::debug!(peer = %self.peer, kind = e.kind(), error = %e,
                                "malformed frame; closing this connection"),
                        }
                        return "malformed frame";
                    }
                    Ok(Some(Ok(frame))) => {
                        self.state.metrics.frames_in.fetch_add(1, Ordering::Relaxed);
                        // Boxed: the handlers' futures (sqlx queries) are large, and
                        // an idle session must not carry their space.
                        match Box::pin(self.handle(frame)).await {
                            Next::Continue => {}
                            Next::Close(reason) => return reason,
                        }
                        silence.as_mut().reset(self.silence_deadline());
                    }
                },
                bytes = push => {
                    if let Err(reason) = self.write_bytes(&bytes).await {
                        return reason;
                    }
                }
                () = &mut silence, if self.idle_limit.is_some() => {
                    if self.binding.is_none()
                        && self.unbound_since.elapsed() >= self.state.config.auth_timeout
                    {
                        tracing::info!(peer = %self.peer, limit = ?self.state.config.auth_timeout,
                            "not bound to a GW in time; closing");
                        return "not authenticated in time";
                    }
                    tracing::info!(peer = %self.peer, gw_id = self.gw_id(),
                        limit = ?self.idle_limit, "silent past the limit; closing");
                    return "silent";
                }
            }
        }
    }

    /// When silence closes the session, counted from now: the idle limit,
    /// and for an unbound connection no later than `auth_timeout` after it
    /// became unbound.
    fn silence_deadline(&self) -> Instant {
        let far = Duration::from_secs(365 * 24 * 3600);
        let idle = Instant::now() + self.idle_limit.unwrap_or(far);
        match self.binding {
            Some(_) => idle,
            None => idle.min(self.unbound_since + self.state.config.auth_timeout),
        }
    }

    async fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.write.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::info!(peer = %self.peer, error = %e, "write failed");
                Err("write error")
            }
            Err(_) => Err("write timed out"),
        }
    }

    /// Sends `response` to `request`, logs the exchange.
    async fn respond(&mut self, request: &Frame, response: Message, key: Option<AuthKey>) -> Next {
        let mut header = request.header.response();
        if let Some(key) = key {
            header.auth_key = key;
        }
        let frame = Frame::new(header, response);
        // The session's own buffer, kept between responses (one allocation
        // per session, not per response).
        let mut buf = std::mem::take(&mut self.out);
        buf.clear();
        buf.reserve(frame.encoded_len());
        // A long sentence answer can exceed one body: it goes in parts.
        let encoded = if frame
            .message
            .payload()
            .is_some_and(|p| p.len() > MAX_PAYLOAD_LEN)
        {
            gmmp_codec::split(&frame)
                .and_then(|parts| parts.iter().try_for_each(|part| part.encode(&mut buf)))
        } else {
            frame.encode(&mut buf)
        };
        if let Err(e) = encoded {
            tracing::error!(peer = %self.peer, error = %e, "cannot encode a response");
            return Next::Close("response encoding failed");
        }
        let rc = frame.message.result_code().map(|rc| rc.0);
        let refused = rc == Some(ResultCode::PERMISSION_DENIED.0);
        if refused
            && (self.refusals > 1 || (self.binding.is_none() && PEER_FAULT_LOG.take().is_none()))
        {
            // Repeated refusals on one connection, or refusals to unbound
            // connections past the budget: counted, not logged one by one.
            tracing::debug!(peer = %self.peer, tid = request.header.tid, rc, "gmmp");
        } else {
            macro_rules! exchange {
                ($level:ident) => {
                    tracing::$level!(
                        peer = %self.peer,
                        gw_id = self.gw_id(),
                        message_type = request.message_type().operation_name(),
                        tid = request.header.tid,
                        rc,
                        bytes = request.header.message_length,
                        "gmmp"
                    )
                };
            }
            // Deliveries and heartbeats answered OK are the steady stream
            // (tens of thousands a second under load): debug level. Every
            // other exchange, and any of them refused, is info.
            let routine = matches!(
                request.message,
                Message::DeliveryRequest(_) | Message::HeartbeatRequest(_)
            ) && rc.is_none_or(|c| c == ResultCode::OK.0);
            if routine {
                exchange!(debug);
            } else {
                exchange!(info);
            }
        }
        if self.state.config.trace_gmmp {
            tracing::info!(target: "omp_server::trace", "[OMP->GW] to {}\n{}", self.peer, frame.trace());
        }
        let written = self.write_bytes(&buf).await;
        // A long answer's buffer is not kept by an idle session.
        if buf.capacity() <= KEPT_OUT_CAPACITY {
            self.out = buf;
        }
        match written {
            Ok(()) => Next::Continue,
            Err(reason) => Next::Close(reason),
        }
    }

    async fn handle(&mut self, frame: Frame) -> Next {
        if self.state.config.trace_gmmp {
            tracing::info!(target: "omp_server::trace", "[GW->OMP] from {}\n{}", self.peer, frame.trace());
        }
        // One connection carries one GW: a frame of another auth_id on a
        // bound connection is refused before anything else happens.
        if let Some(b) = &self.binding
            && frame.header.auth_id.as_str() != Some(b.auth_id.as_str())
        {
            let refusal = auth::Refusal::OtherSession {
                bound: b.gw_id.clone(),
                got: frame.header.auth_id.to_string(),
            };
            return self.refuse(&frame, refusal).await;
        }
        if let Message::GwRegistrationRequest(req) = &frame.message {
            return match registration::register_gw(&self.state, self.peer, &frame.header, req).await
            {
                Ok(registration::GwRegistration::Accepted {
                    response,
                    key,
                    entry,
                }) => {
                    let auth_id = frame.header.auth_id.as_str().unwrap_or_default().to_owned();
                    if let Err(next) = self.bind(&auth_id, &entry).await {
                        return next;
                    }
                    self.respond(&frame, response, Some(key)).await
                }
                Ok(registration::GwRegistration::Refused(response)) => {
                    self.respond(&frame, response, None).await
                }
                Err(e) => self.failed(&frame, e).await,
            };
        }
        let message_type = frame.message_type();
        if !message_type.is_request() {
            return self.take_response(&frame).await;
        }
        let entry = match auth::authenticate(&self.state.directory, &frame.header, &frame.message) {
            Ok(entry) => entry,
            Err(refusal) => return self.refuse(&frame, refusal).await,
        };
        let auth_id = frame.header.auth_id.as_str().unwrap_or_default().to_owned();
        if let Err(next) = self.bind(&auth_id, &entry).await {
            return next;
        }
        self.state.touch(&entry.gw_id, self.peer);
        let state = self.state.clone();
        let s = &*state;
        let result: Result<Option<Message>, StoreError> = match &frame.message {
            Message::GwDeregistrationRequest(req) => {
                registration::deregister_gw(s, &auth_id, &entry, req)
                    .await
                    .map(Some)
            }
            Message::DeviceRegistrationRequest(req) => {
                registration::register_device(s, &auth_id, &entry, req)
                    .await
                    .map(Some)
            }
            Message::DeviceDeregistrationRequest(req) => {
                registration::deregister_device(s, &auth_id, &entry, req)
                    .await
                    .map(Some)
            }
            Message::ProfileRequest(req) => profile::answer(s, &entry, req).await.map(Some),
            Message::DeliveryRequest(req) => Ok(Some(
                delivery::deliver(s, self.peer, &entry, &frame.header, req).await,
            )),
            Message::HeartbeatRequest(req) => Ok(Some(heartbeat::answer(req))),
            Message::EncryptionInfoRequest(req) => encryption::info(s, &entry, req).await.map(Some),
            Message::EncryptionKeyRequest(req) => {
                encryption::set_key(s, &entry, req).await.map(Some)
            }
            Message::LongSentenceRequest(req) => Ok(Some(
                control::long_sentence(&s.control, &entry.gw_id, &frame.header, req)
                    .await
                    .into(),
            )),
            Message::NotificationRequest(req) => Ok(Some(
                control::notification(&s.control, &entry.gw_id, &frame.header, req)
                    .await
                    .into(),
            )),
            other => Ok(unsupported::answer(other)),
        };
        let next = match result {
            Ok(Some(response)) => self.respond(&frame, response, None).await,
            Ok(None) => Next::Close("request without a response form"),
            Err(e) => self.failed(&frame, e).await,
        };
        if matches!(frame.message, Message::GwDeregistrationRequest(_)) {
            self.unbind().await;
        }
        next
    }

    /// Binds this connection to the GW `entry` (first time only).
    async fn bind(&mut self, auth_id: &str, entry: &Arc<GatewayEntry>) -> Result<(), Next> {
        if let Some(b) = &self.binding {
            if b.gw_id == entry.gw_id {
                return Ok(());
            }
            tracing::warn!(peer = %self.peer, bound = %b.gw_id, got = %entry.gw_id,
                "a connection may carry one GW only; closing");
            return Err(Next::Close("second GW on one connection"));
        }
        let outbox = Arc::new(Outbox::default());
        let handle = SessionHandle {
            id: self.id,
            peer: self.peer,
            outbound: outbox.clone(),
            close: self.close.clone(),
        };
        if let Some(old) = self.state.registry.bind(&entry.gw_id, handle) {
            tracing::info!(gw_id = %entry.gw_id, old_peer = %old.peer, new_peer = %self.peer,
                "GW connected again; closing its older session");
        }
        self.binding = Some(Binding {
            auth_id: auth_id.to_owned(),
            gw_id: entry.gw_id.clone(),
            outbox,
        });
        // Bound: no longer counted among the unauthenticated.
        self.unauthenticated = None;
        let profile = match profile::effective(&self.state, &entry.gw_id, "").await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(gw_id = %entry.gw_id, error = %e, "profile lookup failed; using the default profile");
                self.state.config.profile_defaults.clone()
            }
        };
        self.idle_limit =
            silence_limit(profile.heartbeat_period, self.state.config.heartbeat_grace);
        self.announce_live(auth_id, entry, &profile).await;
        Ok(())
    }

    /// Tells the control dispatcher that this session now carries the GW
    /// `entry` (its queued controls can be pushed).
    async fn announce_live(
        &self,
        auth_id: &str,
        entry: &GatewayEntry,
        profile: &crate::config::ProfileDefaults,
    ) {
        let Some(b) = &self.binding else { return };
        // The stored IDs fit their fields: they were checked on the way in.
        let (Ok(auth_id), Ok(auth_key), Ok(domain)) = (
            AuthId::new("auth_id", auth_id),
            AuthKey::new("auth_key", &entry.auth_key),
            DomainCode::new("domain_code", &entry.domain),
        ) else {
            tracing::error!(gw_id = %entry.gw_id, "stored IDs do not fit GMMP; controls cannot be pushed");
            return;
        };
        let live = Live {
            session: self.id,
            auth_id,
            auth_key,
            domain,
            outbox: b.outbox.clone(),
            response_timeout: Duration::from_secs(u64::from(profile.response_timeout)),
        };
        self.state.control.connected(&entry.gw_id, live).await;
    }

    async fn unbind(&mut self) {
        if let Some(b) = self.binding.take() {
            self.state.registry.unbind(&b.gw_id, self.id);
            self.state.control.disconnected(&b.gw_id, self.id).await;
            tracing::debug!(auth_id = %b.auth_id, gw_id = %b.gw_id, "session unbound");
        }
        self.idle_limit = Some(self.state.config.first_frame_timeout);
        self.unbound_since = Instant::now();
    }

    async fn refuse(&mut self, frame: &Frame, refusal: auth::Refusal) -> Next {
        self.state
            .metrics
            .auth_refused
            .fetch_add(1, Ordering::Relaxed);
        self.refusals += 1;
        let budget = if self.refusals == 1 {
            PEER_FAULT_LOG.take()
        } else {
            None
        };
        match budget {
            Some(left_out) => tracing::warn!(peer = %self.peer,
                message_type = frame.message_type().operation_name(),
                tid = frame.header.tid, %refusal, left_out, "request refused"),
            None => tracing::debug!(peer = %self.peer, tid = frame.header.tid, %refusal,
                "request refused"),
        }
        match frame
            .message
            .response_with_result_code(ResultCode::PERMISSION_DENIED)
        {
            Some(response) => self.respond(frame, response, None).await,
            None => Next::Close("refused request without a result code"),
        }
    }

    async fn failed(&mut self, frame: &Frame, error: StoreError) -> Next {
        tracing::error!(peer = %self.peer, gw_id = self.gw_id(),
            message_type = frame.message_type().operation_name(), tid = frame.header.tid,
            %error, "request failed");
        match frame
            .message
            .response_with_result_code(ResultCode::INTERNAL_SERVER_ERROR)
        {
            Some(response) => self.respond(frame, response, None).await,
            None => Next::Close("internal error"),
        }
    }

    /// A response from the GW: control responses go to the control
    /// dispatcher; anything else is logged and ignored.
    async fn take_response(&mut self, frame: &Frame) -> Next {
        match (&frame.message, &self.binding) {
            (Message::ControlResponse(rsp), Some(b)) => {
                control::response(&self.state.control, &b.gw_id, &frame.header, rsp).await;
            }
            _ => tracing::info!(peer = %self.peer, gw_id = self.gw_id(),
                message_type = frame.message_type().operation_name(), tid = frame.header.tid,
                "unexpected response from a GW; ignored"),
        }
        Next::Continue
    }
}

/// A frame began more than `frame_timeout` ago and is still incomplete.
struct Stalled;

/// The next frame (`None` at end of stream), or [`Stalled`] when the
/// first bytes of a frame are buffered and its last has not come within
/// `limit`. `partial` keeps that deadline across calls, as the select loop
/// drops this future whenever another branch (a push) wins.
async fn next_frame(
    frames: &mut FramedRead<tokio::net::tcp::OwnedReadHalf, GmmpCodec>,
    partial: &mut Option<Pin<Box<Sleep>>>,
    limit: Duration,
) -> Result<Option<Result<Frame, CodecError>>, Stalled> {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(frame) = frames.poll_next_unpin(cx) {
            *partial = None;
            return Poll::Ready(Ok(frame));
        }
        if frames.read_buffer().is_empty() {
            *partial = None;
            return Poll::Pending;
        }
        let deadline = partial.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        deadline.as_mut().poll(cx).map(|()| Err(Stalled))
    })
    .await
}

/// The silence limit of a bound session: heartbeat period (minutes) ×
/// grace; `None` (never) when the period is 0.
pub fn silence_limit(heartbeat_period_minutes: u32, grace: u32) -> Option<Duration> {
    (heartbeat_period_minutes > 0)
        .then(|| Duration::from_secs(u64::from(heartbeat_period_minutes) * 60 * u64::from(grace)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_heartbeat_period_is_never_closed_for_silence() {
        assert_eq!(silence_limit(0, 2), None);
    }

    #[test]
    fn silence_limit_is_period_times_grace() {
        assert_eq!(silence_limit(10, 2), Some(Duration::from_secs(1200)));
        assert_eq!(silence_limit(1, 3), Some(Duration::from_secs(180)));
    }
}
