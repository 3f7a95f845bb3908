//! Listening on [`CHANNEL`](super::notice::CHANNEL) with a `PgListener`
//! on a connection of its own (not one of the store's pool), forwarding
//! each notice, and each (re)connection: announcements sent while the
//! connection was down are lost, so the watcher rescans the table then.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::notice::CHANNEL;

/// Wait between attempts to listen again after a failure.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What the listener brings.
#[derive(Debug)]
pub(super) enum Heard {
    /// A notice's payload.
    Notice(String),
    /// Listening (again): what was announced before may have been missed.
    Listening,
}

/// Listens until `stop` (or until `heard` is dropped).
pub(super) async fn run(store: PgPool, heard: mpsc::Sender<Heard>, stop: CancellationToken) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = listen_on(&store, &heard) => {}
    }
}

async fn listen_on(store: &PgPool, heard: &mpsc::Sender<Heard>) {
    // One connection, the store's settings; PgListener makes it again
    // through this pool when it is lost.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with((*store.connect_options()).clone());
    // True once a failure is logged: the retries stay quiet until
    // listening works again, which is then said once.
    let mut failing = false;
    loop {
        if heard.is_closed() {
            return;
        }
        let mut listener = match listen(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "not listening for session claims of other instances; retrying");
                    failing = true;
                }
                tokio::time::sleep(RETRY_EVERY).await;
                continue;
            }
        };
        if failing {
            tracing::info!("listening for session claims of other instances again");
        }
        if heard.send(Heard::Listening).await.is_err() {
            break;
        }
        loop {
            let sent = match listener.try_recv().await {
                Ok(Some(notice)) => heard.send(Heard::Notice(notice.payload().to_owned())).await,
                // Lost and made again (eager reconnection).
                Ok(None) => heard.send(Heard::Listening).await,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for session claims failed; listening again");
                    break;
                }
            };
            if sent.is_err() {
                return;
            }
        }
        failing = true;
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
