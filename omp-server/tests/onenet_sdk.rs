//! Conformance with OneNET's own C device SDK (`cm-heclouds/MQTT`): the
//! packets of one whole session of its sample, captured as it ran against
//! omp-server (`tests/onenet_sdk/README.md` says how), replayed in order
//! over real TCP against the server started on 127.0.0.1:0 in mode
//! `approved` with the device provisioned OneNET-style. Every answer must
//! be the captured one byte for byte; what the server stored is read back
//! over the HTTP API: every PUBLISH payload byte-exact, the `$dp` data
//! points the SDK's types 1–4 carry, types 5–7 kept and flagged, the
//! `$creq` command ended by the SDK's `$crsp`.
//!
//! ```sh
//! cargo test -p omp-server --test onenet_sdk
//! ```

mod common;
mod mqtt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use mqtt::Raw;
use mqtt::mosquitto::{Api, ApiMessage, KEY};
use mqtt_codec::{Packet, PacketType};
use omp_server::ProvisioningMode;
use omp_server::store::mqtt_provisioning::LoginProfile;
use serde_json::json;

const SESSION: &str = include_str!("onenet_sdk/session.hex");
/// The uuid of the `$creq` the capture's server sent.
const CAPTURED_UUID: &str = "13cf9c6f-0b1d-4b17-a443-61f38ef0f27c";

#[derive(Debug)]
enum Step {
    /// Device → server.
    Send(Vec<u8>),
    /// Server → device.
    Expect(Vec<u8>),
    /// Queue the capture's `$creq` command over HTTP.
    QueueCreq,
}

fn steps() -> Vec<Step> {
    SESSION
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| match l.split_once(' ') {
            Some((">", h)) => Step::Send(hex::decode(h).unwrap()),
            Some(("<", h)) => Step::Expect(hex::decode(h).unwrap()),
            Some(("!", "creq")) => Step::QueueCreq,
            _ => panic!("session.hex: bad line {l:?}"),
        })
        .collect()
}

/// The captured PUBLISHes of the device, decoded.
fn device_publishes() -> Vec<mqtt_codec::Publish> {
    steps()
        .into_iter()
        .filter_map(|s| match s {
            Step::Send(b) => match Packet::from_bytes(Bytes::from(b)).unwrap() {
                Packet::Publish(p) => Some(p),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = haystack.to_vec();
    if let Some(at) = out.windows(from.len()).position(|w| w == from) {
        out[at..at + to.len()].copy_from_slice(to);
    }
    out
}

#[tokio::test]
async fn the_onenet_sdk_session_replays_and_everything_it_sent_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(dir.path(), |c| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
        c.provisioning = ProvisioningMode::Approved;
        c.api_key = Some(KEY.to_owned());
    })
    .await;
    mqtt::provision(
        &server,
        LoginProfile::OneNet,
        Some("4069959"),
        Some("75829"),
        Some("interop-auth"),
    )
    .await;
    let api = Api::new(&server);
    let mut device = Raw::connect(&server).await;
    let mut control_id = None;
    let mut live_uuid: Option<String> = None;
    for step in steps() {
        match step {
            Step::Send(bytes) => {
                let bytes = match &live_uuid {
                    Some(uuid) => replace(&bytes, CAPTURED_UUID.as_bytes(), uuid.as_bytes()),
                    None => bytes,
                };
                device.send(&bytes).await;
            }
            Step::QueueCreq => {
                let (status, created) = api
                    .post(
                        "/api/v1/mqtt/devices/4069959/controls",
                        json!({ "topic": "$creq", "payload": STANDARD.encode(b"{\"led\":\"on\"}"), "qos": 0 }),
                    )
                    .await;
                assert_eq!(status, 202, "{created}");
                control_id = created["id"].as_i64();
            }
            Step::Expect(want) => {
                let got = device.read_exact(want.len()).await;
                if want.windows(6).any(|w| w == b"$creq/") {
                    // Same packet but for the fresh uuid.
                    let uuid = String::from_utf8(got[10..46].to_vec()).unwrap();
                    assert_eq!(
                        replace(&got, uuid.as_bytes(), CAPTURED_UUID.as_bytes()),
                        want,
                        "the $creq PUBLISH"
                    );
                    live_uuid = Some(uuid);
                } else {
                    assert_eq!(hex::encode(&got), hex::encode(&want));
                }
            }
        }
    }
    assert!(device.closed().await, "DISCONNECT closes the connection");

    // Every PUBLISH stored byte-exact, in order, at its QoS.
    let uuid = live_uuid.expect("the $creq was sent");
    let expected: Vec<ApiMessage> = device_publishes()
        .into_iter()
        .map(|p| ApiMessage {
            topic: p.topic.replace(CAPTURED_UUID, &uuid),
            payload: p.payload.to_vec(),
            qos: p.qos as u64,
            retain: false,
        })
        .collect();
    assert_eq!(expected.len(), 12);
    let stored = api.wait_for_messages("4069959", expected.len()).await;
    assert_eq!(stored, expected);
    let (_, messages) = api
        .get("/api/v1/mqtt/devices/4069959/messages?limit=100")
        .await;
    let flagged: Vec<(String, String)> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|m| m["dp_undecodable"] == true)
        .map(|m| {
            (
                STANDARD.decode(m["content"].as_str().unwrap()).unwrap()[0].to_string(),
                m["dp_error"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        flagged,
        [
            (
                "5".to_owned(),
                "$dp text item \"102\" is not stream,value or stream,time,value".to_owned()
            ),
            (
                "6".to_owned(),
                "$dp text item \"102\" is not stream,value or stream,time,value".to_owned()
            ),
            (
                "135".to_owned(),
                "$dp payload has 10 bytes after its last field".to_owned()
            ),
        ],
        "types 5, 6 and 7 of the sample are kept raw and flagged"
    );

    // The data points of types 1–4 (type 3 three times: QoS 1, 0 and 2).
    let (_, points) = api
        .get("/api/v1/mqtt/devices/4069959/datapoints?limit=100")
        .await;
    let points: Vec<(String, serde_json::Value, serde_json::Value)> = points["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|p| {
            let value = match &p["value"] {
                v if v.is_object() => json!({
                    "desc": v["desc"],
                    "bytes": STANDARD.decode(v["base64"].as_str().unwrap()).unwrap().len(),
                }),
                v => v.clone(),
            };
            (
                p["stream"].as_str().unwrap().to_owned(),
                p["at"].clone(),
                value,
            )
        })
        .collect();
    assert_eq!(
        points,
        [
            (
                "temperature".into(),
                json!("2016-12-22 22:22:22"),
                json!(36.5)
            ),
            (
                "image".into(),
                json!("2026-12-03 13:54:12"),
                json!({ "desc": "upload image", "bytes": 10240 })
            ),
            ("temperature".into(), json!(null), json!(22.5)),
            (
                "temperature".into(),
                json!("2015-03-22 22:31:12"),
                json!(22.5)
            ),
            ("temperature".into(), json!(null), json!(22.5)),
            ("temperature".into(), json!(null), json!(22.5)),
        ]
    );

    // The first $crsp ended the command with its payload.
    let id = control_id.expect("the command was queued");
    let done = api.control_reaches(id, "SUCCESS").await;
    assert_eq!(done["result"], STANDARD.encode(b"hello MQTT\0"));

    // SUBSCRIBE 0x80 and UNSUBSCRIBE 0xa0 counted as packets, not as
    // malformed input.
    let m = &server.state.mqtt.metrics;
    assert_eq!(m.packets_in(PacketType::Subscribe), 1);
    assert_eq!(m.packets_in(PacketType::Unsubscribe), 1);
    assert_eq!(m.packets_in(PacketType::Publish), 12);
    assert_eq!(m.malformed.load(std::sync::atomic::Ordering::Relaxed), 0);
    server.stop().await;
}
