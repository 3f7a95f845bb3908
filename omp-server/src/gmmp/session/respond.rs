//! Writing to the GW: a response encoded into the session's reused buffer
//! (in parts when a long answer exceeds one body), the log line of the
//! exchange, and the write itself within [`WRITE_TIMEOUT`].

use std::time::Duration;

use gmmp_codec::{AuthKey, Frame, MAX_PAYLOAD_LEN, Message, ResultCode};
use tokio::io::AsyncWriteExt;

use super::{Next, PEER_FAULT_LOG, Session};

/// Largest response buffer a session keeps between responses (a delivery
/// response is 93 or 97 bytes, a profile response 189).
const KEPT_OUT_CAPACITY: usize = 256;
/// A peer that does not take a response within this time is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

impl Session {
    pub(super) async fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
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
    pub(super) async fn respond(
        &mut self,
        request: &Frame,
        response: Message,
        key: Option<AuthKey>,
    ) -> Next {
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
            && (self.machine.refusals() > 1
                || (self.machine.bound().is_none() && PEER_FAULT_LOG.take().is_none()))
        {
            // Repeated refusals on one connection, or refusals to unbound
            // connections past the budget: counted, not logged one by one.
            tracing::debug!(peer = %self.peer, tid = request.header.tid, rc, "gmmp");
        } else {
            macro_rules! exchange {
                ($level:ident) => {
                    tracing::$level!(
                        peer = %self.peer,
                        gw_id = self.machine.gw_id(),
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
}
