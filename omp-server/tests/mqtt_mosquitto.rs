//! Interop with a client nobody here wrote: the Mosquitto command-line
//! clients (`mosquitto_pub`, `mosquitto_sub`, Debian package
//! `mosquitto-clients`) against the real server, every result read back
//! through the HTTP API or `/metrics`.
//!
//! - QoS 0, 1 and 2 publishes over MQTT 3.1 (`-V mqttv31`) and 3.1.1,
//!   every payload byte value included, stored byte-exact.
//! - A retained OneNET `$dp` upload: stored with its data point decoded,
//!   and sent, retained, to a later `mosquitto_sub`.
//! - A command queued through the API reaches a subscribed
//!   `mosquitto_sub` at the lower of its QoS and the granted one, and ends
//!   SUCCESS (on the PUBACK at QoS 1, once written at QoS 0).
//! - MQTTS: `mosquitto_pub --cafile` with the server's certificate.
//!
//! Without the clients installed the tests are skipped, with the reason
//! printed — unless `CI=true`, where they fail.
//!
//! ```sh
//! apt-get install -y mosquitto-clients
//! cargo test -p omp-server --test mqtt_mosquitto
//! ```

mod common;
mod mqtt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::TestServer;
use mqtt::mosquitto::{self, Api, ApiMessage, KEY, tool};
use omp_server::{Config, ProvisioningMode};
use serde_json::json;
use tokio::io::AsyncReadExt;

async fn server(dir: &std::path::Path) -> TestServer {
    common::start(dir, |c: &mut Config| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
        c.provisioning = ProvisioningMode::Open;
        c.api_key = Some(KEY.to_owned());
    })
    .await
}

/// Every byte value once, rotated by `seed`, then `seed` itself: no two
/// payloads alike, and NUL, 0xff and invalid UTF-8 in each.
fn payload(seed: u8) -> Vec<u8> {
    let mut p: Vec<u8> = (0..=255u8).map(|b| b.wrapping_add(seed)).collect();
    p.push(seed);
    p
}

/// The OneNET type-3 `$dp` payload of the M5310-A seed:
/// `{"test":"hello，world！"}`.
const DP3: &str = "03001b7b2274657374223a2268656c6c6fefbc8c776f726c64efbc81227d";

#[tokio::test]
async fn mosquitto_pub_at_every_qos_over_mqtt_31_and_311_is_stored_byte_exact() {
    let Some(publisher) = tool("mosquitto_pub") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let port = server.mqtt_addr.unwrap().port().to_string();
    for (version, client_id) in [("mqttv31", "mosq-v31"), ("mqttv311", "mosq-v311")] {
        let mut expected = Vec::new();
        for qos in 0u8..=2 {
            let bytes = payload(qos * 7 + version.len() as u8);
            let file = dir.path().join(format!("{client_id}-{qos}.bin"));
            std::fs::write(&file, &bytes).unwrap();
            let topic = format!("interop/{version}/{qos}");
            mosquitto::run(
                &publisher,
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-V",
                    version,
                    "-i",
                    client_id,
                    "-q",
                    &qos.to_string(),
                    "-t",
                    &topic,
                    "-f",
                    file.to_str().unwrap(),
                ],
            )
            .await;
            // mosquitto_pub exits once its DISCONNECT is written; the next
            // run's CONNECT under the same id would replace a session still
            // reading it (and the counts below would say `replaced`).
            mosquitto::wait_disconnected(&server, client_id).await;
            expected.push(ApiMessage {
                topic,
                payload: bytes,
                qos: u64::from(qos),
                retain: false,
            });
        }
        let stored = api.wait_for_messages(client_id, 3).await;
        assert_eq!(stored, expected, "{version}");
    }
    // Six clients, each CONNECT → PUBLISH (→ PUBREL at QoS 2) → DISCONNECT.
    for line in [
        "omp_mqtt_messages_stored_total{qos=\"0\"} 2",
        "omp_mqtt_messages_stored_total{qos=\"1\"} 2",
        "omp_mqtt_messages_stored_total{qos=\"2\"} 2",
        "omp_mqtt_packets_received_total{packet=\"CONNECT\"} 6",
        "omp_mqtt_packets_received_total{packet=\"PUBLISH\"} 6",
        "omp_mqtt_packets_received_total{packet=\"PUBREL\"} 2",
        "omp_mqtt_packets_received_total{packet=\"DISCONNECT\"} 6",
        "omp_mqtt_connections_closed_total{reason=\"disconnect\"} 6",
        "omp_mqtt_sessions 0",
    ] {
        api.wait_for_metric(line).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_retained_dp_upload_is_decoded_and_reaches_a_later_subscriber() {
    let (Some(publisher), Some(subscriber)) = (tool("mosquitto_pub"), tool("mosquitto_sub")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let port = server.mqtt_addr.unwrap().port().to_string();
    let dp = hex::decode(DP3).unwrap();
    let file = dir.path().join("dp3.bin");
    std::fs::write(&file, &dp).unwrap();
    mosquitto::run(
        &publisher,
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-i",
            "dp-dev",
            "-q",
            "1",
            "-r",
            "-t",
            "$dp",
            "-f",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let stored = api.wait_for_messages("dp-dev", 1).await;
    assert_eq!(
        stored,
        vec![ApiMessage {
            topic: "$dp".into(),
            payload: dp.clone(),
            qos: 1,
            retain: true,
        }]
    );
    let (status, points) = api.get("/api/v1/mqtt/devices/dp-dev/datapoints").await;
    assert_eq!(status, 200, "{points}");
    assert_eq!(points["items"][0]["stream"], "test");
    assert_eq!(points["items"][0]["value"], "hello，world！");

    // A subscriber that comes later gets it, flagged retained.
    let out = mosquitto::run(
        &subscriber,
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-i",
            "dp-reader",
            "-q",
            "1",
            "-t",
            "$dp",
            "-C",
            "1",
            "-W",
            "15",
            "-F",
            "%t %q %r %x",
        ],
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("$dp 1 1 {DP3}")
    );
    server.stop().await;
}

/// A `mosquitto_sub` of `topic` at `sub_qos` gets the command queued at
/// `command_qos`; returns the line it printed (`%t %q %x`) and the
/// control once SUCCESS.
async fn command_through_mosquitto_sub(
    server: &TestServer,
    subscriber: &std::path::PathBuf,
    client_id: &str,
    sub_qos: u8,
    command_qos: u8,
) -> (String, serde_json::Value) {
    let api = Api::new(server);
    let port = server.mqtt_addr.unwrap().port().to_string();
    let topic = format!("cmd/{client_id}");
    let sub_qos = sub_qos.to_string();
    let mut child = mosquitto::spawn(
        subscriber,
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-i",
            client_id,
            "-q",
            &sub_qos,
            "-t",
            &topic,
            "-C",
            "1",
            "-F",
            "%t %q %x",
        ],
    );
    tokio::time::timeout(common::GUARD, async {
        while !server.state.mqtt.router.is_connected(client_id) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("mosquitto_sub connects within the guard");
    // Queued now; published once the subscription is in.
    let (status, created) = api
        .post(
            &format!("/api/v1/mqtt/devices/{client_id}/controls"),
            json!({
                "topic": topic,
                "payload": STANDARD.encode(b"relay on\x00\xff"),
                "qos": command_qos,
            }),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_i64().unwrap();
    let status = tokio::time::timeout(common::GUARD, child.wait())
        .await
        .expect("mosquitto_sub gets its one message within the guard")
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .await
        .unwrap();
    assert!(status.success(), "mosquitto_sub: {status}, {stdout}");
    let done = api.control_reaches(id, "SUCCESS").await;
    (stdout.trim().to_owned(), done)
}

#[tokio::test]
async fn mosquitto_sub_gets_a_command_at_the_lower_of_its_qos_and_the_granted_one() {
    let Some(subscriber) = tool("mosquitto_sub") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let hex_payload = hex::encode(b"relay on\x00\xff");

    // Granted 1, asked 2: published at QoS 1, ended by mosquitto's PUBACK.
    let (line, done) = command_through_mosquitto_sub(&server, &subscriber, "sub-q1", 1, 2).await;
    assert_eq!(line, format!("cmd/sub-q1 1 {hex_payload}"));
    assert_eq!(
        done["qos"], 2,
        "the control keeps the QoS it was asked with"
    );

    // Granted 0, asked 1: published at QoS 0, SUCCESS once written.
    let (line, _) = command_through_mosquitto_sub(&server, &subscriber, "sub-q0", 0, 1).await;
    assert_eq!(line, format!("cmd/sub-q0 0 {hex_payload}"));

    // Granted 2, asked 1: QoS 1 (never above what the command asked).
    let (line, _) = command_through_mosquitto_sub(&server, &subscriber, "sub-q2", 2, 1).await;
    assert_eq!(line, format!("cmd/sub-q2 1 {hex_payload}"));
    server.stop().await;
}

#[tokio::test]
async fn mosquitto_pub_over_mqtts_with_the_servers_certificate_as_cafile() {
    let Some(publisher) = tool("mosquitto_pub") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let cert = mqtt::test_cert(certs.path());
    let server = mqtt::start_mqtts(dir.path(), ProvisioningMode::Open, &cert, |c| {
        c.api_key = Some(KEY.to_owned());
    })
    .await;
    let api = Api::new(&server);
    let port = server.mqtts_addr.unwrap().port().to_string();
    let cafile = cert.cert.to_str().unwrap();
    for (version, client_id, qos) in [("mqttv31", "tls-v31", "1"), ("mqttv311", "tls-v311", "2")] {
        let bytes = payload(qos.len() as u8 + version.len() as u8);
        let file = dir.path().join(format!("{client_id}.bin"));
        std::fs::write(&file, &bytes).unwrap();
        // The certificate names `localhost`: connect by that name so that
        // mosquitto verifies it as a device would, no --insecure needed.
        mosquitto::run(
            &publisher,
            &[
                "-h",
                "localhost",
                "-p",
                &port,
                "--cafile",
                cafile,
                "-V",
                version,
                "-i",
                client_id,
                "-q",
                qos,
                "-t",
                "tls/interop",
                "-f",
                file.to_str().unwrap(),
            ],
        )
        .await;
        let stored = api.wait_for_messages(client_id, 1).await;
        assert_eq!(stored[0].payload, bytes, "{version}");
        assert_eq!(stored[0].qos.to_string(), qos);
    }
    server.stop().await;
}
