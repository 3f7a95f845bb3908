//! Commands to MQTT devices through the control queue, over real TCP and
//! HTTP: a OneNET `$creq` answered by `$crsp`, a QoS 1 command to a
//! subscribed SIM7600-style client ended by its PUBACK, commands queued
//! for an offline client and delivered at its next CONNECT, TTL expiry,
//! a restart while QUEUED, and `?wait=` returning on completion.

mod common;
mod mqtt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use mqtt::Raw;
use mqtt_codec::{Connect, Packet, PubAck, Publish, QoS, SubAckCode, Subscribe, SubscribeFilter};
use omp_server::ProvisioningMode;
use omp_server::store::mqtt_provisioning::LoginProfile;
use serde_json::{Value, json};

use common::TestServer;

const KEY: &str = "mqtt-controls-test-key-0123456789abcdef";

async fn server(dir: &std::path::Path) -> TestServer {
    common::start(dir, |c| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
        c.provisioning = ProvisioningMode::Open;
        c.api_key = Some(KEY.to_owned());
    })
    .await
}

fn encoded(p: &Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    p.encode(&mut b).unwrap();
    b.to_vec()
}

/// A device on a raw connection.
struct Device {
    raw: Raw,
}

impl Device {
    /// Connects as `client_id` and reads the CONNACK 0.
    async fn connect(server: &TestServer, client_id: &str) -> Device {
        let mut raw = Raw::connect(server).await;
        raw.send(&encoded(&Packet::Connect(Connect {
            protocol: mqtt_codec::Protocol::V311,
            clean_session: true,
            keep_alive: 120,
            client_id: client_id.to_owned(),
            will: None,
            username: None,
            password: None,
        })))
        .await;
        match raw.packet().await {
            Packet::ConnAck(a) => assert_eq!(a.code, mqtt_codec::ConnectReturnCode::Accepted),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        Device { raw }
    }

    async fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.raw
            .send(&encoded(&Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: vec![SubscribeFilter {
                    filter: filter.to_owned(),
                    qos,
                }],
                form: Default::default(),
            })))
            .await;
        match self.raw.packet().await {
            Packet::SubAck(s) => assert_eq!(s.return_codes, vec![SubAckCode::Granted(qos)]),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// The next PUBLISH the server sends.
    async fn publish_in(&mut self) -> Publish {
        loop {
            if let Packet::Publish(p) = self.raw.packet().await {
                return p;
            }
        }
    }

    async fn puback(&mut self, packet_id: u16) {
        self.raw
            .send(&encoded(&Packet::PubAck(PubAck { packet_id })))
            .await;
    }

    /// Publishes at QoS 1 and reads its PUBACK.
    async fn publish(&mut self, topic: &str, payload: &'static [u8]) {
        self.raw
            .send(&encoded(&Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: topic.to_owned(),
                packet_id: 42,
                payload: Bytes::from_static(payload),
            })))
            .await;
        loop {
            if let Packet::PubAck(a) = self.raw.packet().await {
                assert_eq!(a.packet_id, 42);
                return;
            }
        }
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &TestServer) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("http://{}/api/v1", server.http_addr),
        }
    }

    async fn command(&self, client_id: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/mqtt/devices/{client_id}/controls", self.base))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.unwrap()
    }

    /// Control `id` once it is no longer in `state` (long-polling).
    async fn after(&self, id: i64, state: &str) -> Value {
        tokio::time::timeout(common::GUARD, async {
            loop {
                let c = self.get(&format!("/controls/{id}?wait=30")).await;
                if c["state"] != state {
                    return c;
                }
            }
        })
        .await
        .expect("the control moves on within the guard")
    }

    /// Control `id` once it is in `state`.
    async fn reaches(&self, id: i64, state: &str) -> Value {
        let last = std::sync::Mutex::new(Value::Null);
        let reached = tokio::time::timeout(common::GUARD, async {
            // A long-poll waits for a change from the state its first read
            // sees, which may already be the wanted one: short polls.
            let mut c = self.get(&format!("/controls/{id}")).await;
            loop {
                if c["state"] == state {
                    return c;
                }
                *last.lock().unwrap() = c.clone();
                let now = c["state"].as_str().unwrap().to_owned();
                assert!(
                    !["SUCCESS", "FAILED", "TIMEOUT", "EXPIRED", "CANCELLED"]
                        .contains(&now.as_str()),
                    "ended {now} instead of {state}: {c}"
                );
                c = self.get(&format!("/controls/{id}?wait=1")).await;
            }
        })
        .await;
        reached.unwrap_or_else(|_| {
            panic!(
                "control {id} not {state} within the guard; last seen {}",
                last.lock().unwrap()
            )
        })
    }
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn states(control: &Value) -> Vec<&str> {
    control["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_onenet_creq_ends_success_with_the_crsp_payload() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut device = Device::connect(&server, "39599428").await;
    let (status, created) = api
        .command(
            "39599428",
            json!({ "topic": "$creq", "payload": b64(b"{\"led\":\"on\"}"), "qos": 1 }),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_i64().unwrap();

    let request = device.publish_in().await;
    let uuid = request
        .topic
        .strip_prefix("$creq/")
        .expect("published on $creq/<uuid>")
        .to_owned();
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(request.payload.as_ref(), b"{\"led\":\"on\"}");
    assert_eq!((request.qos, request.retain), (QoS::AtLeastOnce, false));
    device.puback(request.packet_id).await;
    api.reaches(id, "SENT").await;
    // The PUBACK alone does not end a $creq: its $crsp does.
    device
        .publish(&format!("$crsp/{uuid}"), b"{\"led\":\"is on\"}")
        .await;
    let done = api.reaches(id, "SUCCESS").await;
    assert_eq!(done["result"], b64(b"{\"led\":\"is on\"}"));
    assert_eq!(done["client_id"], "39599428");
    assert_eq!(done["topic"], "$creq");
    assert_eq!(states(&done), ["QUEUED", "SENT", "SUCCESS"]);
    assert!(done["sent_at"].is_string() && done["completed_at"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn a_qos1_command_to_a_subscribed_client_ends_on_its_puback_and_wait_returns_then() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut device = Device::connect(&server, "sim7600-1").await;
    // The SIM7600 AT flow: AT+CMQTTSUBTOPIC / AT+CMQTTSUB, then it receives
    // the messages the server sends on that topic.
    device.subscribe("sim7600/cmd/#", QoS::AtLeastOnce).await;
    let (status, created) = api
        .command(
            "sim7600-1",
            json!({ "topic": "sim7600/cmd/relay", "payload": b64(b"ON"), "qos": 1 }),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_i64().unwrap();
    let command = device.publish_in().await;
    assert_eq!(
        (
            command.topic.as_str(),
            command.payload.as_ref(),
            command.qos
        ),
        ("sim7600/cmd/relay", b"ON".as_slice(), QoS::AtLeastOnce)
    );
    let sent = api.reaches(id, "SENT").await;
    // A long-poll from SENT returns when the PUBACK ends the command.
    let poll = {
        let http = api.http.clone();
        let url = format!("{}/controls/{id}?wait=60", api.base);
        tokio::spawn(async move {
            let r = http.get(url).bearer_auth(KEY).send().await.unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    // Once the long-poll waits, it is woken by the change, not by its end.
    tokio::time::timeout(common::GUARD, async {
        while !server.state.control_watch().is_watched(id) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    device.puback(command.packet_id).await;
    let done = poll.await.unwrap();
    assert_eq!(done["state"], "SUCCESS", "{done}");
    assert_eq!(done["result"], Value::Null);
    assert_eq!(states(&done), ["QUEUED", "SENT", "SUCCESS"]);
    assert_eq!(sent["sent_at"], done["sent_at"]);

    let page = api.get("/mqtt/devices/sim7600-1/controls").await;
    assert_eq!(page["items"][0]["id"], id);
    server.stop().await;
}

#[tokio::test]
async fn commands_for_an_offline_client_wait_queued_and_go_at_its_next_connect() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    mqtt::provision(&server, LoginProfile::ClientId, Some("m5310"), None, None).await;
    let api = Api::new(&server);
    let (status, creq) = api
        .command(
            "m5310",
            json!({ "topic": "$creq", "payload": b64(b"reboot") }),
        )
        .await;
    assert_eq!((status, creq["state"].as_str()), (202, Some("QUEUED")));
    let (_, topic) = api
        .command(
            "m5310",
            json!({ "topic": "m5310/led", "payload": b64(b"1"), "qos": 0 }),
        )
        .await;
    let (_, cancelled) = api
        .command(
            "m5310",
            json!({ "topic": "m5310/led", "payload": b64(b"2"), "qos": 0 }),
        )
        .await;
    let cancelled_id = cancelled["id"].as_i64().unwrap();
    let r = api
        .http
        .delete(format!("{}/controls/{cancelled_id}", api.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Paged newest first, the cancelled one on top.
    let page = api.get("/mqtt/devices/m5310/controls?limit=2").await;
    assert_eq!(page["items"][0]["state"], "CANCELLED");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest = api
        .get(&format!(
            "/mqtt/devices/m5310/controls?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["items"][0]["id"], creq["id"]);
    assert_eq!(rest["next_cursor"], Value::Null);

    let mut device = Device::connect(&server, "m5310").await;
    // The $creq goes right after the CONNACK; the topic command waits for
    // a matching subscription.
    let request = device.publish_in().await;
    let uuid = request.topic.strip_prefix("$creq/").unwrap().to_owned();
    assert_eq!(request.payload.as_ref(), b"reboot");
    device.publish(&format!("$crsp/{uuid}"), b"ok").await;
    let creq = api.reaches(creq["id"].as_i64().unwrap(), "SUCCESS").await;
    assert_eq!(creq["result"], b64(b"ok"));
    let topic_id = topic["id"].as_i64().unwrap();
    assert_eq!(
        api.get(&format!("/controls/{topic_id}")).await["state"],
        "QUEUED"
    );
    device.subscribe("m5310/+", QoS::AtMostOnce).await;
    let led = device.publish_in().await;
    assert_eq!(
        (led.topic.as_str(), led.payload.as_ref(), led.qos),
        ("m5310/led", b"1".as_slice(), QoS::AtMostOnce)
    );
    let done = api.reaches(topic_id, "SUCCESS").await;
    assert_eq!(states(&done), ["QUEUED", "SENT", "SUCCESS"]);
    server.stop().await;
}

#[tokio::test]
async fn a_command_whose_ttl_passes_while_queued_expires() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    mqtt::provision(&server, LoginProfile::ClientId, Some("asleep"), None, None).await;
    let api = Api::new(&server);
    let (_, created) = api
        .command("asleep", json!({ "topic": "$creq", "ttl_seconds": 1 }))
        .await;
    let id = created["id"].as_i64().unwrap();
    let expired = api.after(id, "QUEUED").await;
    assert_eq!(expired["state"], "EXPIRED");
    assert_eq!(states(&expired), ["QUEUED", "EXPIRED"]);
    // It is not sent when the client comes.
    let mut device = Device::connect(&server, "asleep").await;
    device.publish("up", b"hello").await;
    assert_eq!(
        api.get(&format!("/controls/{id}")).await["state"],
        "EXPIRED"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_queued_command_survives_a_restart_and_is_delivered_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = server(dir.path()).await;
    mqtt::provision(&first, LoginProfile::ClientId, Some("later"), None, None).await;
    let (status, created) = Api::new(&first)
        .command(
            "later",
            json!({ "topic": "later/cmd", "payload": b64(b"go"), "qos": 1 }),
        )
        .await;
    assert_eq!(status, 202);
    let id = created["id"].as_i64().unwrap();
    first.stop().await;

    let server = server(dir.path()).await;
    let api = Api::new(&server);
    assert_eq!(api.get(&format!("/controls/{id}")).await["state"], "QUEUED");
    let mut device = Device::connect(&server, "later").await;
    device.subscribe("later/cmd", QoS::AtLeastOnce).await;
    let command = device.publish_in().await;
    assert_eq!(command.payload.as_ref(), b"go");
    device.puback(command.packet_id).await;
    let done = api.reaches(id, "SUCCESS").await;
    assert_eq!(states(&done), ["QUEUED", "SENT", "SUCCESS"]);
    server.stop().await;
}

#[tokio::test]
async fn qos2_ends_on_pubcomp_and_a_reply_topic_command_on_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut device = Device::connect(&server, "relay").await;
    device.subscribe("relay/#", QoS::ExactlyOnce).await;
    let (_, exactly) = api
        .command(
            "relay",
            json!({ "topic": "relay/set", "payload": b64(b"1"), "qos": 2 }),
        )
        .await;
    let id = exactly["id"].as_i64().unwrap();
    let command = device.publish_in().await;
    assert_eq!(command.qos, QoS::ExactlyOnce);
    device
        .raw
        .send(&encoded(&Packet::PubRec(mqtt_codec::PubRec {
            packet_id: command.packet_id,
        })))
        .await;
    match device.raw.packet().await {
        Packet::PubRel(r) => assert_eq!(r.packet_id, command.packet_id),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    // PUBREC is half way: SENT still.
    assert_eq!(api.reaches(id, "SENT").await["state"], "SENT");
    device
        .raw
        .send(&encoded(&Packet::PubComp(mqtt_codec::PubComp {
            packet_id: command.packet_id,
        })))
        .await;
    api.reaches(id, "SUCCESS").await;

    let (_, asked) = api
        .command(
            "relay",
            json!({ "topic": "relay/get", "qos": 1, "reply_topic": "relay-state" }),
        )
        .await;
    let id = asked["id"].as_i64().unwrap();
    let command = device.publish_in().await;
    device.puback(command.packet_id).await;
    api.reaches(id, "SENT").await;
    device.publish("relay-state", b"closed").await;
    let done = api.reaches(id, "SUCCESS").await;
    assert_eq!(done["result"], b64(b"closed"));
    assert_eq!(done["reply_topic"], "relay-state");
    server.stop().await;
}

#[tokio::test]
async fn a_command_whose_session_ends_unanswered_is_sent_again_on_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut device = Device::connect(&server, "flaky").await;
    device.subscribe("flaky/cmd", QoS::AtLeastOnce).await;
    let (_, created) = api
        .command(
            "flaky",
            json!({ "topic": "flaky/cmd", "payload": b64(b"x") }),
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    device.publish_in().await;
    api.reaches(id, "SENT").await;
    drop(device);
    api.reaches(id, "QUEUED").await;
    let mut device = Device::connect(&server, "flaky").await;
    device.subscribe("flaky/cmd", QoS::AtLeastOnce).await;
    let again = device.publish_in().await;
    assert_eq!(again.payload.as_ref(), b"x");
    device.puback(again.packet_id).await;
    let done = api.reaches(id, "SUCCESS").await;
    assert_eq!(
        states(&done),
        ["QUEUED", "SENT", "QUEUED", "SENT", "SUCCESS"]
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_commands_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    mqtt::provision(&server, LoginProfile::ClientId, Some("dev"), None, None).await;
    let api = Api::new(&server);
    for (body, status, field) in [
        (json!({}), 400, "topic"),
        (json!({ "topic": "a/+" }), 422, "topic"),
        (json!({ "topic": "$dp" }), 422, "topic"),
        (json!({ "topic": "a", "qos": 3 }), 422, "qos"),
        (json!({ "topic": "a", "payload": "***" }), 422, "payload"),
        (
            json!({ "topic": "$creq", "reply_topic": "r" }),
            422,
            "reply_topic",
        ),
    ] {
        let (got, answer) = api.command("dev", body.clone()).await;
        assert_eq!(
            (got, answer["error"]["field"].as_str()),
            (status, Some(field)),
            "{body} → {answer}"
        );
    }
    let (got, _) = api.command("nobody", json!({ "topic": "a" })).await;
    assert_eq!(got, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_command_goes_out_at_the_lower_of_its_qos_and_the_granted_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut device = Device::connect(&server, "granted-0").await;
    // Two matching filters: the higher grant (QoS 1) applies.
    device.subscribe("granted/#", QoS::AtMostOnce).await;
    device.subscribe("granted/relay", QoS::AtLeastOnce).await;

    // Asked QoS 2, granted 1: a QoS 1 PUBLISH, ended by its PUBACK.
    let (status, created) = api
        .command(
            "granted-0",
            json!({ "topic": "granted/relay", "payload": b64(b"ON"), "qos": 2 }),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_i64().unwrap();
    let command = device.publish_in().await;
    assert_eq!(command.qos, QoS::AtLeastOnce);
    api.reaches(id, "SENT").await;
    device.puback(command.packet_id).await;
    let done = api.reaches(id, "SUCCESS").await;
    assert_eq!(
        done["qos"], 2,
        "the control keeps the QoS it was asked with"
    );

    // Asked QoS 1 on a topic granted QoS 0 only: a QoS 0 PUBLISH, which
    // nothing acknowledges, so it ends once written.
    let (status, created) = api
        .command(
            "granted-0",
            json!({ "topic": "granted/lamp", "payload": b64(b"OFF"), "qos": 1 }),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_i64().unwrap();
    let command = device.publish_in().await;
    assert_eq!(
        (command.topic.as_str(), command.qos, command.packet_id),
        ("granted/lamp", QoS::AtMostOnce, 0)
    );
    let done = api.reaches(id, "SUCCESS").await;
    assert_eq!(states(&done), ["QUEUED", "SENT", "SUCCESS"]);
    server.stop().await;
}
