//! The accept loop: a semaphore caps concurrent connections, and accept
//! errors such as EMFILE (out of file descriptors) are met with a growing
//! pause instead of a busy loop or an exit.

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::gmmp::session;
use crate::state::Shared;

const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// True for errors that concern one connection only (retry at once).
fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    )
}

/// Accepts connections until `shutdown`, one session task each.
pub async fn accept_loop(
    listener: TcpListener,
    state: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let cap = Arc::new(Semaphore::new(state.config.max_connections));
    let mut backoff = MIN_BACKOFF;
    loop {
        let permit = match cap.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                tracing::warn!(
                    max_connections = state.config.max_connections,
                    "connection cap reached; new connections wait"
                );
                tokio::select! {
                    p = cap.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                    () = shutdown.cancelled() => return,
                }
            }
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, error = %e, "set_nodelay failed");
                }
                state
                    .metrics
                    .connections_accepted
                    .fetch_add(1, Ordering::Relaxed);
                tracker.spawn(session::run(
                    state.clone(),
                    stream,
                    peer,
                    permit,
                    shutdown.clone(),
                ));
            }
            Err(e) if is_per_connection(&e) => {
                tracing::debug!(error = %e, "accept failed for one connection");
            }
            Err(e) => {
                // EMFILE / ENFILE / ENOBUFS / ENOMEM: wait for resources.
                tracing::warn!(error = %e, pause = ?backoff, "accept failed; pausing");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
