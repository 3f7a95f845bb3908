//! The agent (direct transport) against the real OMP server, started
//! through its library on 127.0.0.1:0 with open provisioning.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{direct_config, drained, send_lines, start_direct, start_omp, until};
use futures::{SinkExt, StreamExt};
use gmmp_codec::{GmmpCodec, MessageType};
use test_support::captured_log::CapturedLog;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{FramedRead, FramedWrite};

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

    let gw_id = drained(state.path()).await;
    let stored = omp_server::store::deliveries::latest(&omp.state.db, &gw_id, 10)
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

/// Forwards GMMP between the agent and the OMP, except that the first
/// delivery response (0x0C) is swallowed and both connections cut: the OMP
/// has committed that delivery, the agent never hears so.
async fn start_status_ok_thief(omp: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let armed = Arc::new(AtomicBool::new(true));
    tokio::spawn(async move {
        while let Ok((agent, _)) = listener.accept().await {
            let Ok(upstream) = TcpStream::connect(omp).await else {
                return;
            };
            let armed = armed.clone();
            tokio::spawn(async move {
                let (mut agent_rx, agent_tx) = agent.into_split();
                let (omp_rx, mut omp_tx) = upstream.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut agent_rx, &mut omp_tx).await;
                });
                let mut from_omp = FramedRead::new(omp_rx, GmmpCodec);
                let mut to_agent = FramedWrite::new(agent_tx, GmmpCodec);
                while let Some(Ok(frame)) = from_omp.next().await {
                    if frame.message.message_type() == MessageType::DeliveryResponse
                        && armed.swap(false, Ordering::SeqCst)
                    {
                        break;
                    }
                    if to_agent.send(frame).await.is_err() {
                        break;
                    }
                }
                // Dropping both halves of each side closes both connections.
                up.abort();
            });
        }
    });
    addr
}

/// The gap at-least-once leaves — a STATUS_OK lost after the OMP committed
/// the delivery — closed by keyed deliveries: the agent sends the delivery
/// again after reconnecting, under the same T-ID and origin_timestamp, and
/// the OMP acknowledges it without a second row. With `delivery.keyed =
/// false` the same run stores it twice, which shows the test can tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_status_ok_was_lost_is_stored_once() {
    for keyed in [true, false] {
        let omp_dir = tempfile::tempdir().unwrap();
        let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
        let thief = start_status_ok_thief(omp.gmmp_addr).await;
        let state = tempfile::tempdir().unwrap();
        let extra = format!("[delivery]\nkeyed = {keyed}");
        let agent = start_direct(direct_config(thief.port(), state.path(), &extra)).await;

        let answers = send_lines(agent.data_addr, &["one"]).await;
        assert!(answers[0].starts_with("ok "), "{answers:?}");
        let gw_id = drained(state.path()).await;
        send_lines(agent.data_addr, &["two"]).await;
        until("the second delivery", || async {
            omp.payloads(&gw_id).await.last().map(String::as_str) == Some("two")
        })
        .await;

        let resent = omp
            .state
            .metrics
            .deliveries_already_stored
            .load(Ordering::Relaxed);
        if keyed {
            assert_eq!(omp.payloads(&gw_id).await, ["one", "two"]);
            assert_eq!(resent, 1, "the resend was recognised");
        } else {
            assert_eq!(omp.payloads(&gw_id).await, ["one", "one", "two"]);
            assert_eq!(resent, 0);
        }
        agent.stop().await;
        omp.stop().await;
    }
}

/// Two agents with one auth ID (the same MAC): each registration replaces
/// the other's session, and GMMP tells neither why. The agent says that
/// another connection probably takes its session over.
// One thread: the log subscriber set here sees every agent task.
#[tokio::test(flavor = "current_thread")]
async fn two_agents_with_one_auth_id_hear_that_another_connection_takes_over() {
    let log = CapturedLog::default();
    let _guard = tracing::subscriber::set_default(log.subscriber(tracing::Level::WARN));

    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp = start_omp(omp_dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (state_a, state_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = omp.gmmp_addr.port();
    let a = start_direct(direct_config(port, state_a.path(), "")).await;
    let b = start_direct(direct_config(port, state_b.path(), "")).await;
    until("an agent says another connection takes over", || async {
        log.text()
            .contains("another connection registering the same auth ID")
    })
    .await;
    let text = log.text();
    assert!(
        text.contains("live session was replaced"),
        "the OMP's side of it too: {text}"
    );
    for agent in [a, b] {
        agent.stop().await;
    }
    omp.stop().await;
}
