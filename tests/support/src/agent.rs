//! gw-agent run in-process in each transport, its test configurations,
//! its data socket and its status file, and an emulator that joins,
//! resets and ticks quickly.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::wait::{GUARD, eventually};

/// An emulator that joins, resets and ticks quickly.
pub fn quick_sim() -> wizfi310_sim::SimConfig {
    wizfi310_sim::SimConfig {
        join_delay: Duration::from_millis(10),
        reset_delay: Duration::from_millis(50),
        gmmp_tick: Duration::from_millis(5),
        gmmp_retry: Duration::from_millis(20),
        ..wizfi310_sim::SimConfig::default()
    }
}

/// Sends lines on the data socket; returns the answers.
pub async fn send_lines(addr: SocketAddr, lines: &[&str]) -> Vec<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    exchange_lines(stream, lines).await
}

/// Writes each line on `stream` and reads its one-line answer.
pub async fn exchange_lines<S>(stream: S, lines: &[&str]) -> Vec<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let (r, mut w) = tokio::io::split(stream);
    let mut answers = BufReader::new(r).lines();
    let mut out = Vec::new();
    for line in lines {
        w.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(GUARD, answers.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        out.push(answer);
    }
    out
}

/// The status file of `state_dir`, when it reads.
pub fn status(state_dir: &Path) -> Option<gw_agent::status::Status> {
    gw_agent::status::read(state_dir).ok()
}

/// A bridge-mode config for the emulator on `tty` and an OMP on
/// 127.0.0.1:`omp_port`; `extra` is appended (tables only).
pub fn bridge_config(
    omp_port: u16,
    tty: &Path,
    state_dir: &Path,
    extra: &str,
) -> gw_agent::config::Config {
    let head = format!(
        "[serial]\npath = \"{}\"\n[wifi]\nssid = \"testnet\"\npassphrase = \"12345678\"",
        tty.display()
    );
    test_config(&head, omp_port, state_dir, extra)
}

/// The configuration of a `direct` agent (the host's own TCP) for the OMP
/// on `omp_port`, with one device `sensor1` and a TCP data socket; `extra`
/// is appended (more TOML sections).
pub fn direct_config(omp_port: u16, state_dir: &Path, extra: &str) -> gw_agent::config::Config {
    let head = "transport = \"direct\"\nauth_id = \"0008dc1e3222\"";
    let devices = format!("[[devices]]\nname = \"sensor1\"\nmanufacture_id = \"dev-1\"\n{extra}");
    test_config(head, omp_port, state_dir, &devices)
}

/// `head` (top-level keys first, then its own sections), then the state
/// directory, the OMP on `omp_port`, a TCP data socket, no stdin, quick
/// reconnects, then `extra`.
fn test_config(
    head: &str,
    omp_port: u16,
    state_dir: &Path,
    extra: &str,
) -> gw_agent::config::Config {
    gw_agent::config::Config::from_toml(&format!(
        r#"
state_dir = "{}"
{head}
[omp]
host = "127.0.0.1"
port = {omp_port}
[sources]
stdin = false
listen = "tcp:127.0.0.1:0"
[reconnect]
initial = "50ms"
max = "200ms"
{extra}
"#,
        state_dir.display(),
    ))
    .unwrap()
}

/// Starts the agent in direct mode.
pub async fn start_direct(config: gw_agent::config::Config) -> RunningAgent {
    let transport = gw_agent::transport::DirectTransport::new(&config.omp_host, config.omp_port);
    let agent = gw_agent::agent::Agent::start(config).await.unwrap();
    let data_addr = data_addr(&agent);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(agent.run(transport, shutdown.clone()));
    RunningAgent {
        data_addr,
        shutdown,
        task,
    }
}

/// An agent running in-process.
pub struct RunningAgent {
    pub data_addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), gw_agent::agent::AgentError>>,
}

/// Starts the agent in bridge mode (module readings included).
pub async fn start_bridge(config: gw_agent::config::Config) -> RunningAgent {
    use gw_agent::module::{Module, ModuleSettings};
    let module = Module::new(ModuleSettings::from_config(&config));
    let transport =
        gw_agent::transport::BridgeTransport::new(module, &config.omp_host, config.omp_port);
    let handle = transport.module_handle();
    spawn_with_module(config, handle, |agent, stop| agent.run(transport, stop)).await
}

/// Starts the agent in native mode.
pub async fn start_native(config: gw_agent::config::Config) -> RunningAgent {
    use gw_agent::module::{Module, ModuleSettings};
    let module = Module::new(ModuleSettings::from_config(&config));
    let transport =
        gw_agent::transport::NativeTransport::new(module, &config.omp_host, config.omp_port);
    let handle = transport.module_handle();
    spawn_with_module(config, handle, |agent, stop| {
        agent.run_native(transport, stop)
    })
    .await
}

/// Starts the agent with the module's readings as a source and runs it
/// with `run` on a task.
async fn spawn_with_module<F, Fut>(
    config: gw_agent::config::Config,
    module: gw_agent::module::ModuleHandle,
    run: F,
) -> RunningAgent
where
    F: FnOnce(gw_agent::agent::Agent, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), gw_agent::agent::AgentError>> + Send + 'static,
{
    let mut agent = gw_agent::agent::Agent::start(config).await.unwrap();
    agent.add_module_source(module);
    let data_addr = data_addr(&agent);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(agent, shutdown.clone()));
    RunningAgent {
        data_addr,
        shutdown,
        task,
    }
}

fn data_addr(agent: &gw_agent::agent::Agent) -> SocketAddr {
    match agent.local_addr() {
        Some(gw_agent::config::ListenAddr::Tcp(addr)) => *addr,
        other => panic!("no TCP data socket: {other:?}"),
    }
}

impl RunningAgent {
    /// Stops the agent and checks it ended cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(GUARD, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// Waits until the agent's status says the OMP session is ready; returns
/// the GW ID.
pub async fn ready(state_dir: &Path) -> String {
    ready_with(state_dir, "the OMP session to be ready", usize::MAX).await
}

/// Waits up to `limit` for the agent whose state is in `state_dir` to
/// report a ready OMP session: its GW ID, or None when `limit` passed
/// first (for harnesses that report rather than panic).
pub async fn ready_within(state_dir: &Path, limit: Duration) -> Option<String> {
    tokio::time::timeout(limit, async {
        loop {
            let gw_id = status(state_dir)
                .filter(|s| s.omp == "ready")
                .and_then(|s| s.gw_id);
            if let Some(gw_id) = gw_id {
                return gw_id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .ok()
}

/// Waits until the OMP session is ready and the spool empty; returns the
/// GW ID.
pub async fn drained(state_dir: &Path) -> String {
    ready_with(state_dir, "the spool to drain", 0).await
}

/// Waits for a ready session with at most `max_depth` deliveries spooled.
async fn ready_with(state_dir: &Path, what: &str, max_depth: usize) -> String {
    let mut gw_id = None;
    eventually(what, || {
        gw_id = status(state_dir)
            .filter(|s| s.omp == "ready" && s.spool_depth <= max_depth)
            .and_then(|s| s.gw_id);
        gw_id.is_some()
    })
    .await;
    gw_id.unwrap()
}
