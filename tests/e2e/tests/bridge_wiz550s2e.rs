//! The agent with `module = "wiz550s2e"` driving the WIZ550S2E emulator
//! (on its pty) in bridge mode against the real omp-server, started
//! in-process with open provisioning: in the module's command mode, and in
//! its data mode (`wiz550s2e.mode = "data"`, the module the OMP's TCP
//! client).

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{GUARD, Omp, drained, eventually, exchange_lines, start_omp, status, until};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use wiz550s2e_sim::{BootMode, Fault, SimConfig, Simulator};

/// Brackets, the event and escape sequences, and text the OMP must keep.
const LINE: &str = "WIZ550S2E [R,0,5] [V,0,2] +++ [] !@#$%^&*(/)";
const LINE_BASE64: &str = "V0laNTUwUzJFIFtSLDAsNV0gW1YsMCwyXSArKysgW10gIUAjJCVeJiooLyk=";
/// The emulator's MAC as an auth ID.
const AUTH_ID: &str = "0008dc1dbb8a";

fn sim_config(boot_mode: BootMode) -> SimConfig {
    SimConfig {
        boot_mode,
        reset_delay: Duration::from_millis(50),
        connect_timeout: Duration::from_millis(500),
        ..SimConfig::default()
    }
}

fn config(tty: &Path, omp_port: u16, state: &Path, socket: &Path) -> gw_agent::config::Config {
    gw_agent::config::Config::from_toml(&format!(
        r#"
module = "wiz550s2e"
state_dir = "{}"
[serial]
path = "{}"
[omp]
host = "127.0.0.1"
port = {omp_port}
[sources]
stdin = false
listen = "unix:{}"
[reconnect]
initial = "50ms"
max = "200ms"
"#,
        state.display(),
        tty.display(),
        socket.display(),
    ))
    .unwrap()
}

/// The data-mode agent: the module the OMP's TCP client, short GMMP
/// timeouts (data mode sees a lost connection only through them).
fn data_config(tty: &Path, omp_port: u16, state: &Path, socket: &Path) -> gw_agent::config::Config {
    let base = config(tty, omp_port, state, socket);
    gw_agent::config::Config {
        wiz550s2e_mode: gw_agent::config::Wiz550s2eMode::Data,
        response_timeout: Some(Duration::from_millis(700)),
        heartbeat_period: Some(Duration::from_secs(2)),
        ..base
    }
}

/// The agent as `gw-agent run` starts it (the module setting picks the
/// transport), on a task.
struct Agent {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), gw_agent::agent::AgentError>>,
}

impl Agent {
    fn start(config: gw_agent::config::Config) -> Agent {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(gw_agent::launch::run(config, shutdown.clone()));
        Agent { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(GUARD, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// Sends lines on the agent's Unix data socket (waiting for it to exist).
/// The OMP stopped; three lines written while it is down wait in the
/// spool; started again on the same port and database, it gets them once
/// each, in order after `first` (what the gateway delivered before). The
/// OMP started again.
async fn outage_drains_in_order(
    mut omp: Omp,
    omp_dir: &Path,
    socket: &Path,
    state: &Path,
    gw_id: &str,
    first: &str,
) -> Omp {
    let gmmp_addr = omp.gmmp_addr;
    omp.stop().await;
    unix_lines(socket, &["m2", "m3", "m4"]).await;
    eventually("three deliveries spooled while the OMP is down", || {
        status(state).is_some_and(|s| s.spool_depth == 3 && s.omp != "ready")
    })
    .await;
    let omp = start_omp(omp_dir, gmmp_addr).await;
    until("the spool to drain into the store", || async {
        omp.payloads(gw_id).await.len() >= 4 && status(state).is_some_and(|s| s.spool_depth == 0)
    })
    .await;
    assert_eq!(
        omp.payloads(gw_id).await,
        [first, "m2", "m3", "m4"],
        "each once, in order"
    );
    omp
}

async fn unix_lines(socket: &Path, lines: &[&str]) -> Vec<String> {
    let stream = tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(s) = tokio::net::UnixStream::connect(socket).await {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let answers = exchange_lines(stream, lines).await;
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");
    answers
}

async fn ready(state: &Path) -> String {
    common::ready(state).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdin_line_is_stored_byte_exact_and_read_back_through_the_api() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    // The factory boot mode: the agent escapes data mode with +++ first.
    let sim = Simulator::start(sim_config(BootMode::Data)).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut agent = tokio::process::Command::new(common::bins::gw_agent())
        .args(["--module", "wiz550s2e"])
        .arg("--serial")
        .arg(sim.tty_path())
        .arg("--omp")
        .arg(format!("127.0.0.1:{}", omp.gmmp_addr.port()))
        .arg("--state-dir")
        .arg(state.path())
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = agent.stdin.take().unwrap();
    stdin
        .write_all(format!("{LINE}\n").as_bytes())
        .await
        .unwrap();
    stdin.flush().await.unwrap();

    let gw_id = ready(state.path()).await;
    until("the line in the store", || async {
        omp.payloads(&gw_id).await.iter().any(|p| p == LINE)
    })
    .await;
    assert_eq!(
        omp.gateways().await,
        [(gw_id.clone(), AUTH_ID.to_string())],
        "registered once, auth ID = the MAC from AT+NMAC?"
    );
    let page = omp
        .get(
            omp_dir.path(),
            &format!("/api/v1/gateways/{gw_id}/deliveries?limit=10"),
        )
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["content"], LINE_BASE64, "the exact bytes");
    assert_eq!(items[0]["content_length"], LINE.len());

    let fw = omp
        .control(omp_dir.path(), &gw_id, "firmware_version_check")
        .await;
    assert_eq!(fw["state"], "SUCCESS", "{fw}");
    assert_eq!(fw["result"]["firmware_version"], "1.3.1", "AT+MSTAT: {fw}");
    let s = status(state.path()).unwrap();
    assert_eq!(
        (s.transport.as_str(), s.module.as_str(), s.wifi.as_str()),
        ("bridge", "ready", "up"),
        "the link as AT+NSTAT? shows it"
    );

    agent.start_kill().unwrap();
    let _ = tokio::time::timeout(GUARD, agent.wait()).await;
    sim.shutdown().await;
    omp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_omp_outage_spools_deliveries_that_drain_once_in_order() {
    let omp_dir = tempfile::tempdir().unwrap();
    let omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let gmmp_addr = omp.gmmp_addr;
    let sim = Simulator::start(sim_config(BootMode::Command))
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let socket = state.path().join("data.sock");
    let agent = Agent::start(config(
        sim.tty_path(),
        gmmp_addr.port(),
        state.path(),
        &socket,
    ));
    let gw_id = ready(state.path()).await;
    unix_lines(&socket, &["m1"]).await;
    until("m1 stored", || async {
        omp.payloads(&gw_id).await == ["m1"]
    })
    .await;
    // Stop the OMP only once m1's STATUS_OK came back through the module.
    drained(state.path()).await;

    let mut omp =
        outage_drains_in_order(omp, omp_dir.path(), &socket, state.path(), &gw_id, "m1").await;
    agent.stop().await;
    sim.shutdown().await;
    omp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_close_module_reboots_and_a_reset_control_are_recovered_in_order() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    // Data boot mode: every reboot needs the +++ escape again.
    let sim = Simulator::start(sim_config(BootMode::Data)).await.unwrap();
    let ctl = sim.control();
    let state = tempfile::tempdir().unwrap();
    let socket = state.path().join("data.sock");
    let agent = Agent::start(config(
        sim.tty_path(),
        omp.gmmp_addr.port(),
        state.path(),
        &socket,
    ));
    let gw_id = ready(state.path()).await;
    let mut sent: Vec<String> = Vec::new();
    let mut deliver = |tag: &str| {
        let line = format!("{tag}-{}", sent.len());
        sent.push(line.clone());
        line
    };

    // The connection closes under the session: [V,0,2].
    let a = deliver("before");
    unix_lines(&socket, &[&a]).await;
    ctl.inject(Fault::PeerClose);
    let b = deliver("after-close");
    unix_lines(&socket, &[&b]).await;
    until("delivered after the peer close", || async {
        omp.payloads(&gw_id).await.len() == 2
    })
    .await;
    drained(state.path()).await;

    // The module reboots on its own (into data mode, silently).
    ctl.inject(Fault::Reset);
    let lines: Vec<String> = (0..3).map(|_| deliver("after-reboot")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    unix_lines(&socket, &refs).await;
    until("delivered after the reboot", || async {
        omp.payloads(&gw_id).await.len() == 5
    })
    .await;
    drained(state.path()).await;

    // The OMP asks for a reset: answered, AT+MRST, started again.
    let reset = omp.control(omp_dir.path(), &gw_id, "reset").await;
    assert_eq!(reset["state"], "SUCCESS", "{reset}");
    let c = deliver("after-reset");
    unix_lines(&socket, &[&c]).await;
    until("delivered after the reset control", || async {
        omp.payloads(&gw_id).await.len() == 6
    })
    .await;

    assert_eq!(omp.payloads(&gw_id).await, sent, "each once, in order");
    assert_eq!(omp.gateways().await.len(), 1, "one registration throughout");
    agent.stop().await;
    assert_eq!(status(state.path()).unwrap().omp, "stopped");
    sim.shutdown().await;
    omp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_mode_carries_frames_byte_exact_drains_the_spool_after_an_outage_and_resets() {
    let omp_dir = tempfile::tempdir().unwrap();
    let omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let gmmp_addr = omp.gmmp_addr;
    // The factory boot mode (data, to another target): the agent escapes
    // it, reads AT+NMAC?, points AT+MMODE at the OMP and enters AT+MDATA.
    let sim = Simulator::start(SimConfig {
        reconnect_interval: Duration::from_millis(100),
        ..sim_config(BootMode::Data)
    })
    .await
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let socket = state.path().join("data.sock");
    let agent = Agent::start(data_config(
        sim.tty_path(),
        gmmp_addr.port(),
        state.path(),
        &socket,
    ));
    let gw_id = ready(state.path()).await;
    assert_eq!(
        omp.gateways().await,
        [(gw_id.clone(), AUTH_ID.to_string())],
        "auth ID = the MAC from AT+NMAC?, read before data mode"
    );

    // Brackets, `+++` and the module's own record shapes, as frame bytes.
    unix_lines(&socket, &[LINE]).await;
    until("the line in the store", || async {
        omp.payloads(&gw_id).await.iter().any(|p| p == LINE)
    })
    .await;
    let page = omp
        .get(
            omp_dir.path(),
            &format!("/api/v1/gateways/{gw_id}/deliveries?limit=10"),
        )
        .await;
    assert_eq!(page["items"][0]["content"], LINE_BASE64, "the exact bytes");
    let fw = omp
        .control(omp_dir.path(), &gw_id, "firmware_version_check")
        .await;
    assert_eq!(fw["state"], "SUCCESS", "{fw}");
    assert_eq!(fw["result"]["firmware_version"], "1.3.1", "AT+MSTAT: {fw}");
    drained(state.path()).await;

    // The OMP goes away: no event in data mode; the deliveries wait in the
    // spool, GMMP's timeouts end the session, the module reconnects.
    let mut omp =
        outage_drains_in_order(omp, omp_dir.path(), &socket, state.path(), &gw_id, LINE).await;

    // A Reset control: answered, then +++ (closing the module's
    // connection) and AT+MRST; the module is set up again and connects anew.
    let accepted = omp
        .state
        .metrics
        .connections_accepted
        .load(Ordering::Relaxed);
    let reset = omp.control(omp_dir.path(), &gw_id, "reset").await;
    assert_eq!(reset["state"], "SUCCESS", "{reset}");
    unix_lines(&socket, &["after-reset"]).await;
    until("delivered after the reset control", || async {
        omp.payloads(&gw_id).await.len() == 5
    })
    .await;
    assert!(
        omp.state
            .metrics
            .connections_accepted
            .load(Ordering::Relaxed)
            > accepted,
        "the module's connection was made again after the reset"
    );
    assert_eq!(
        omp.payloads(&gw_id).await,
        [LINE, "m2", "m3", "m4", "after-reset"],
        "each once, in order"
    );
    assert_eq!(omp.gateways().await.len(), 1, "one registration throughout");
    let s = status(state.path()).unwrap();
    assert_eq!(
        (s.transport.as_str(), s.module.as_str()),
        ("bridge", "ready")
    );
    agent.stop().await;
    sim.shutdown().await;
    omp.stop().await;
}
