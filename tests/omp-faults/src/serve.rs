//! `omp-faults serve`: the OMP in this process, for the fault runs to
//! start as their child.
//!
//! It takes the same flags as `omp-server` (its [`Settings`] are reused
//! as they are) and runs [`omp_server::run`], so the process that gets
//! SIGKILLed is the real server code with the real database files open —
//! while the tests need no separately built `omp-server` binary
//! (`CARGO_BIN_EXE_…` names only this crate's binaries).
//!
//! One difference, for the disk-full run's file-size method: SIGXFSZ is
//! caught and logged. By default it kills a process that writes past
//! `RLIMIT_FSIZE`; caught, the write fails with EFBIG instead, which SQLite
//! reports as an I/O error, as it would a full disk.

use clap::Args;
use omp_server::config::{Config, Settings};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::error::FaultError;

/// `serve`'s flags: those of `omp-server`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The omp-server settings.
    #[command(flatten)]
    pub settings: Settings,
}

fn server_error(e: impl std::fmt::Display) -> FaultError {
    FaultError::Server {
        program: "omp-faults serve".into(),
        detail: e.to_string(),
    }
}

/// Runs the OMP until SIGTERM or SIGINT, then shuts it down cleanly.
pub async fn serve(args: &ServeArgs) -> Result<(), FaultError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    let config = Config::load(&args.settings).map_err(server_error)?;
    let mut xfsz = signal(SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw()))
        .map_err(|e| FaultError::io("catching SIGXFSZ", e))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| FaultError::io("catching SIGTERM", e))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| FaultError::io("catching SIGINT", e))?;
    let shutdown = CancellationToken::new();
    let server = omp_server::run(config, shutdown.clone())
        .await
        .map_err(server_error)?;
    tokio::spawn(async move {
        let mut caught = 0u64;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = xfsz.recv() => {
                    caught += 1;
                    tracing::warn!(caught, "SIGXFSZ: a write went past the file-size limit and failed");
                }
            }
        }
        tracing::info!("shutdown requested");
        shutdown.cancel();
    });
    server.wait().await.map_err(server_error)
}
