//! The agent (direct transport) against the real OMP server, started
//! through its library on 127.0.0.1:0 with open provisioning.

mod common;

use common::{direct_config, eventually, send_lines, start_direct, start_omp, status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_reach_the_omp_store_in_order() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let state = tempfile::tempdir().unwrap();
    let agent = start_direct(direct_config(omp.gmmp_addr.port(), state.path(), "")).await;

    let lines = [
        "25.3C",
        "25.4C",
        r#"{"payload":"door open","device":"sensor1","report_type":"event"}"#,
    ];
    let answers = send_lines(agent.data_addr, &lines).await;
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");

    let mut gw_id = None;
    eventually("the spool to drain", || {
        gw_id = status(state.path())
            .filter(|s| s.spool_depth == 0 && s.omp == "ready")
            .and_then(|s| s.gw_id);
        gw_id.is_some()
    })
    .await;
    let gw_id = gw_id.unwrap();
    let stored = omp_server::store::deliveries::latest(&omp.state.pool, &gw_id, 10)
        .await
        .unwrap();
    let payloads: Vec<String> = stored
        .iter()
        .rev()
        .map(|d| String::from_utf8_lossy(&d.payload).into_owned())
        .collect();
    assert_eq!(payloads, ["25.3C", "25.4C", "door open"]);
    let last = &stored[0];
    assert!(
        !last.device_id.is_empty(),
        "the device delivery names its device"
    );
    assert_eq!(last.report_type, 3);

    agent.stop().await;
    omp.stop().await;
}
