//! Agent faults (RELIABILITY.md §6): a reduced fault run — the `gw-agent`
//! binary in bridge mode against the emulator and the real omp-server,
//! with every kind of emulator fault, OMP stops and agent SIGKILLs — and
//! the spool's drop-oldest policy reported line by line.

mod common;

#[path = "../examples/fault_run/harness.rs"]
mod harness;
#[path = "../examples/fault_run/ledger.rs"]
mod ledger;

use std::time::Duration;

use common::{direct_config, send_lines, start_direct, start_omp, until};
use gw_agent::agent::DROPPED_FILE;

/// The run of `examples/fault_run.rs`, shortened: lost must be 0 and
/// every confirmed delivery in exactly one class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmed_delivery_is_stored_or_reported_dropped_under_faults() {
    let work = tempfile::tempdir().unwrap();
    let opts = harness::Options {
        seed: 20261121,
        duration: Duration::from_secs(12),
        rate: 25.0,
        fault_interval: Duration::from_millis(600),
        agent_kills: 2,
        omp_outages: 2,
        outage: (Duration::from_millis(1500), Duration::from_secs(3)),
        spool_bytes: 4096,
        drain_timeout: Duration::from_secs(60),
        ..harness::Options::new(
            env!("CARGO_BIN_EXE_gw-agent").into(),
            work.path().to_owned(),
        )
    };
    let report = harness::run(opts).await.unwrap();
    let t = &report.tally;
    // Shown with --nocapture: what this run did.
    eprintln!(
        "faults {:?}; {} sessions lost, {} torn spool records, {} duplicates across kills, {} keyed resends recognised; {t:?}; faults {:?}, drain {:?}, total {:?}",
        report.faults,
        report.sessions_lost,
        report.torn_spool_records,
        report.duplicates_across_kills,
        report.resends_recognised,
        report.fault_time,
        report.drain_time,
        report.total_time
    );
    let summary = format!("{report:#?}");
    assert!(t.lost.is_empty(), "lost deliveries: {summary}");
    assert_eq!(t.duplicated, 0, "stored twice: {summary}");
    assert!(t.balances(), "{summary}");
    assert_eq!(t.corrupt_rows, 0, "{summary}");
    assert!(report.drained && t.spooled == 0, "{summary}");
    assert!(t.produced > 0 && t.stored_once > 0, "{summary}");
    assert_eq!(t.gw_ids, 1, "one identity throughout: {summary}");
    assert!(report.agent_exits.is_empty(), "{summary}");
    assert_eq!(report.unreadable_records, 0, "{summary}");
    for kind in [
        "drop-response",
        "delay-response",
        "garble-line",
        "close-socket",
        "link-down",
        "reset-event",
        "ap-off",
    ] {
        assert!(report.faults.get(kind) >= Some(&1), "no {kind}: {summary}");
    }
    assert_eq!(report.faults.get("agent-kill"), Some(&2), "{summary}");
    assert_eq!(report.faults.get("omp-stop"), Some(&2), "{summary}");
}

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
