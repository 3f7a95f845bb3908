//! `omp-faults run-agent`: gw-agent in this process, for the `agent` run
//! to start (and SIGKILL) as its child.
//!
//! It takes the flags of `gw-agent run` (its [`Overrides`] as they are)
//! and runs [`gw_agent::launch::run`], so the process that gets killed is
//! the real agent code with its real spool files open — while the tests
//! need no separately built `gw-agent` binary (`CARGO_BIN_EXE_…` names
//! only this crate's binaries).
//!
//! [`Overrides`]: gw_agent::config::Overrides

use gw_agent::config::Config;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::cli::RunAgentArgs;
use crate::error::FaultError;

/// Runs the agent until SIGTERM or SIGINT, then shuts it down cleanly.
pub async fn run_agent(args: &RunAgentArgs) -> Result<(), FaultError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let config = Config::load(&args.overrides).map_err(|e| FaultError::Agent(e.to_string()))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| FaultError::io("catching SIGTERM", e))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| FaultError::io("catching SIGINT", e))?;
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
        token.cancel();
    });
    gw_agent::launch::run(config, shutdown)
        .await
        .map_err(|e| FaultError::Agent(e.to_string()))
}
