//! The agent in bridge mode driving the WizFi310 emulator (on its pty)
//! against the real omp-server, started in-process with open provisioning.

mod common;

use std::path::Path;

use common::{
    GUARD, bridge_config, quick_sim, ready, send_lines, start_bridge, start_omp, status, until,
};
use wizfi310_sim::Simulator;

const SEED_TEXT: &str = "WizFi310 test data !@#$%^&*(/)";
const SEED_BASE64: &str = "V2l6RmkzMTAgdGVzdCBkYXRhICFAIyQlXiYqKC8p";

fn payloads_are(got: &[String], want: &[&str]) -> bool {
    got.iter().map(String::as_str).eq(want.iter().copied())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_the_module_mac_and_stores_host_and_module_data_byte_exact() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let sim = Simulator::start(quick_sim()).await.unwrap();
    sim.control().set_adc(1234);
    sim.control().set_gpio(3, true);
    let state = tempfile::tempdir().unwrap();
    let config = bridge_config(
        omp.gmmp_addr.port(),
        sim.tty_path(),
        state.path(),
        "[sources.module]\ninterval = \"300ms\"\ngpio = [3]\n",
    );
    assert_eq!(config.auth_id, None, "the auth ID comes from AT+MMAC=?");
    let agent = start_bridge(config).await;
    let gw_id = ready(state.path()).await;

    let answers = send_lines(agent.data_addr, &[SEED_TEXT]).await;
    assert!(answers[0].starts_with("ok "), "{answers:?}");
    until(
        "the seed text and a module reading in the store",
        || async {
            let got = omp.payloads(&gw_id).await;
            got.iter().any(|p| p == SEED_TEXT)
                && got.iter().any(|p| p == r#"{"adc":1234,"gpio":{"3":1}}"#)
        },
    )
    .await;

    assert_eq!(
        omp.gateways().await,
        [(gw_id.clone(), "0008dc1e3222".to_string())],
        "registered once, auth ID = the MAC in lower-case hex"
    );
    // Read back through the HTTP API, as ThingPlug's OpenAPI did.
    let page = omp
        .get(
            omp_dir.path(),
            &format!("/api/v1/gateways/{gw_id}/deliveries?limit=100"),
        )
        .await;
    let items = page["items"].as_array().unwrap();
    let seed = items
        .iter()
        .find(|d| d["content"] == SEED_BASE64)
        .expect("the seed delivery, Base64 of its exact bytes");
    assert_eq!(seed["content_length"], SEED_TEXT.len());
    assert_eq!(seed["report_type"]["code"], 1);
    let reading = items
        .iter()
        .find(|d| d["media_type"] == 0x65)
        .expect("a module reading, media type JSON");
    assert!(reading["device_id"].is_null(), "GW-level reading");

    agent.stop().await;
    let last = status(state.path()).unwrap();
    assert_eq!(
        (last.transport.as_str(), last.omp.as_str()),
        ("bridge", "stopped")
    );
    sim.shutdown().await;
    omp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_omp_outage_spools_deliveries_that_drain_once_in_order() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let gmmp_addr = omp.gmmp_addr;
    let sim = Simulator::start(quick_sim()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let agent = start_bridge(bridge_config(
        gmmp_addr.port(),
        sim.tty_path(),
        state.path(),
        "",
    ))
    .await;
    let gw_id = ready(state.path()).await;
    send_lines(agent.data_addr, &["m1"]).await;
    until("m1 stored", || async {
        payloads_are(&omp.payloads(&gw_id).await, &["m1"])
    })
    .await;
    // Stored is not yet acknowledged: the STATUS_OK may still be on its way
    // through the module when the OMP stops, and m1 would then stay spooled
    // (and be re-sent, keyed, later). Stop the OMP only once it is done.
    common::drained(state.path()).await;

    omp.stop().await;
    let answers = send_lines(agent.data_addr, &["m2", "m3", "m4"]).await;
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");
    common::eventually("three deliveries spooled while the OMP is down", || {
        status(state.path()).is_some_and(|s| s.spool_depth == 3 && s.omp != "ready")
    })
    .await;

    // The OMP comes back on the same port with the same database.
    let omp = start_omp(omp_dir.path(), gmmp_addr).await;
    until("the spool to drain into the store", || async {
        omp.payloads(&gw_id).await.len() >= 4
            && status(state.path()).is_some_and(|s| s.spool_depth == 0)
    })
    .await;
    assert!(
        payloads_are(&omp.payloads(&gw_id).await, &["m1", "m2", "m3", "m4"]),
        "each once, in order: {:?}",
        omp.payloads(&gw_id).await
    );
    agent.stop().await;
    sim.shutdown().await;
    let mut omp = omp;
    omp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wifi_loss_and_a_module_reset_spool_deliveries_that_drain_in_order() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let sim = Simulator::start(quick_sim()).await.unwrap();
    let ctl = sim.control();
    let state = tempfile::tempdir().unwrap();
    let agent = start_bridge(bridge_config(
        omp.gmmp_addr.port(),
        sim.tty_path(),
        state.path(),
        "",
    ))
    .await;
    let gw_id = ready(state.path()).await;

    // The access point disappears: [Link-Down Event], joins fail.
    ctl.set_access_point(false);
    common::eventually("the status to show Wi-Fi down", || {
        status(state.path()).is_some_and(|s| s.wifi == "down" && s.omp != "ready")
    })
    .await;
    send_lines(agent.data_addr, &["w1", "w2", "w3"]).await;
    common::eventually("deliveries spooled while Wi-Fi is down", || {
        status(state.path()).is_some_and(|s| s.spool_depth == 3)
    })
    .await;
    ctl.set_access_point(true);
    until("the spool to drain after the re-join", || async {
        payloads_are(&omp.payloads(&gw_id).await, &["w1", "w2", "w3"])
    })
    .await;

    // The module reboots on its own: re-initialised, re-joined, reconnected.
    ctl.inject(wizfi310_sim::Fault::ResetEvent);
    send_lines(agent.data_addr, &["r1", "r2"]).await;
    until("deliveries after the module reset", || async {
        payloads_are(&omp.payloads(&gw_id).await, &["w1", "w2", "w3", "r1", "r2"])
    })
    .await;
    let s = status(state.path()).unwrap();
    assert_eq!((s.module.as_str(), s.wifi.as_str()), ("ready", "joined"));
    assert_eq!(omp.gateways().await.len(), 1, "no second registration");

    agent.stop().await;
    sim.shutdown().await;
    omp.stop().await;
}

/// Controls asked for through the OMP's HTTP API reach the agent over the
/// module and end SUCCESS with its answers; a Reset resets the module and
/// the agent carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_from_the_http_api_succeed_and_a_reset_is_survived() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let sim = Simulator::start(quick_sim()).await.unwrap();
    let ctl = sim.control();
    ctl.set_rssi(-58);
    let state = tempfile::tempdir().unwrap();
    let agent = start_bridge(bridge_config(
        omp.gmmp_addr.port(),
        sim.tty_path(),
        state.path(),
        "",
    ))
    .await;
    let gw_id = ready(state.path()).await;
    let dir = omp_dir.path();

    let status_check = omp.control(dir, &gw_id, "status_check").await;
    assert_eq!(status_check["state"], "SUCCESS", "{status_check}");
    assert_eq!(status_check["result"]["report_state"], "ON");
    assert_eq!(status_check["result"]["operation_state"], "RUN");
    let rssi = omp.control(dir, &gw_id, "signal_power_check").await;
    assert_eq!(rssi["state"], "SUCCESS", "{rssi}");
    assert_eq!(
        rssi["result"]["signal_power"], 58,
        "-dBm, as AT+WSTAT prints it"
    );
    let fw = omp.control(dir, &gw_id, "firmware_version_check").await;
    assert_eq!(fw["result"]["firmware_version"], "1.1.1.0", "{fw}");

    let boots = ctl.boots();
    let reset = omp.control(dir, &gw_id, "reset").await;
    assert_eq!(reset["state"], "SUCCESS", "{reset}");
    common::eventually("the module to reboot", || ctl.boots() == boots + 1).await;
    send_lines(agent.data_addr, &["after reset"]).await;
    until("a delivery after the reset", || async {
        omp.payloads(&gw_id)
            .await
            .last()
            .is_some_and(|p| p == "after reset")
    })
    .await;

    agent.stop().await;
    sim.shutdown().await;
    omp.stop().await;
}

/// The `gw-agent` binary, killed with SIGKILL while deliveries wait in its
/// spool, then started again: nothing lost, the identity kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_while_spooling_restarts_with_its_identity_and_spool() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let gmmp_addr = omp.gmmp_addr;
    let sim = Simulator::start(quick_sim()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let socket = state.path().join("data.sock");

    let mut agent = spawn_agent(sim.tty_path(), gmmp_addr.port(), state.path(), &socket);
    let gw_id = ready(state.path()).await;
    let identity = std::fs::read_to_string(state.path().join("identity.json")).unwrap();
    unix_lines(&socket, &["k1"]).await;
    until("k1 stored", || async {
        payloads_are(&omp.payloads(&gw_id).await, &["k1"])
    })
    .await;

    omp.stop().await;
    let answers = unix_lines(&socket, &["k2", "k3", "k4"]).await;
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");
    agent.kill().await.unwrap(); // SIGKILL
    let _ = agent.wait().await;

    let omp = start_omp(omp_dir.path(), gmmp_addr).await;
    let mut agent = spawn_agent(sim.tty_path(), gmmp_addr.port(), state.path(), &socket);
    until("the spool of the killed agent to drain", || async {
        omp.payloads(&gw_id).await.len() >= 4
    })
    .await;
    assert!(
        payloads_are(&omp.payloads(&gw_id).await, &["k1", "k2", "k3", "k4"]),
        "{:?}",
        omp.payloads(&gw_id).await
    );
    assert_eq!(
        std::fs::read_to_string(state.path().join("identity.json")).unwrap(),
        identity,
        "GW ID and auth key kept"
    );
    let gateways = omp_server::store::gateways::load_active(&omp.state.db)
        .await
        .unwrap();
    assert_eq!(gateways.len(), 1);
    assert!(
        identity.contains(&hex::encode(gateways[0].auth_key.as_bytes())),
        "the stored auth key is the OMP's"
    );

    agent.start_kill().unwrap();
    let _ = tokio::time::timeout(GUARD, agent.wait()).await;
    sim.shutdown().await;
    let mut omp = omp;
    omp.stop().await;
}

fn spawn_agent(tty: &Path, omp_port: u16, state: &Path, socket: &Path) -> tokio::process::Child {
    tokio::process::Command::new(common::bins::gw_agent())
        .args([
            "--transport",
            "bridge",
            "--ssid",
            "testnet",
            "--passphrase",
            "12345678",
        ])
        .arg("--serial")
        .arg(tty)
        .arg("--omp")
        .arg(format!("127.0.0.1:{omp_port}"))
        .arg("--state-dir")
        .arg(state)
        .arg("--listen")
        .arg(format!("unix:{}", socket.display()))
        .arg("--no-stdin")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Sends lines on the agent's Unix data socket (waiting for it to exist).
async fn unix_lines(socket: &Path, lines: &[&str]) -> Vec<String> {
    let stream = tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(s) = tokio::net::UnixStream::connect(socket).await {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    common::exchange_lines(stream, lines).await
}
