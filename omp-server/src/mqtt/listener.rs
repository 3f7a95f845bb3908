//! The MQTT accept loop. It takes its places from the same caps as GMMP
//! (`Shared::connection_cap`, `Shared::unauthenticated`): one connection
//! cap for the process's file descriptors, and one count of connections
//! not yet logged in, in total and per source address — so a flood on
//! either port cannot starve the other. Accept errors such as EMFILE are
//! met with a growing pause, as on the GMMP side.
//!
//! The session takes any byte stream; a TLS acceptor would wrap the TCP
//! stream here, before [`session::run`].

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::gmmp::log_budget::LogBudget;
use crate::mqtt::session;
use crate::state::Shared;

const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Log lines per second for connections closed over the caps.
static OVER_CAP_LOG: LogBudget = LogBudget::new(1);

/// Accepts connections until `shutdown`, one session task each.
pub async fn accept_loop(
    listener: TcpListener,
    state: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let permit = tokio::select! {
            p = state.connection_cap.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            () = shutdown.cancelled() => return,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                state
                    .mqtt
                    .metrics
                    .connections_accepted
                    .fetch_add(1, Ordering::Relaxed);
                let slot = match state.unauthenticated.try_acquire(peer.ip()) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        match OVER_CAP_LOG.take() {
                            Some(left_out) => tracing::warn!(%peer, %refused, left_out,
                                "MQTT connection closed at once: too many unauthenticated connections"),
                            None => {
                                tracing::debug!(%peer, %refused, "MQTT connection closed at once")
                            }
                        }
                        continue;
                    }
                };
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, error = %e, "set_nodelay failed");
                }
                tracker.spawn(session::run(
                    state.clone(),
                    stream,
                    peer,
                    permit,
                    slot,
                    shutdown.clone(),
                ));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionAborted
                        | ErrorKind::ConnectionReset
                        | ErrorKind::Interrupted
                ) =>
            {
                tracing::debug!(error = %e, "MQTT accept failed for one connection");
            }
            Err(e) => {
                tracing::warn!(error = %e, pause = ?backoff, "MQTT accept failed; pausing");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
