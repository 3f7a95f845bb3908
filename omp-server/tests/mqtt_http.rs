//! The MQTT routes over real TCP: after the OneNET seed's `$dp` upload the
//! API answers its payload byte-exact and its data point decoded.

mod common;
mod mqtt;

use base64::Engine;
use mqtt::{Raw, hex};
use omp_server::ProvisioningMode;
use serde_json::Value;

const KEY: &str = "mqtt-http-test-key-0123456789abcdef";

#[tokio::test]
async fn messages_and_data_points_of_an_mqtt_device() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(dir.path(), |c| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
        c.provisioning = ProvisioningMode::Open;
        c.api_key = Some(KEY.to_owned());
    })
    .await;
    let mut c = Raw::connect(&server).await;
    // CONNECT client 39599428 (open mode: the credentials are not checked).
    c.send(&hex(
        "10 24 00 04 4d 51 54 54 04 c2 00 14 00 08 33 39 35 39 39 34 32 38 \
         00 06 31 36 35 39 32 30 00 06 41 50 49 4b 45 59",
    ))
    .await;
    assert_eq!(c.read_exact(4).await, hex("20 02 00 00"));
    let payload = hex(
        "03 00 1b 7b 22 74 65 73 74 22 3a 22 68 65 6c 6c 6f ef bc 8c 77 6f 72 6c 64 ef bc 81 22 7d",
    );
    let mut publish = hex("32 25 00 03 24 64 70 00 0a");
    publish.extend_from_slice(&payload);
    c.send(&publish).await;
    assert_eq!(c.read_exact(4).await, hex("40 02 00 0a"));
    // Undecodable: type 3 whose length says 9 bytes but carries 2.
    c.send(&hex("32 0c 00 03 24 64 70 00 0b 03 00 09 7b 7d"))
        .await;
    assert_eq!(c.read_exact(4).await, hex("40 02 00 0b"));

    let http = reqwest::Client::new();
    let base = format!("http://{}/api/v1/mqtt/devices", server.http_addr);
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).bearer_auth(KEY).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // The online state is written in the writer's next batch: wait for it.
    let devices = tokio::time::timeout(common::GUARD, async {
        loop {
            let (status, body) = get(base.clone()).await;
            assert_eq!(status, 200);
            if !body["items"].as_array().unwrap().is_empty() {
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(devices["items"][0]["client_id"], "39599428");
    assert_eq!(devices["items"][0]["online"], true);

    let (status, page) = get(format!("{base}/39599428/messages?limit=1")).await;
    assert_eq!(status, 200);
    let newest = &page["items"][0];
    assert_eq!(newest["dp_undecodable"], true);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, page) = get(format!("{base}/39599428/messages?limit=1&cursor={cursor}")).await;
    let first = &page["items"][0];
    let content = base64::engine::general_purpose::STANDARD
        .decode(first["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(content, payload);
    assert_eq!(
        (first["topic"].as_str(), first["qos"].as_i64()),
        (Some("$dp"), Some(1))
    );
    assert_eq!(page["next_cursor"], Value::Null);

    let (status, points) = get(format!("{base}/39599428/datapoints?stream=test")).await;
    assert_eq!(status, 200);
    assert_eq!(points["items"][0]["value"], "hello，world！");
    assert_eq!(points["items"].as_array().unwrap().len(), 1);

    let (status, missing) = get(format!("{base}/nobody/messages")).await;
    assert_eq!(status, 404, "{missing}");
    let (status, bad) = get(format!("{base}/39599428/messages?cursor=xyz")).await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("cursor"))
    );
    server.stop().await;
}
