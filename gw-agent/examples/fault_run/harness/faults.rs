//! The three fault loops: the emulator's faults, OMP outages and agent
//! kills, each on the schedule drawn from the seed.

use super::*;

/// Emulator faults: name, weight.
pub(super) const EMULATOR_FAULTS: [(&str, u32); 7] = [
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
    // One of each first, shuffled (Fisher–Yates), then by weight.
    let mut first: Vec<&'static str> = EMULATOR_FAULTS.iter().map(|(k, _)| *k).collect();
    for i in (1..first.len()).rev() {
        first.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
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
            mean.mul_f64(-(1.0 - rng.unit()).ln())
                .clamp(mean / 10, mean * 4)
        };
        tokio::select! {
            _ = tokio::time::sleep(gap) => {}
            _ = stop.cancelled() => return,
        }
        let kind = drawn.next().unwrap_or_else(|| {
            let mut pick = (rng.next() % u64::from(total)) as u32;
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
            "delay-response" => ctl.inject(Fault::DelayNextResponse(
                rng.between(Duration::from_millis(100), Duration::from_secs(3)),
            )),
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
                let off = rng.between(Duration::from_secs(1), Duration::from_secs(4));
                tokio::select! {
                    _ = tokio::time::sleep(off) => {}
                    _ = stop.cancelled() => {}
                }
                ctl.set_access_point(true);
            }
        }
    }
}

pub(super) async fn omp_outages(
    omp: Omp,
    dir: PathBuf,
    plan: Vec<(Duration, Duration)>,
    t0: Instant,
    stop: CancellationToken,
    counts: Counts,
) -> Result<(Omp, u64), RunError> {
    let addr = omp.gmmp_addr;
    let mut omp = omp;
    let mut resends = 0;
    for (at, pause) in plan {
        tokio::select! {
            _ = tokio::time::sleep_until((t0 + at).into()) => {}
            _ = stop.cancelled() => break,
        }
        resends += omp.stop().await?;
        counts.add("omp-stop");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.cancelled() => {}
        }
        omp = Omp::start(&dir, addr).await?;
    }
    Ok((omp, resends))
}

/// Kills the agent at the planned times and starts it again; an exit
/// nobody asked for is recorded and the agent started again too. Returns
/// the agent, those exits and the kill times (Unix ms).
pub(super) async fn agent_kills(
    mut agent: AgentProcess,
    plan: Vec<(Duration, Duration)>,
    t0: Instant,
    stop: CancellationToken,
    counts: Counts,
) -> Result<(AgentProcess, Vec<String>, Vec<i64>), RunError> {
    let mut exits = Vec::new();
    let mut killed_at = Vec::new();
    let mut plan = plan.into_iter().peekable();
    loop {
        let next = plan.peek().map(|(at, _)| t0 + *at);
        let kill_due = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            status = agent.child.wait() => {
                let how = match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                };
                exits.push(format!("at {:.1} s: {how}", t0.elapsed().as_secs_f64()));
                agent.restart()?;
            }
            _ = kill_due => {
                let Some((_, pause)) = plan.next() else { continue };
                agent.kill().await;
                killed_at.push(unix_ms());
                counts.add("agent-kill");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.cancelled() => {}
                }
                agent.restart()?;
            }
        }
    }
    Ok((agent, exits, killed_at))
}
