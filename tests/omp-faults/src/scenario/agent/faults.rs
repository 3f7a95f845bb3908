//! The fault schedule, drawn from one seed ([`fastrand::Rng`]): OMP
//! outages and agent kills planned up front (`plan`), and the
//! emulator's faults injected as the run goes (`emulator_faults`); each
//! counted by kind in `Counts`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastrand::Rng;
use tokio_util::sync::CancellationToken;

use super::emulator::{Control, between};
use crate::error::FaultError;

#[derive(Debug, Clone)]
pub(super) struct Counts {
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    /// `<unix ms> <kind>` per fault, to line faults up with the agent's
    /// log and the OMP's `received_at` when investigating a run.
    timeline: Arc<Mutex<Option<std::fs::File>>>,
}

impl Counts {
    pub(super) fn new(timeline: &Path) -> Result<Counts, FaultError> {
        let file = std::fs::File::create(timeline)
            .map_err(|e| FaultError::io(format!("creating {}", timeline.display()), e))?;
        Ok(Counts {
            counts: Arc::default(),
            timeline: Arc::new(Mutex::new(Some(file))),
        })
    }

    pub(super) fn add(&self, kind: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kind)
            .or_default() += 1;
        let mut timeline = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = timeline.as_mut() {
            use std::io::Write;
            // Diagnostics only: a failed write stops the timeline, not the run.
            if writeln!(file, "{} {kind}", unix_ms()).is_err() {
                *timeline = None;
            }
        }
    }

    pub(super) fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// `n` events in [from, to] of `duration`, each with a length drawn from
/// `len`: one per equal slot, at a random point of it that lets the event
/// end within the slot when it fits, so events never overlap and all of
/// them happen before `to`.
pub(super) fn plan(
    rng: &mut Rng,
    n: usize,
    duration: Duration,
    from: f64,
    to: f64,
    len: (Duration, Duration),
) -> Vec<(Duration, Duration)> {
    let slot = duration.mul_f64((to - from) / n.max(1) as f64);
    (0..n)
        .map(|i| {
            let length = between(rng, len.0, len.1);
            let start = duration.mul_f64(from) + slot * i as u32;
            (
                start + slot.saturating_sub(length).mul_f64(rng.f64()),
                length,
            )
        })
        .collect()
}

/// Agent kills over `duration`, each followed by a pause of 0.1–1 s
/// before the restart.
pub(super) fn agent_kills_plan(
    rng: &mut Rng,
    n: usize,
    duration: Duration,
) -> Vec<(Duration, Duration)> {
    let restart = (Duration::from_millis(100), Duration::from_secs(1));
    plan(rng, n, duration, 0.10, 0.90, restart)
}

/// The emulator's faults, one of `kinds` at a time: one of each first
/// (shuffled, at the mean gap), then drawn by weight.
pub(super) async fn emulator_faults(
    ctl: Control,
    kinds: &'static [(&'static str, u32)],
    mut rng: Rng,
    mean: Duration,
    stop: CancellationToken,
    counts: Counts,
) {
    let mut first: Vec<&'static str> = kinds.iter().map(|(k, _)| *k).collect();
    rng.shuffle(&mut first);
    let total: u32 = kinds.iter().map(|(_, w)| w).sum();
    let mut drawn = first.into_iter();
    let mut first_round = kinds.len();
    loop {
        // The first round at the mean gap, so a short run sees every kind;
        // then exponential gaps (a Poisson process), kept within reason.
        let gap = if first_round > 0 {
            first_round -= 1;
            mean
        } else {
            mean.mul_f64(-(1.0 - rng.f64()).ln())
                .clamp(mean / 10, mean * 4)
        };
        tokio::select! {
            _ = tokio::time::sleep(gap) => {}
            _ = stop.cancelled() => return,
        }
        let kind = drawn.next().unwrap_or_else(|| {
            let mut pick = rng.u32(..total);
            kinds
                .iter()
                .find(|(_, w)| {
                    let hit = pick < *w;
                    pick = pick.saturating_sub(*w);
                    hit
                })
                .map_or(kinds[0].0, |(k, _)| *k)
        });
        counts.add(kind);
        ctl.inject(kind, &mut rng, &stop).await;
    }
}

pub(super) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
