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
use wizfi310_sim::{Fault, SimControl};

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

/// Uniform in [lo, hi].
fn between(rng: &mut Rng, lo: Duration, hi: Duration) -> Duration {
    lo + hi.saturating_sub(lo).mul_f64(rng.f64())
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

/// Emulator faults: name, weight.
pub const EMULATOR_FAULTS: [(&str, u32); 7] = [
    ("drop-response", 3),
    ("delay-response", 3),
    ("garble-line", 3),
    ("close-socket", 2),
    ("link-down", 2),
    ("reset-event", 1),
    ("ap-off", 1),
];

pub(super) async fn emulator_faults(
    ctl: SimControl,
    mut rng: Rng,
    mean: Duration,
    stop: CancellationToken,
    counts: Counts,
) {
    // One of each first, shuffled, then by weight.
    let mut first: Vec<&'static str> = EMULATOR_FAULTS.iter().map(|(k, _)| *k).collect();
    rng.shuffle(&mut first);
    let total: u32 = EMULATOR_FAULTS.iter().map(|(_, w)| w).sum();
    let mut drawn = first.into_iter();
    let mut first_round = EMULATOR_FAULTS.len();
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
            EMULATOR_FAULTS
                .iter()
                .find(|(_, w)| {
                    let hit = pick < *w;
                    pick = pick.saturating_sub(*w);
                    hit
                })
                .map_or("drop-response", |(k, _)| *k)
        });
        counts.add(kind);
        match kind {
            "drop-response" => ctl.inject(Fault::DropNextResponse),
            "delay-response" => ctl.inject(Fault::DelayNextResponse(between(
                &mut rng,
                Duration::from_millis(100),
                Duration::from_secs(3),
            ))),
            "garble-line" => ctl.inject(Fault::GarbleNextLine),
            // Every open socket: the agent's is usually 0, but not when a
            // stale one was still open at its connect (closing a socket
            // that is not open does nothing).
            "close-socket" => {
                for sid in 0..wizfi310_sim::interpreter::MAX_SOCKETS as u8 {
                    ctl.inject(Fault::CloseSocket(sid));
                }
            }
            "link-down" => ctl.inject(Fault::LinkDown),
            "reset-event" => ctl.inject(Fault::ResetEvent),
            _ => {
                ctl.set_access_point(false);
                let off = between(&mut rng, Duration::from_secs(1), Duration::from_secs(4));
                tokio::select! {
                    _ = tokio::time::sleep(off) => {}
                    _ = stop.cancelled() => {}
                }
                ctl.set_access_point(true);
            }
        }
    }
}

pub(super) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
