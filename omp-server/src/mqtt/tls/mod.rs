//! MQTT on the MQTTS port: TLS when the client opens with a TLS
//! handshake record, plain MQTT otherwise (a SIM7600 given
//! `tcp://host:8883` without its SSL context speaks plain MQTT there).
//!
//! The first byte decides, peeked without being consumed: `0x16` (a TLS
//! handshake record) is TLS, anything else goes to the MQTT session as
//! it is, which refuses what is not a CONNECT. Either way the connection
//! then runs the one MQTT session of port 1883, under the same caps (the
//! accept loop's connection cap and unauthenticated caps). The wait for
//! the first byte and the TLS handshake count against the CONNECT
//! timeout (`first_frame_timeout`) from the accept on: a client that
//! stalls in the handshake is closed when a plain client that never sends
//! its CONNECT would be.
//!
//! A failed handshake closes that connection alone, logged with the peer
//! and rustls's reason within a [`LogBudget`].

pub mod certificate;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::gmmp::log_budget::LogBudget;
use crate::listen::UnauthenticatedSlot;
use crate::mqtt::metrics::CloseReason;
use crate::state::Shared;
use certificate::{LoadedCert, TlsError};

/// The first byte of a TLS record carrying a handshake message
/// (RFC 8446 §5.1, ContentType handshake(22)).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// Log lines per second for failed handshakes (a peer causes them at will).
static HANDSHAKE_LOG: LogBudget = LogBudget::new(10);

/// How a connection on the MQTTS port is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TLS, MQTT inside.
    Tls,
    /// MQTT as on port 1883.
    Plain,
}

impl Transport {
    /// The transport a connection whose first byte is `first` speaks.
    pub fn of_first_byte(first: u8) -> Transport {
        if first == TLS_HANDSHAKE_RECORD {
            Transport::Tls
        } else {
            Transport::Plain
        }
    }
}

/// The TLS server side for `cert`: TLS 1.2 and 1.3 with ring's suites,
/// no client certificates.
pub fn acceptor(cert: LoadedCert) -> Result<TlsAcceptor, TlsError> {
    let unusable = |e: rustls::Error| TlsError::Unusable {
        cert: cert.cert_path.clone(),
        key: cert.key_path.clone(),
        reason: e.to_string(),
    };
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(unusable)?
    .with_no_client_auth()
    .with_single_cert(cert.chain, cert.key)
    .map_err(unusable)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Runs one connection of the MQTTS port to its end: detects its
/// transport, shakes hands if TLS, then runs the MQTT session. The
/// arguments are the accept loop's, with the TLS side first.
pub async fn run(
    acceptor: TlsAcceptor,
    state: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    unauthenticated: UnauthenticatedSlot,
    shutdown: CancellationToken,
) {
    let opened_at = tokio::time::Instant::now();
    let deadline = opened_at + state.config.first_frame_timeout;
    let closed = |reason| state.mqtt.metrics.closed(reason);
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        r = tokio::time::timeout_at(deadline, stream.peek(&mut first)) => r,
        () = shutdown.cancelled() => return closed(CloseReason::Shutdown),
        () = unauthenticated.shed() => return closed(CloseReason::Shed),
    };
    match peeked {
        Ok(Ok(1..)) => {}
        Ok(Ok(_)) => {
            tracing::debug!(%peer, packet = "none", reason = "peer_closed",
                "MQTTS connection closed before its first byte");
            return closed(CloseReason::PeerClosed);
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, packet = "none", reason = "peer_closed", error = %e,
                "MQTTS connection failed before its first byte");
            return closed(CloseReason::PeerClosed);
        }
        Err(_) => {
            tracing::debug!(%peer, packet = "none", reason = "connect_timeout",
                "MQTTS connection silent until the CONNECT timeout; closed");
            return closed(CloseReason::ConnectTimeout);
        }
    }
    let opened_at = opened_at.into_std();
    match Transport::of_first_byte(first[0]) {
        Transport::Plain => {
            crate::mqtt::session::run_opened_at(
                state,
                stream,
                peer,
                permit,
                unauthenticated,
                shutdown,
                opened_at,
            )
            .await;
        }
        Transport::Tls => {
            let handshake = tokio::select! {
                r = tokio::time::timeout_at(deadline, acceptor.accept(stream)) => r,
                () = shutdown.cancelled() => return closed(CloseReason::Shutdown),
                () = unauthenticated.shed() => return closed(CloseReason::Shed),
            };
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    closed(CloseReason::TlsHandshake);
                    return handshake_failed(peer, &e.to_string());
                }
                Err(_) => {
                    closed(CloseReason::ConnectTimeout);
                    return handshake_failed(peer, "not finished within the CONNECT timeout");
                }
            };
            tracing::debug!(%peer, "MQTTS TLS handshake done");
            crate::mqtt::session::run_opened_at(
                state,
                tls,
                peer,
                permit,
                unauthenticated,
                shutdown,
                opened_at,
            )
            .await;
        }
    }
}

fn handshake_failed(peer: SocketAddr, detail: &str) {
    match HANDSHAKE_LOG.take() {
        Some(left_out) => tracing::warn!(%peer, packet = "none", reason = "tls_handshake", detail,
            left_out, "MQTTS TLS handshake failed; connection closed"),
        None => tracing::debug!(%peer, packet = "none", reason = "tls_handshake", detail,
            "MQTTS TLS handshake failed; connection closed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_record_is_tls_and_anything_else_plain() {
        assert_eq!(Transport::of_first_byte(0x16), Transport::Tls);
        // CONNECT, and bytes that are neither TLS nor a CONNECT.
        for first in [0x10, 0x00, 0x15, 0x17, 0x47, 0xff] {
            assert_eq!(Transport::of_first_byte(first), Transport::Plain);
        }
    }
}
