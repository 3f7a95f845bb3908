//! Controls carried out on the module: the agent in bridge mode on the
//! emulator, against the scripted OMP (which pushes 0x0D control requests
//! and records the 0x0E / 0x17 answers).

mod common;

use bytes::Bytes;
use common::{ScriptedOmp, gw, key};
use common::{bridge_config, eventually, quick_sim, ready, start_bridge};
use gmmp_codec::{
    ControlRequest, ControlType, DeviceId, FixedStr, Frame, Header, MessageType, ResultCode,
};
use wizfi310_sim::Simulator;

fn control(tid: u32, ct: ControlType) -> Frame {
    let header = Header::new(
        FixedStr::new("auth_id", "0008dc1e3222").unwrap(),
        key(),
        tid,
    );
    Frame::new(
        header,
        ControlRequest {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            gw_id: gw(),
            device_id: DeviceId::EMPTY,
            control_type: ct,
            payload: Bytes::new(),
        },
    )
}

/// Pushes a control and returns the frames the agent answered it with
/// (`expect` of them: 1 for a refused type, else 0x0E and 0x17).
async fn exchange(omp: &ScriptedOmp, tid: u32, ct: ControlType, expect: usize) -> Vec<Frame> {
    let before = omp.control_replies().len();
    assert!(omp.push(control(tid, ct)), "a session to push into");
    eventually(&format!("the answers to control {ct:?}"), || {
        omp.control_replies().len() >= before + expect
    })
    .await;
    let replies = omp.control_replies()[before..].to_vec();
    for f in &replies {
        assert_eq!(f.header.tid, tid, "answers carry the control's T-ID");
    }
    replies
}

fn kinds(frames: &[Frame]) -> Vec<(MessageType, Option<ResultCode>)> {
    frames
        .iter()
        .map(|f| (f.message_type(), f.message.result_code()))
        .collect()
}

const OK_PAIR: [(MessageType, Option<ResultCode>); 2] = [
    (MessageType::ControlResponse, Some(ResultCode::OK)),
    (MessageType::NotificationRequest, Some(ResultCode::OK)),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_are_answered_with_module_values_and_reset_reinitialises() {
    let omp = ScriptedOmp::start_default().await;
    let sim = Simulator::start(quick_sim()).await.unwrap();
    let ctl = sim.control();
    ctl.set_rssi(-61);
    ctl.set_fw_version("2.0.5");
    let state = tempfile::tempdir().unwrap();
    let agent = start_bridge(bridge_config(
        omp.addr.port(),
        sim.tty_path(),
        state.path(),
        "[controls]\n\"0x81\" = { gpio = 3, value = 1 }\n",
    ))
    .await;
    ready(state.path()).await;

    let status = exchange(&omp, 200_001, ControlType::STATUS_CHECK, 2).await;
    assert_eq!(kinds(&status), OK_PAIR);
    assert_eq!(status[1].message.payload().unwrap().as_ref(), [0x01, 0x01]);

    let rssi = exchange(&omp, 200_002, ControlType::SIGNAL_POWER_CHECK, 2).await;
    assert_eq!(kinds(&rssi), OK_PAIR);
    assert_eq!(
        rssi[1].message.payload().unwrap().as_ref(),
        61u32.to_be_bytes(),
        "RSSI from AT+WSTAT as u32 BE in -dBm (the module's own unit)"
    );

    let fw = exchange(&omp, 200_003, ControlType::FIRMWARE_VERSION_CHECK, 2).await;
    assert_eq!(kinds(&fw), OK_PAIR);
    assert_eq!(fw[1].message.payload().unwrap().as_ref(), b"2.0.5");

    assert_eq!(ctl.gpio(3), Some(false));
    let gpio = exchange(&omp, 200_004, ControlType(0x81), 2).await;
    assert_eq!(kinds(&gpio), OK_PAIR);
    assert_eq!(ctl.gpio_is_output(3), Some(true));
    assert_eq!(ctl.gpio(3), Some(true), "AT+FGPIO=3,3,1 done");

    let unknown = exchange(&omp, 200_005, ControlType(0x30), 1).await;
    assert_eq!(
        kinds(&unknown),
        [(
            MessageType::ControlResponse,
            Some(ResultCode::NOT_IMPLEMENTED)
        )]
    );

    // Reset: answered first, then AT+MRESET, re-initialisation, a new session.
    let boots = ctl.boots();
    let connections = omp.connections();
    let reset = exchange(&omp, 200_006, ControlType::RESET, 2).await;
    assert_eq!(kinds(&reset), OK_PAIR);
    eventually("the module to reboot and the agent to reconnect", || {
        ctl.boots() == boots + 1 && omp.connections() > connections
    })
    .await;
    ready(state.path()).await;
    let again = exchange(&omp, 200_007, ControlType::STATUS_CHECK, 2).await;
    assert_eq!(kinds(&again), OK_PAIR, "controls work after the reset");

    agent.stop().await;
    sim.shutdown().await;
}
