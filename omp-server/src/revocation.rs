//! Removing an approval revokes the gateway (mode `approved`): the store
//! deletes the approval and deregisters the gateway in one transaction
//! ([`store::revocations::revoke`]), then its live sessions are closed and
//! its entry leaves the directory, so its GW ID and auth key no longer
//! authenticate anything — on the session it had, on a new connection, or
//! after a restart (the directory is loaded from the deregistered row).
//!
//! The HTTP API revokes in this process ([`revoke`]); `omp-server
//! provision remove` writes the database from another process, so the
//! server reads the `revocations` rows it has not acted on yet every
//! [`SCAN_EVERY`] ([`watch`]) and ends those sessions the same way.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::StoreError;
use crate::escaped;
use crate::gmmp::presence::{self, Offline};
use crate::state::Shared;
use crate::store::{gateways, revocations};

/// How often the server looks for revocations written by other processes.
pub const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Revokes `auth_id` (the HTTP API's removal in mode `approved`); what
/// the store did.
pub async fn revoke(state: &Shared, auth_id: &str) -> Result<revocations::Revoked, StoreError> {
    let revoked = revocations::revoke(&state.db, auth_id).await?;
    if let revocations::Revoked::Removed(r) = &revoked {
        end_sessions(state, r);
    }
    Ok(revoked)
}

/// Forgets the revoked gateway in memory and closes its live session.
/// The directory goes first: a registration binding meanwhile checks the
/// directory after binding, so it either is closed here or sees the
/// gateway gone.
fn end_sessions(state: &Shared, r: &revocations::Revocation) {
    state.directory.remove(&r.auth_id);
    let closed = r
        .gw_id
        .as_deref()
        .and_then(|gw_id| state.registry.revoke(gw_id).map(|h| (gw_id, h)));
    if let Some((gw_id, session)) = &closed {
        state.note_event(presence::offline(
            gw_id,
            session.peer,
            Offline::Deregistered,
            "approval removed",
        ));
    }
    tracing::info!(auth_id = %escaped::text(&r.auth_id),
        gw_id = %escaped::text(r.gw_id.as_deref().unwrap_or("")),
        session_closed = closed.is_some(), "approval removed; GW deregistered");
}

/// Acts on revocations written after this server started, every
/// [`SCAN_EVERY`], until `shutdown`.
pub async fn watch(state: Arc<Shared>, mut last_seq: i64, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(SCAN_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match scan(&state, last_seq).await {
            Ok(seq) => last_seq = seq,
            Err(e) => tracing::warn!(error = %e, "revocations not read; trying again"),
        }
    }
}

/// Ends the sessions of the gateways revoked after `last_seq`; the last
/// `seq` acted on.
async fn scan(state: &Shared, mut last_seq: i64) -> Result<i64, StoreError> {
    for r in revocations::after(&state.db, last_seq).await? {
        // Approved and registered again since: that registration stands.
        let registered_again = gateways::find_by_auth_id(&state.db, &r.auth_id)
            .await?
            .is_some_and(|g| g.deregistered_at.is_none());
        if !registered_again {
            end_sessions(state, &r);
        }
        last_seq = r.seq;
    }
    Ok(last_seq)
}
