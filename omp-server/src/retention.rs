//! Retention: every `retention_interval` a pass removes the rows older
//! than their kind's period (`retention_deliveries`, `retention_events`,
//! `retention_controls`; `none`, the default, keeps everything), so a
//! long-running server's database stops growing once its periods are
//! full.
//!
//! A pass takes the kinds one after another ([`Kind::ALL`]) and removes
//! each in batches of `retention_batch` rows, each batch a job of the
//! writer in a transaction of its own (`store::retention`), yielding
//! between batches, until a batch removes nothing. The cutoff is fixed at
//! the pass's start. Deliveries queued while a batch runs wait for one
//! short batch at most, never for the whole pass. Shutdown stops a pass
//! between batches.
//!
//! An event whose delivery or MQTT message has been removed stays until
//! its own period ends; it is read with its stored facts (`data` is
//! `{}`), as the row it named is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::state::Shared;
use crate::store::retention::{Kind, Purge};
use crate::store::writer::PurgeError;

/// Counters of the retention task, for `/metrics`.
#[derive(Debug, Default)]
pub struct RetentionMetrics {
    removed: [AtomicU64; Kind::ALL.len()],
    /// Batches that removed rows.
    pub batches: AtomicU64,
    /// Passes finished.
    pub passes: AtomicU64,
    /// The last finished pass's duration, microseconds.
    pub last_pass_micros: AtomicU64,
}

impl RetentionMetrics {
    /// Rows of `kind` removed since the start.
    pub fn removed(&self, kind: Kind) -> u64 {
        self.removed[index(kind)].load(Ordering::Relaxed)
    }

    fn add_removed(&self, kind: Kind, n: u64) {
        self.removed[index(kind)].fetch_add(n, Ordering::Relaxed);
    }
}

fn index(kind: Kind) -> usize {
    Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// The retention period of `kind` in `config`, if it has one.
pub fn period(config: &Config, kind: Kind) -> Option<Duration> {
    match kind {
        Kind::Deliveries | Kind::MqttMessages => config.retention_deliveries,
        Kind::Events => config.retention_events,
        Kind::Controls => config.retention_controls,
    }
}

/// Each kind with a period and the cutoff (Unix ms) it has at `now_ms`.
pub fn cutoffs(config: &Config, now_ms: i64) -> Vec<(Kind, i64)> {
    Kind::ALL
        .into_iter()
        .filter_map(|kind| {
            let period = period(config, kind)?;
            let ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
            Some((kind, now_ms.saturating_sub(ms)))
        })
        .collect()
}

/// Runs a pass every `retention_interval` until `shutdown` is cancelled;
/// returns at once when no kind has a period.
pub async fn run(state: Arc<Shared>, shutdown: CancellationToken) {
    if cutoffs(&state.config, 0).is_empty() {
        return;
    }
    let mut every = tokio::time::interval(state.config.retention_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if pass(&state, &shutdown).await.is_err() {
            return;
        }
    }
}

/// The writer stopped, or shutdown came, during a pass.
struct Stopped;

async fn pass(state: &Shared, shutdown: &CancellationToken) -> Result<(), Stopped> {
    let started = Instant::now();
    let batch = state.config.retention_batch;
    let metrics = &state.retention;
    let mut removed_total = 0;
    for (kind, cutoff_ms) in cutoffs(&state.config, crate::store::now_millis()) {
        loop {
            if shutdown.is_cancelled() {
                return Err(Stopped);
            }
            let purge = Purge {
                kind,
                cutoff_ms,
                batch,
            };
            match state.writer.purge(purge).await {
                Ok(0) => break,
                Ok(n) => {
                    metrics.add_removed(kind, n);
                    metrics.batches.fetch_add(1, Ordering::Relaxed);
                    removed_total += n;
                    // Sessions and the HTTP API get the runtime between batches.
                    tokio::task::yield_now().await;
                }
                Err(PurgeError::Closed) => return Err(Stopped),
                Err(PurgeError::Store(e)) => {
                    tracing::warn!(kind = kind.label(), error = %e,
                        "retention batch failed; the next pass tries again");
                    break;
                }
            }
        }
    }
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    metrics.last_pass_micros.store(micros, Ordering::Relaxed);
    metrics.passes.fetch_add(1, Ordering::Relaxed);
    if removed_total > 0 {
        tracing::info!(
            removed = removed_total,
            millis = micros / 1000,
            "retention pass removed old rows"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kinds_with_a_period_get_a_cutoff() {
        let mut config = Config::defaults();
        assert!(cutoffs(&config, 10_000).is_empty());
        config.retention_deliveries = Some(Duration::from_secs(2));
        config.retention_controls = Some(Duration::from_millis(500));
        assert_eq!(
            cutoffs(&config, 10_000),
            vec![
                (Kind::Deliveries, 8_000),
                (Kind::MqttMessages, 8_000),
                (Kind::Controls, 9_500)
            ]
        );
    }

    #[test]
    fn a_period_longer_than_the_clock_cuts_off_nothing_it_should_keep() {
        let mut config = Config::defaults();
        config.retention_events = Some(Duration::MAX);
        let cut = cutoffs(&config, 10_000);
        assert_eq!(cut.len(), 1);
        assert!(cut[0].1 < 0, "{cut:?}");
    }
}
