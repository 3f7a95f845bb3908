//! The agent (direct transport) against the real OMP server, started
//! through its library on 127.0.0.1:0 with open provisioning.

use std::time::Duration;

use gw_agent::agent::Agent;
use gw_agent::config::{Config, ListenAddr};
use gw_agent::transport::DirectTransport;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const GUARD: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_reach_the_omp_store_in_order() {
    let omp_dir = tempfile::tempdir().unwrap();
    let mut omp_config = omp_server::Config::defaults();
    omp_config.gmmp_listen = "127.0.0.1:0".parse().unwrap();
    omp_config.http_listen = "127.0.0.1:0".parse().unwrap();
    omp_config.data_dir = omp_dir.path().to_owned();
    omp_config.provisioning = omp_server::ProvisioningMode::Open;
    let omp_shutdown = CancellationToken::new();
    let omp = omp_server::run(omp_config, omp_shutdown.clone())
        .await
        .unwrap();

    let state = tempfile::tempdir().unwrap();
    let config = Config::from_toml(&format!(
        r#"
transport = "direct"
auth_id = "0008dc1e3222"
state_dir = "{}"
[omp]
host = "127.0.0.1"
port = {}
[[devices]]
name = "sensor1"
manufacture_id = "dev-1"
[sources]
stdin = false
listen = "tcp:127.0.0.1:0"
"#,
        state.path().display(),
        omp.gmmp_addr.port()
    ))
    .unwrap();
    let transport = DirectTransport::new(&config.omp_host, config.omp_port);
    let agent = Agent::start(config).await.unwrap();
    let Some(ListenAddr::Tcp(data_addr)) = agent.local_addr().cloned() else {
        panic!("no TCP data socket");
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(agent.run(transport, shutdown.clone()));

    let stream = TcpStream::connect(data_addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut answers = BufReader::new(r).lines();
    let lines = [
        "25.3C",
        "25.4C",
        r#"{"payload":"door open","device":"sensor1","report_type":"event"}"#,
    ];
    for line in lines {
        w.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(GUARD, answers.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(answer.starts_with("ok "), "{answer}");
    }

    let status = tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(s) = gw_agent::status::read(state.path())
                && s.spool_depth == 0
                && s.omp == "ready"
                && s.gw_id.is_some()
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the spool to drain");
    let gw_id = status.gw_id.unwrap();
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

    shutdown.cancel();
    tokio::time::timeout(GUARD, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    omp_shutdown.cancel();
    tokio::time::timeout(GUARD, omp.wait())
        .await
        .unwrap()
        .unwrap();
}
