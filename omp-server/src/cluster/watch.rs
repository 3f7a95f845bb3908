//! The instance's watcher: heartbeats, closes the local sessions other
//! instances took (on their notice, and by comparing with the table
//! after each reconnection of the listener and every [`RESCAN_EVERY`]),
//! and at stop removes the instance's rows.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::listener::{self, Heard};
use super::local::{Kind, TakenOver};
use super::notice::Notice;
use super::{Cluster, claims, instance, worker};
use crate::escaped;
use crate::state::Shared;

/// How often the local sessions are compared with the table, besides
/// after each reconnection of the listener: what bounds how long a
/// missed notice leaves two sessions of one key open.
pub const RESCAN_EVERY: Duration = Duration::from_secs(5);

/// Runs the instance until `stop`, then removes its rows.
pub(super) async fn run(
    state: Arc<Shared>,
    jobs: mpsc::Receiver<worker::Job>,
    stop: CancellationToken,
) {
    let Some(cluster) = state.cluster.as_ref() else {
        return;
    };
    let parts = CancellationToken::new();
    let worker = tokio::spawn(worker::run(state.clone(), jobs, parts.clone()));
    let (heard_tx, mut heard) = mpsc::channel(1024);
    let listener = tokio::spawn(listener::run(
        cluster.pool().clone(),
        heard_tx,
        parts.clone(),
    ));
    let mut heartbeat = tokio::time::interval(cluster.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut rescan = tokio::time::interval(RESCAN_EVERY);
    rescan.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut beating = true;
    // False once the listener is gone (it ends only at stop, or if it
    // panicked): the rescans go on alone.
    let mut listening = true;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = heartbeat.tick() => {
                match instance::heartbeat(cluster.pool(), cluster.id(), cluster.started_at).await {
                    Ok(()) if !beating => {
                        tracing::info!(instance = cluster.id(), "instance heartbeat written again");
                        beating = true;
                    }
                    Ok(()) => {}
                    Err(e) => if beating {
                        tracing::warn!(instance = cluster.id(), error = %e,
                            "instance heartbeat not written; sessions go on");
                        beating = false;
                    }
                }
            }
            _ = rescan.tick() => rescan_table(&state, cluster).await,
            heard = heard.recv(), if listening => match heard {
                Some(Heard::Notice(payload)) => match Notice::parse(&payload) {
                    Some(notice) => {
                        let taken = cluster.local().claimed_elsewhere(
                            cluster.id(),
                            notice.kind,
                            &notice.key,
                            &notice.instance,
                            notice.epoch,
                        );
                        if let Some(taken) = taken {
                            close(&state, &taken);
                        }
                    }
                    None => tracing::debug!(payload = %escaped::text(&payload),
                        "a notice not of a session claim; ignored"),
                },
                Some(Heard::Listening) => rescan_table(&state, cluster).await,
                None => {
                    tracing::warn!(instance = cluster.id(),
                        "no longer listening for session claims; the rescans go on");
                    listening = false;
                }
            },
        }
    }
    parts.cancel();
    let _ = worker.await;
    let _ = listener.await;
    match instance::remove(cluster.pool(), cluster.id()).await {
        Ok(()) => tracing::info!(
            instance = cluster.id(),
            "instance and its sessions removed from the database"
        ),
        Err(e) => tracing::warn!(instance = cluster.id(), error = %e,
            "instance row not removed; newer claims will take its sessions"),
    }
}

/// Closes the local sessions whose keys the table gives to another
/// instance with a higher epoch.
async fn rescan_table(state: &Shared, cluster: &Cluster) {
    let gmmp = cluster.local().keys(Kind::Gmmp);
    let mqtt = cluster.local().keys(Kind::Mqtt);
    if gmmp.is_empty() && mqtt.is_empty() {
        return;
    }
    let owners = match claims::held_elsewhere(cluster.pool(), cluster.id(), &gmmp, &mqtt).await {
        Ok(owners) => owners,
        Err(e) => {
            if let Some(left_out) = worker::CLAIM_LOG.take() {
                tracing::warn!(error = %e, left_out,
                    "sessions not compared with the database; retried at the next rescan");
            }
            return;
        }
    };
    for owner in owners {
        let taken = cluster.local().claimed_elsewhere(
            cluster.id(),
            owner.kind,
            &owner.key,
            &owner.instance,
            owner.epoch,
        );
        if let Some(taken) = taken {
            close(state, &taken);
        }
    }
}

/// Closes a local session another instance took, as a newer local
/// session would. It leaves the registry (or the MQTT router) first, so
/// its end notes no offline event: the gateway or client is online, on
/// the other instance.
fn close(state: &Shared, taken: &TakenOver) {
    let reason = format!("a newer session on instance {}", taken.by);
    match taken.kind {
        Kind::Gmmp => {
            tracing::info!(gw_id = %taken.key, instance = %taken.by, reason, "closing the GW's session");
            state.registry.unbind(&taken.key, taken.session);
        }
        Kind::Mqtt => {
            tracing::info!(client_id = %escaped::text(&taken.key), instance = %taken.by, reason,
                "closing the MQTT client's session");
            state.mqtt.router.unbind(&taken.key, taken.session);
        }
    }
    taken.close();
}
