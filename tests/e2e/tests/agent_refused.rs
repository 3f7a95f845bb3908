//! An agent the OMP has not approved: the OMP (in `approved` mode)
//! refuses its GW registration again and again, and the agent says why
//! once — with the command that approves it — then retries quietly.

mod common;

use common::{direct_config, start_direct, until};
use test_support::captured_log::CapturedLog;
use tokio_util::sync::CancellationToken;

/// Current-thread runtime: the subscriber set for this thread sees every
/// task of the agent and of the OMP.
#[tokio::test(flavor = "current_thread")]
async fn a_refused_agent_names_the_approval_once_then_retries_quietly() {
    let captured = CapturedLog::default();
    let _log = tracing::subscriber::set_default(captured.subscriber(tracing::Level::DEBUG));

    let omp_dir = tempfile::tempdir().unwrap();
    let mut config = omp_server::Config::defaults();
    config.gmmp_listen = "127.0.0.1:0".parse().unwrap();
    config.http_listen = "127.0.0.1:0".parse().unwrap();
    config.mqtt_listen = None;
    config.mqtts_listen = None;
    config.data_dir = omp_dir.path().to_owned();
    config.provisioning = omp_server::ProvisioningMode::Approved;
    let shutdown = CancellationToken::new();
    let server = omp_server::run(config, shutdown.clone()).await.unwrap();

    let state = tempfile::tempdir().unwrap();
    let agent = start_direct(direct_config(server.gmmp_addr.port(), state.path(), "")).await;

    let agent_lines = |needle: &'static str| {
        let captured = captured.clone();
        move || {
            captured
                .lines()
                .into_iter()
                .filter(|l| l.contains("gw_agent") && l.contains(needle))
                .collect::<Vec<_>>()
        }
    };
    let retried_quietly = agent_lines("the same reason again");
    until("four refusals in a row", || {
        let n = retried_quietly().len();
        async move { n >= 3 }
    })
    .await;
    agent.stop().await;
    shutdown.cancel();
    server.wait().await.unwrap();

    let warnings: Vec<String> = agent_lines("WARN")()
        .into_iter()
        .filter(|l| l.contains("GW registration refused"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning: {warnings:#?}");
    assert!(
        warnings[0]
            .contains("omp-server provision add 0008dc1e3222 --domain ThingPlug --manufacture-id"),
        "it names the approval: {}",
        warnings[0]
    );
}
