//! The OMP in-process: the real omp-server on a fixed loopback port,
//! stopped (gracefully) and started again on the same port and database
//! at the planned outages.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::faults::Counts;
use crate::error::FaultError;

fn omp_error(detail: String) -> FaultError {
    FaultError::Server {
        program: "omp-server (in-process)".into(),
        detail,
    }
}

/// A free loopback port below the kernel's ephemeral range for the OMP.
/// The OMP is stopped and started again on one port, and a port of the
/// ephemeral range can be handed to another socket in between — another
/// program's, or the emulator's own connect attempt to it (a TCP
/// self-connect) — which then keeps the OMP out. Falls back to any free
/// port when the range starts too low.
pub(super) fn pick_port() -> Result<u16, FaultError> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let from = 10_000u16;
    if ephemeral_low > from {
        let mut rng = fastrand::Rng::new();
        for _ in 0..200 {
            let port = rng.u16(from..ephemeral_low);
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let any = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| FaultError::io("finding a free port", e))?;
    any.local_addr()
        .map(|a| a.port())
        .map_err(|e| FaultError::io("finding a free port", e))
}

/// The OMP in-process, on a fixed GMMP address once started.
pub(super) struct Omp {
    pub(super) server: omp_server::RunningServer,
    shutdown: CancellationToken,
    pub(super) gmmp_addr: SocketAddr,
    /// Its data directory (the SQLite database).
    pub(super) data_dir: PathBuf,
}

impl Omp {
    /// Starts the OMP on `gmmp` (a port a previous run had: retried while
    /// the old socket is still being released).
    pub(super) async fn start(dir: &Path, gmmp: SocketAddr) -> Result<Omp, FaultError> {
        let mut last = String::new();
        for _ in 0..50 {
            let mut config = omp_server::Config::defaults();
            config.gmmp_listen = gmmp;
            config.http_listen = "127.0.0.1:0".parse().expect("literal address");
            config.mqtt_listen = None;
            config.mqtts_listen = None;
            config.data_dir = dir.to_owned();
            config.provisioning = omp_server::ProvisioningMode::Open;
            let shutdown = CancellationToken::new();
            match omp_server::run(config, shutdown.clone()).await {
                Ok(server) => {
                    return Ok(Omp {
                        gmmp_addr: server.gmmp_addr,
                        data_dir: dir.to_owned(),
                        server,
                        shutdown,
                    });
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(omp_error(format!("cannot start on {gmmp}: {last}")))
    }

    /// Stops it; returns how many keyed resends it acknowledged without
    /// storing them again.
    pub(super) async fn stop(self) -> Result<u64, FaultError> {
        let state = self.server.state.clone();
        self.shutdown.cancel();
        self.server
            .wait()
            .await
            .map_err(|e| omp_error(format!("shutdown: {e}")))?;
        Ok(state
            .metrics
            .deliveries_already_stored
            .load(std::sync::atomic::Ordering::Relaxed))
    }
}

pub(super) async fn omp_outages(
    omp: Omp,
    dir: PathBuf,
    plan: Vec<(Duration, Duration)>,
    t0: Instant,
    stop: CancellationToken,
    counts: Counts,
) -> Result<(Omp, u64), FaultError> {
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
