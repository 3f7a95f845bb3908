//! The agent in native mode: the emulator's built-in GMMP client
//! (AT+GMMPSET) against the real omp-server; the agent feeds it with
//! AT+GMMPDATA=1 and follows its trace lines.

mod common;

use common::{bridge_config, eventually, quick_sim, send_lines, start_native, start_omp, until};
use wizfi310_sim::Simulator;

const SEED_TEXT: &str = "WizFi310 test data !@#$%^&*(/)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_client_registers_and_delivers_what_the_agent_feeds_it() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let sim = Simulator::start(quick_sim()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut config = bridge_config(omp.gmmp_addr.port(), sim.tty_path(), state.path(), "");
    config.transport = gw_agent::config::TransportKind::Native;
    let agent = start_native(config).await;

    // The GW ID comes from the module's trace, once registration is done.
    let mut gw_id = None;
    eventually("the module's registration in the status", || {
        gw_id = common::status(state.path())
            .filter(|s| s.omp == "ready" && s.transport == "native")
            .and_then(|s| s.gw_id);
        gw_id.is_some()
    })
    .await;
    let gw_id = gw_id.unwrap();
    assert_eq!(
        omp.gateways().await,
        [(gw_id.clone(), "0008dc1e3222".to_string())],
        "the trace's GW ID is the one the OMP assigned to the module's MAC"
    );

    let lines = [SEED_TEXT, "second, with a comma", "third"];
    let answers = send_lines(agent.data_addr, &lines).await;
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");
    until("the three deliveries in the store", || async {
        omp.payloads(&gw_id).await.len() >= 3
    })
    .await;
    assert_eq!(
        omp.payloads(&gw_id).await,
        lines,
        "byte-exact, in order, once"
    );
    eventually("the spool to empty on the traced STATUS_OK", || {
        common::status(state.path()).is_some_and(|s| s.spool_depth == 0)
    })
    .await;

    // Binary data cannot go through AT+GMMPDATA: set aside, not lost.
    let refused = send_lines(agent.data_addr, &[r#"{"payload_hex":"00ff"}"#]).await;
    assert!(refused[0].starts_with("ok "), "spooled first: {refused:?}");
    eventually("the binary delivery set aside", || {
        std::fs::read_to_string(state.path().join("rejected.jsonl"))
            .is_ok_and(|t| t.contains("00ff") && t.contains("native mode"))
    })
    .await;

    agent.stop().await;
    sim.shutdown().await;
    omp.stop().await;
}
