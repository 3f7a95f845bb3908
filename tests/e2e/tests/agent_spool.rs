//! The agent's spool and start-up against the real OMP: a full spool
//! reports each delivery it drops, and a module that cannot be read at
//! start-up is asked again.

mod common;

use std::time::Duration;

use common::{direct_config, send_lines, start_direct, start_omp, until};
use gw_agent::agent::DROPPED_FILE;

/// While the OMP is away a full spool drops its oldest deliveries, each
/// recorded in `dropped.jsonl` first; the rest arrive, in order, once the
/// OMP is back: together exactly what was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_reports_each_delivery_it_drops() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let gmmp_addr = omp.gmmp_addr;
    let state = tempfile::tempdir().unwrap();
    let config = direct_config(
        gmmp_addr.port(),
        state.path(),
        "[spool]\nmax_bytes = 4096\nwhen_full = \"drop-oldest\"",
    );
    let agent = start_direct(config).await;
    let gw_id = common::ready(state.path()).await;

    omp.stop().await;
    let lines: Vec<String> = (0..100)
        .map(|i| format!("drop-test {i:03} {}", "x".repeat(46)))
        .collect();
    let record = gw_agent::spool::SpooledDelivery {
        device: None,
        report_type: 1,
        media_type: 1,
        payload: lines[0].clone().into(),
        spooled_at: 0,
    }
    .spooled_size();
    let kept = (4096 / record) as usize;
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let answers = send_lines(agent.data_addr, &refs).await;
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");

    let dropped: Vec<String> = std::fs::read_to_string(state.path().join(DROPPED_FILE))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["reason"], "spool full (drop-oldest)");
            let bytes = hex::decode(v["payload_hex"].as_str().unwrap()).unwrap();
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    // 4096 bytes hold 48 records of 85 bytes: the oldest 52 made room.
    assert_eq!((record, kept), (85, 48));
    assert_eq!(dropped, lines[..100 - kept], "the oldest, in order");

    let omp = start_omp(omp_dir.path(), gmmp_addr).await;
    until("the rest to arrive", || async {
        omp.payloads(&gw_id).await.len() >= kept
    })
    .await;
    assert_eq!(
        omp.payloads(&gw_id).await,
        lines[100 - kept..],
        "the newest, once, in order"
    );

    agent.stop().await;
    let mut omp = omp;
    omp.stop().await;
}

/// A module that cannot be read when the agent starts (here: its serial
/// port is not there yet) is asked again with the reconnect back-off,
/// instead of the agent exiting for want of its auth ID (the module's MAC).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_unreadable_at_start_up_is_asked_again() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let sim = wizfi310_sim::Simulator::start(common::quick_sim())
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let port = state.path().join("ttyWIZ");
    let config = common::bridge_config(omp.gmmp_addr.port(), &port, state.path(), "");
    let agent = common::start_bridge(config).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !agent.task.is_finished(),
        "the agent gave up: {:?}",
        agent.task.await
    );
    std::os::unix::fs::symlink(sim.tty_path(), &port).unwrap();
    let gw_id = common::ready(state.path()).await;
    assert_eq!(omp.gateways().await, [(gw_id, "0008dc1e3222".to_string())]);
    agent.stop().await;
    sim.shutdown().await;
    omp.stop().await;
}
