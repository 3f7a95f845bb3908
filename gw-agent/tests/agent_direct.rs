//! The agent over the `direct` transport against a scripted GMMP
//! responder (a tokio listener on 127.0.0.1:0 answering with gmmp-codec).

mod common;

use bytes::Bytes;
use common::{RunningAgent, direct_config, eventually, send_lines, start_direct};
use common::{ScriptedOmp, gw, key};
use gmmp_codec::{
    ControlRequest, ControlType, DeviceId, FixedStr, Frame, Header, MessageType, ResultCode,
};
use gw_agent::spool::Spool;

async fn start_agent(omp: &ScriptedOmp, state_dir: &std::path::Path) -> RunningAgent {
    start_direct(direct_config(omp.addr.port(), state_dir, "")).await
}

#[tokio::test]
async fn lines_on_the_local_socket_are_delivered_in_order() {
    let omp = ScriptedOmp::start_default().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = start_agent(&omp, dir.path()).await;
    let lines = [
        "one",
        "two",
        r#"{"payload":"three","device":"sensor1","report_type":"event"}"#,
        "four",
    ];
    let answers = send_lines(agent.data_addr, &lines).await;
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");
    eventually("four deliveries", || omp.deliveries().len() == 4).await;
    assert_eq!(omp.deliveries(), ["one", "two", "three", "four"]);
    let foreign = &omp.counters.deliveries_with_a_foreign_key;
    assert_eq!(
        foreign.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "deliveries carry the key the OMP assigned"
    );
    let refused = send_lines(agent.data_addr, &[r#"{"payload":"x","device":"nope"}"#]).await;
    assert!(
        refused[0].starts_with("error unknown device"),
        "{refused:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn deliveries_wait_in_the_spool_while_the_omp_is_down_and_go_once_in_order() {
    let omp = ScriptedOmp::start_default().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = start_agent(&omp, dir.path()).await;
    send_lines(agent.data_addr, &["a"]).await;
    eventually("the first delivery", || omp.deliveries() == ["a"]).await;

    omp.go_down();
    let answers = send_lines(agent.data_addr, &["b", "c", "d"]).await;
    assert!(
        answers.iter().all(|a| a.starts_with("ok ")),
        "spooled while down: {answers:?}"
    );
    let status_path = dir.path().join("status.json");
    eventually("the status file to show the spooled deliveries", || {
        gw_agent::status::read(dir.path()).is_ok_and(|s| s.spool_depth == 3)
    })
    .await;
    assert!(status_path.exists());

    omp.come_back();
    eventually("all deliveries", || omp.deliveries().len() >= 4).await;
    eventually("an empty spool", || {
        gw_agent::status::read(dir.path()).is_ok_and(|s| s.spool_depth == 0 && s.omp == "ready")
    })
    .await;
    assert_eq!(
        omp.deliveries(),
        ["a", "b", "c", "d"],
        "each once, in order"
    );
    agent.stop().await;
    let (spool, _) = Spool::open(dir.path().join("spool"), Default::default()).unwrap();
    assert!(spool.is_empty());
}

#[tokio::test]
async fn a_status_check_is_answered_with_0e_then_0x17_carrying_the_states() {
    let omp = ScriptedOmp::start_default().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = start_agent(&omp, dir.path()).await;
    // A delivery that went through means the session is ready.
    send_lines(agent.data_addr, &["ready?"]).await;
    eventually("the session", || omp.deliveries().len() == 1).await;
    let header = Header::new(
        FixedStr::new("auth_id", "0008dc1e3222").unwrap(),
        key(),
        100_001,
    );
    for (tid, ct) in [
        (100_001, ControlType::PAUSE),
        (100_002, ControlType::STATUS_CHECK),
    ] {
        let mut h = header;
        h.tid = tid;
        let control = ControlRequest {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            gw_id: gw(),
            device_id: DeviceId::EMPTY,
            control_type: ct,
            payload: Bytes::new(),
        };
        assert!(omp.push(Frame::new(h, control)));
    }
    eventually("two control answers and two notifications", || {
        omp.control_replies().len() == 4
    })
    .await;
    let replies = omp.control_replies();
    let seen: Vec<(MessageType, u32)> = replies
        .iter()
        .map(|f| (f.message_type(), f.header.tid))
        .collect();
    assert_eq!(
        seen,
        [
            (MessageType::ControlResponse, 100_001),
            (MessageType::NotificationRequest, 100_001),
            (MessageType::ControlResponse, 100_002),
            (MessageType::NotificationRequest, 100_002),
        ]
    );
    assert_eq!(replies[2].message.result_code(), Some(ResultCode::OK));
    // Report ON, operation PAUSE.
    assert_eq!(
        replies[3].message.payload().map(|p| p.to_vec()),
        Some(vec![0x01, 0x00])
    );
    agent.stop().await;
}

#[tokio::test]
async fn a_restart_reuses_the_identity_and_the_spool() {
    let omp = ScriptedOmp::start_default().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = start_agent(&omp, dir.path()).await;
    send_lines(agent.data_addr, &["before"]).await;
    eventually("the first delivery", || omp.deliveries() == ["before"]).await;
    omp.go_down();
    send_lines(agent.data_addr, &["while down"]).await;
    agent.stop().await;

    omp.come_back();
    let agent = start_agent(&omp, dir.path()).await;
    eventually("the spooled delivery after the restart", || {
        omp.deliveries().len() == 2
    })
    .await;
    assert_eq!(omp.deliveries(), ["before", "while down"]);
    assert_eq!(
        omp.registrations(),
        1,
        "the stored GW ID and key were reused"
    );
    agent.stop().await;
}
