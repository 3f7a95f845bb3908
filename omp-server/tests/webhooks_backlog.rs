//! A webhook's receiver down while a large backlog builds: 10,000
//! deliveries from 20 gateways arrive while it answers 503; once it
//! answers 200 again every delivery event reaches it exactly once, in id
//! order, and the webhook is healthy again. The downtime is seconds here,
//! not minutes: the wait between attempts is capped by
//! `webhook_retry_max`, so only the backlog's size matters.

mod answer;
mod common;
mod tcp_api;
mod webhooks_support;

use std::time::Duration;

use gmmp_codec::ResultCode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::{Client, rc, start};
use tcp_api::{Api, KEY};
use webhooks_support::Receiver;

const GATEWAYS: usize = 20;
const PER_GATEWAY: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_deliveries_while_the_receiver_is_down_all_arrive_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.api_key = Some(KEY.to_owned());
        c.trace_gmmp = false;
        c.webhook.retry_min = Duration::from_millis(20);
        c.webhook.retry_max = Duration::from_millis(200);
    })
    .await;
    let api = Api::new(&server);
    let receiver = Receiver::start(503).await;
    let body = json!({ "url": receiver.url(), "secret": "backlog", "kinds": ["delivery"] });
    let made = api
        .json(Method::POST, "/api/v1/webhooks", &body.to_string())
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.json["id"].as_i64().unwrap();

    let senders: Vec<_> = (0..GATEWAYS)
        .map(|g| {
            let addr = server.addr;
            tokio::spawn(async move {
                let mut gw = Client::connect(addr, &format!("0008dc1e{g:04x}")).await;
                assert_eq!(
                    rc(&gw.register_gw("ThingPlug", "WIZnet").await),
                    ResultCode::OK
                );
                for i in 0..PER_GATEWAY {
                    let payload = format!("{g}:{i}");
                    assert_eq!(rc(&gw.deliver(payload.as_bytes()).await), ResultCode::OK);
                }
                gw
            })
        })
        .collect();
    let mut gateways = Vec::new();
    for s in senders {
        gateways.push(s.await.unwrap());
    }
    let down = api.get(&format!("/api/v1/webhooks/{id}")).await.json;
    assert!(down["failing_since"].is_string(), "{down}");
    assert!(
        receiver.accepted().is_empty(),
        "nothing was accepted while down"
    );

    let stored = delivery_event_ids(&api).await;
    assert_eq!(stored.len(), GATEWAYS * PER_GATEWAY);
    receiver.answer(200);
    let last = *stored.last().unwrap();
    let wait = async {
        loop {
            let hook = api.get(&format!("/api/v1/webhooks/{id}")).await.json;
            if hook["cursor"].as_i64() >= Some(last) {
                return hook;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let hook = tokio::time::timeout(Duration::from_secs(120), wait)
        .await
        .expect("the webhook caught up with its backlog");
    assert_eq!(receiver.accepted(), stored, "each once, in order");
    assert_eq!(hook["failing_since"], Value::Null, "{hook}");
    assert_eq!(hook["enabled"], true, "{hook}");
    drop(gateways);
    server.stop().await;
}

/// Every delivery event's id, walking the JSON pages.
async fn delivery_event_ids(api: &Api) -> Vec<i64> {
    let mut after = 0;
    let mut ids = Vec::new();
    loop {
        let page = api
            .get(&format!(
                "/api/v1/events?kind=delivery&limit=1000&after={after}"
            ))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let items = page.json["items"].as_array().unwrap();
        ids.extend(items.iter().map(|e| e["id"].as_i64().unwrap()));
        let next = page.json["next_after"].as_i64().unwrap();
        if next == after {
            return ids;
        }
        after = next;
    }
}
