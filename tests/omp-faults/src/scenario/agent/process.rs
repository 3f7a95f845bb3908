//! The agent's child process: started with the run's settings file,
//! SIGKILLed and started again on the schedule, restarted after an exit
//! nobody asked for.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Child;
use tokio_util::sync::CancellationToken;

use super::Options;
use super::emulator::agent_settings;
use super::faults::{Counts, unix_ms};
use crate::error::FaultError;
use crate::program::Program;

/// The agent, started again after each kill with the same
/// config and state directory; its log goes to `<state>/agent.log`.
pub(super) struct AgentProcess {
    program: Program,
    config: PathBuf,
    log: PathBuf,
    child: Child,
}

impl AgentProcess {
    pub(super) fn spawn(
        opts: &Options,
        tty: &Path,
        omp_port: u16,
        state: &Path,
        socket: &Path,
    ) -> Result<AgentProcess, FaultError> {
        std::fs::create_dir_all(state)
            .map_err(|e| FaultError::io(format!("creating {}", state.display()), e))?;
        let config = opts.work_dir.join("agent.toml");
        let (module, wifi) = agent_settings(opts.module);
        let text = format!(
            r#"{module}state_dir = "{state}"
[serial]
path = "{tty}"
{wifi}[omp]
host = "127.0.0.1"
port = {omp_port}
[periods]
response_timeout = "{timeout}ms"
[delivery]
max_in_flight = {in_flight}
retry_delay = "1s"
[spool]
max_bytes = {spool}
segment_bytes = 4096
when_full = "drop-oldest"
[sources]
stdin = false
listen = "unix:{socket}"
[reconnect]
initial = "100ms"
max = "2s"
"#,
            state = state.display(),
            tty = tty.display(),
            timeout = opts.response_timeout.as_millis(),
            in_flight = opts.in_flight,
            spool = opts.spool_bytes,
            socket = socket.display(),
        );
        std::fs::write(&config, text)
            .map_err(|e| FaultError::io(format!("writing {}", config.display()), e))?;
        let log = state.join("agent.log");
        let child = start_agent(&opts.agent, &config, &log)?;
        Ok(AgentProcess {
            program: opts.agent.clone(),
            config,
            log,
            child,
        })
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub(super) async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    fn restart(&mut self) -> Result<(), FaultError> {
        self.child = start_agent(&self.program, &self.config, &self.log)?;
        Ok(())
    }
}

fn start_agent(program: &Program, config: &Path, log: &Path) -> Result<Child, FaultError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| FaultError::io(format!("opening {}", log.display()), e))?;
    program
        .command()
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| FaultError::io(format!("starting {}", program.describe()), e))
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
) -> Result<(AgentProcess, Vec<String>, Vec<i64>), FaultError> {
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

pub(super) async fn wait_ready(state: &Path, limit: Duration) -> Result<String, FaultError> {
    test_support::agent::ready_within(state, limit)
        .await
        .ok_or_else(|| FaultError::Timeout {
            what: "the agent's first ready OMP session".into(),
            secs: limit.as_secs(),
        })
}
