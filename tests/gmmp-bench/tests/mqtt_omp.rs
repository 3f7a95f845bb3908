//! The MQTT scenarios against the real omp-server's MQTT listener (in
//! this process): `mqtt-ceiling`'s every PUBACK is a stored row, since the
//! OMP acknowledges only after its commit; `mqtt-sessions` holds idle
//! sessions and pings them.

mod real_omp;

use std::time::Duration;

use gmmp_bench::ceiling::mqtt::{self, MqttCeilingOptions};
use serde_json::Value;
use sqlx::ConnectOptions;

/// Generous guard against a hang; never a performance assertion.
const GUARD: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_puback_from_the_omp_is_a_stored_message() {
    let real = real_omp::start(|c| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let omp = &real.server;
    let db_path = real.db_path.clone();
    let broker = omp.mqtt_addr.expect("the MQTT listener");

    let report = tokio::time::timeout(
        GUARD,
        mqtt::run(&MqttCeilingOptions {
            broker,
            clients: 4,
            payload_size: 100,
            duration: Duration::from_millis(500),
            broker_pid: Some(std::process::id()),
            label: "omp".into(),
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let acked = report.get("acknowledged").and_then(Value::as_u64).unwrap();
    assert!(acked > 0, "{report}");
    assert_eq!(
        report.get("client_failures").and_then(Value::as_u64),
        Some(0),
        "{report}"
    );
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db_path)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mqtt_messages")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows as u64, acked, "{report}");

    real.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_mqtt_sessions_are_held_and_pinged() {
    use gmmp_bench::scenario::mqtt_sessions::{self, MqttSessionsOptions};
    let real = real_omp::start(|c| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let omp = &real.server;
    let report = tokio::time::timeout(
        GUARD,
        mqtt_sessions::run(&MqttSessionsOptions {
            target: omp.mqtt_addr.unwrap(),
            sessions: 50,
            ping_period: Duration::from_millis(200),
            hold: Duration::from_millis(600),
            connect_concurrency: 8,
            server_pid: Some(std::process::id()),
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let n = |k: &str| report.get(k).and_then(Value::as_u64).unwrap();
    assert_eq!(n("opened"), 50, "{report}");
    assert_eq!(n("failed"), 0, "{report}");
    assert_eq!(n("dropped_while_held"), 0, "{report}");
    assert!(n("pings") >= 50, "{report}");
    assert!(report.get("server_bytes_per_session").is_some(), "{report}");
    real.stop().await;
}
