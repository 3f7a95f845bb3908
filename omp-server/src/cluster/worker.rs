//! The claims queue: sessions hand their claims and releases to one task,
//! which makes them in the order given. A session never waits for the
//! database: binding a key costs it a queue push; and one task keeps a
//! key's claims and releases on this instance in the order its sessions
//! made them.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::claims::{self, ClaimRequest};
use super::local::{Claim, Kind};
use crate::gmmp::log_budget::LogBudget;
use crate::state::Shared;

/// Claim failures logged per second (the rest counted): a database out
/// of reach fails every claim.
pub(super) static CLAIM_LOG: LogBudget = LogBudget::new(5);

/// Work for the queue.
#[derive(Debug)]
pub(super) enum Job {
    /// A session bound its key.
    Claim(ClaimRequest),
    /// A session ended.
    Release {
        kind: Kind,
        key: String,
        session: u64,
    },
}

/// Takes jobs until `stop` (what is still queued then is left: the
/// clean stop removes all of this instance's rows).
pub(super) async fn run(
    state: Arc<Shared>,
    mut jobs: mpsc::Receiver<Job>,
    stop: CancellationToken,
) {
    let Some(cluster) = state.cluster.as_ref() else {
        return;
    };
    loop {
        let job = tokio::select! {
            () = stop.cancelled() => return,
            job = jobs.recv() => match job {
                Some(job) => job,
                None => return,
            },
        };
        match job {
            Job::Claim(req) => {
                let claim = match claims::claim(cluster.pool(), cluster.id(), &req).await {
                    Ok(epoch) => {
                        tracing::debug!(kind = req.kind.as_str(), key = %req.key, epoch,
                            "session claimed");
                        Claim::Held(epoch)
                    }
                    Err(e) => {
                        if let Some(left_out) = CLAIM_LOG.take() {
                            tracing::warn!(kind = req.kind.as_str(), key = %req.key, error = %e,
                                left_out, "session not claimed in the database; it goes on here");
                        }
                        Claim::Failed
                    }
                };
                cluster
                    .local()
                    .claimed(req.kind, &req.key, req.session, claim);
            }
            Job::Release { kind, key, session } => {
                // A newer local session of the key holds the row (or will):
                // only a session still holding its key removes the row.
                let Some(Claim::Held(epoch)) = cluster.local().release(kind, &key, session) else {
                    continue;
                };
                if let Err(e) =
                    claims::release(cluster.pool(), cluster.id(), kind, &key, epoch).await
                    && let Some(left_out) = CLAIM_LOG.take()
                {
                    tracing::warn!(kind = kind.as_str(), %key, error = %e, left_out,
                        "ended session's row not removed; a newer claim will take it");
                }
            }
        }
    }
}
