//! Sources never wait on the module: while a send over the WizFi310 is
//! held up (the module's final `[OK]` to an AT+SSEND is lost, so the
//! agent waits out the command's timeout), every line a source writes is
//! spooled and answered at once, and all of them reach the OMP afterwards,
//! in order. The same while a control runs on the module and its answer
//! comes late.

mod common;

use std::time::Duration;

use common::{bridge_config, quick_sim, ready, send_lines, start_bridge, start_omp, until};
use wizfi310_sim::{Fault, Simulator};

/// How long the agent waits for an AT+SSEND's final `[OK]` at most
/// (gw-agent/README.md, timeouts) before it re-syncs and counts the send
/// as unconfirmed; the next send's go-ahead ends the wait earlier.
const SEND_REPLY_WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_are_answered_while_a_send_waits_on_the_module() {
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
    let before = omp.gateways().await;
    let gateway = format!("/api/v1/gateways/{gw_id}");
    let session = omp.get(omp_dir.path(), &gateway).await["session_since"].clone();
    assert!(session.is_string(), "connected: {session}");

    // The reply to the next command (the AT+SSEND carrying "held") is
    // lost: the module sends the data, but the agent hears no `[OK]`.
    ctl.inject(Fault::DropNextResponse);
    let held_from = tokio::time::Instant::now();
    let first = send_lines(agent.data_addr, &["held"]).await;
    assert!(first[0].starts_with("ok "), "{first:?}");
    until("the held delivery stored", || async {
        omp.payloads(&gw_id).await == ["held"]
    })
    .await;
    // The next delivery's send queues behind the one still waiting; the
    // lines keep coming meanwhile.
    let lines: Vec<String> = (0..20).map(|i| format!("meanwhile {i:02}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let answers = send_lines(agent.data_addr, &refs).await;
    let answered_after = held_from.elapsed();
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");
    // The wait for the lost reply cannot end before SEND_REPLY_WAIT:
    // every line was spooled and answered while a send still waited.
    assert!(
        answered_after < SEND_REPLY_WAIT,
        "the lines waited for the module: answered after {answered_after:?}"
    );

    let mut want = vec!["held".to_owned()];
    want.extend(lines);
    until("every line stored, in order", || async {
        omp.payloads(&gw_id).await == want
    })
    .await;
    assert_eq!(omp.gateways().await, before, "the same gateway");
    // A lost reply costs a wait, not the session.
    assert_eq!(
        omp.get(omp_dir.path(), &gateway).await["session_since"],
        session,
        "the session the agent had before the lost reply"
    );

    agent.stop().await;
    sim.shutdown().await;
    omp.stop().await;
}

/// How late the module answers the control's command: far longer than
/// spooling and answering twenty lines takes, within the driver's
/// command timeout, so the control still succeeds.
const MODULE_ANSWER_DELAY: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_are_answered_while_a_control_waits_on_the_module() {
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

    // The next command is the control's AT+WSTAT; its answer comes late.
    ctl.inject(Fault::DelayNextResponse(MODULE_ANSWER_DELAY));
    let held_from = tokio::time::Instant::now();
    let control = {
        let (omp, dir, gw_id) = (&omp, omp_dir.path(), gw_id.clone());
        async move { omp.control(dir, &gw_id, "signal_power_check").await }
    };
    let lines: Vec<String> = (0..20).map(|i| format!("meanwhile {i:02}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let sending = async {
        // Give the control time to reach the agent (a sequencing pause,
        // not a measurement: a late control only makes this test weaker).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let answers = send_lines(agent.data_addr, &refs).await;
        (answers, held_from.elapsed())
    };
    let (control, (answers, answered_after)) = tokio::join!(control, sending);
    assert_eq!(control["state"], "SUCCESS", "{control}");
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");
    assert!(
        answered_after < MODULE_ANSWER_DELAY,
        "the lines waited for the module: answered after {answered_after:?}"
    );
    until("every line stored, in order", || async {
        omp.payloads(&gw_id).await == lines
    })
    .await;

    agent.stop().await;
    sim.shutdown().await;
    omp.stop().await;
}
