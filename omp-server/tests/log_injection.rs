//! The log as an attacker can shape it: IDs a peer chooses are written
//! with visible escapes (a newline or ESC in an auth ID cannot start a
//! fake log line or clear the reader's terminal), and what any peer can
//! send over and over without authenticating is logged within a budget.
//! The server runs in this process; its log is captured at the level
//! production runs at (info).

mod common;

use std::sync::OnceLock;

use common::{Client, rc, start};
use gmmp_codec::{ControlResponse, ControlType, DeviceId, Frame, ResultCode};
use omp_server::ProvisioningMode;
use test_support::captured_log::CapturedLog;

/// The log, captured once per process; and a lock so that one test's
/// lines are not counted by another.
fn log() -> (&'static CapturedLog, &'static tokio::sync::Mutex<()>) {
    static LOG: OnceLock<(CapturedLog, tokio::sync::Mutex<()>)> = OnceLock::new();
    let (captured, lock) = LOG.get_or_init(|| {
        let captured = CapturedLog::default();
        captured.init(tracing::Level::INFO);
        (captured, tokio::sync::Mutex::new(()))
    });
    (captured, lock)
}

const EVIL: &str = "a\nFAKE\x1b[2J";

#[tokio::test]
async fn ids_with_newlines_and_escape_sequences_are_refused_and_logged_escaped() {
    let (log, lock) = log();
    let _one_test_at_a_time = lock.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let start_at = log.len();
    let server = start(dir.path(), |c| c.provisioning = ProvisioningMode::Approved).await;
    let mut gw = Client::connect(server.addr, EVIL).await;
    let refused = gw.register_gw("ThingPlug", "WIZnet").await;
    assert_eq!(rc(&refused), ResultCode::PERMISSION_DENIED);
    // A request naming it, and a registration with such a manufacture ID.
    let mut other = Client::connect(server.addr, EVIL).await;
    other.gw_id = common::fixed("SC\n\x1b[31m");
    assert_eq!(
        rc(&other.deliver(b"x").await),
        ResultCode::PERMISSION_DENIED
    );
    let mut maker = Client::connect(server.addr, "0008dc1e3222").await;
    let refused = maker.register_gw("ThingPlug", "W\nFAKE\x1b[2J").await;
    assert_eq!(rc(&refused), ResultCode::BAD_REQUEST);
    server.stop().await;

    let text = String::from_utf8(log.since(start_at)).unwrap();
    assert!(!text.contains('\x1b'), "a raw ESC in the log:\n{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("FAKE")),
        "a line started by a peer:\n{text}"
    );
    assert!(
        text.contains("is empty or not printable ASCII"),
        "the refusal says why:\n{text}"
    );
    assert!(text.contains(r"FAKE\x1b[2J"), "shown escaped:\n{text}");
}

#[tokio::test]
async fn a_flood_of_unauthenticated_control_responses_logs_a_bounded_number_of_lines() {
    let (log, lock) = log();
    let _one_test_at_a_time = lock.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.trace_gmmp = false).await;
    let before = log.len();
    let mut peer = Client::connect(server.addr, "0008dc1e3222").await;
    for _ in 0..5_000 {
        let header = peer.header();
        let body = ControlResponse {
            domain_code: peer.domain,
            gw_id: peer.gw_id,
            device_id: DeviceId::EMPTY,
            control_type: ControlType::RESET,
            result_code: ResultCode::OK,
        };
        futures::SinkExt::feed(&mut peer.framed, Frame::new(header, body))
            .await
            .unwrap();
    }
    // Handled in order: the refused heartbeat after them closes the
    // connection once all 5,000 are through.
    let header = peer.header();
    let heartbeat = gmmp_codec::HeartbeatRequest {
        domain_code: peer.domain,
        gw_id: peer.gw_id,
    };
    peer.send(Frame::new(header, heartbeat)).await;
    peer.expect_closed().await;
    let logged = log.since(before);
    let lines = logged.iter().filter(|b| **b == b'\n').count();
    assert!(
        lines <= 10,
        "{lines} lines for 5,000 frames:\n{}",
        String::from_utf8_lossy(&logged)
    );
    let refused = server
        .state
        .metrics
        .responses_refused
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(refused, 5_000);
    server.stop().await;
}
