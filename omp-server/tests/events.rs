//! The outbox over real TCP: a server on 127.0.0.1:0, gateways over GMMP,
//! the events read as Server-Sent Events and as JSON pages.

mod answer;
mod common;
mod events_support;
mod tcp_api;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gmmp_codec::ResultCode;
use reqwest::StatusCode;

use common::{Client, TestServer, rc, start};
use events_support::{Stream, all};
use tcp_api::{Api, KEY};

async fn server(dir: &std::path::Path) -> TestServer {
    start(dir, |c| {
        c.api_key = Some(KEY.to_owned());
        c.trace_gmmp = false;
    })
    .await
}

async fn gateway(server: &TestServer, auth_id: &str) -> Client {
    let mut gw = Client::connect(server.addr, auth_id).await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    gw
}

#[tokio::test]
async fn a_delivery_makes_exactly_one_event_visible_once_it_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut gw = gateway(&server, "0008dc1e3222").await;
    // STATUS_OK comes after the commit; the event is announced before it.
    assert_eq!(rc(&gw.deliver(b"one delivery").await), ResultCode::OK);
    let events = all(&api, "&kind=delivery", 100).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["kind"], "delivery");
    assert_eq!(event["gw_id"], gw.gw_id.to_string());
    assert_eq!(event["device_id"], serde_json::Value::Null);
    assert_eq!(event["data"]["content"], STANDARD.encode(b"one delivery"));
    // The same delivery the API lists.
    let listed = api
        .get(&format!("/api/v1/gateways/{}/deliveries", gw.gw_id))
        .await;
    assert_eq!(listed.json["items"][0], event["data"]);
    // The gateway came online by registering, before its delivery.
    let every = all(&api, "", 100).await;
    let kinds: Vec<&str> = every.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["gateway_online", "delivery"]);
    assert_eq!(every[0]["data"]["reason"], "registered");
    assert!(every[0]["id"].as_i64() < every[1]["id"].as_i64());
    server.stop().await;
}

#[tokio::test]
async fn a_stream_resumed_with_last_event_id_has_no_gap_and_no_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut gw = gateway(&server, "0008dc1e3222").await;
    let mut stream = Stream::open(&api, "?kind=delivery", None).await;
    for i in 0..5u8 {
        assert_eq!(rc(&gw.deliver(&[b'a', i]).await), ResultCode::OK);
    }
    let first = stream.take(3).await;
    // The reader goes away after three; more is delivered meanwhile.
    drop(stream);
    for i in 5..10u8 {
        assert_eq!(rc(&gw.deliver(&[b'a', i]).await), ResultCode::OK);
    }
    let resume_from = first.last().unwrap().id;
    let mut stream = Stream::open(&api, "?kind=delivery", Some(resume_from)).await;
    let rest = stream.take(7).await;
    let seen: Vec<_> = first.iter().chain(&rest).collect();
    let contents: Vec<Vec<u8>> = seen
        .iter()
        .map(|f| {
            assert_eq!(f.event, "delivery");
            assert_eq!(
                f.data["id"].as_i64(),
                Some(f.id),
                "the frame's id is the event's"
            );
            STANDARD
                .decode(f.data["data"]["content"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    let expected: Vec<Vec<u8>> = (0..10u8).map(|i| vec![b'a', i]).collect();
    assert_eq!(contents, expected, "every delivery once, in order");
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id));
    // `?after=` resumes the same way.
    let mut again = Stream::open(&api, &format!("?kind=delivery&after={resume_from}"), None).await;
    assert_eq!(again.take(7).await, rest);
    server.stop().await;
}

#[tokio::test]
async fn filters_pick_kinds_gateways_and_devices() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut a = gateway(&server, "0008dc1e3222").await;
    let mut b = gateway(&server, "0008dc1e3223").await;
    assert_eq!(rc(&a.deliver(b"from a").await), ResultCode::OK);
    assert_eq!(rc(&b.deliver(b"from b").await), ResultCode::OK);
    let device = a.register_device("sensor").await;
    let gmmp_codec::Message::DeviceRegistrationResponse(d) = &device.message else {
        panic!("{device:?}")
    };
    let on_device = a.delivery(d.device_id, b"from a's device");
    assert_eq!(rc(&a.request(on_device).await), ResultCode::OK);
    let of_b = all(&api, &format!("&gw_id={}", b.gw_id), 100).await;
    assert!(of_b.iter().all(|e| e["gw_id"] == b.gw_id.to_string()));
    assert_eq!(of_b.len(), 2, "online and one delivery: {of_b:?}");
    let online = all(&api, "&kind=gateway_online", 100).await;
    assert_eq!(online.len(), 2);
    let both = all(
        &api,
        "&kind=gateway_online,delivery&kind=control_state",
        100,
    )
    .await;
    assert_eq!(both.len(), 5);
    let of_device = all(&api, &format!("&device_id={}", d.device_id), 100).await;
    assert_eq!(of_device.len(), 1);
    assert_eq!(
        of_device[0]["data"]["content"],
        STANDARD.encode(b"from a's device")
    );
    // The same filter on the stream.
    let mut stream = Stream::open(&api, &format!("?gw_id={}", b.gw_id), None).await;
    let frames = stream.take(2).await;
    assert_eq!(
        frames.iter().map(|f| f.event.as_str()).collect::<Vec<_>>(),
        ["gateway_online", "delivery"]
    );
    // Going offline: the connection closes.
    drop(b);
    let offline = stream.next().await;
    assert_eq!(offline.event, "gateway_offline");
    assert_eq!(offline.data["data"]["reason"], "connection_closed");
    server.stop().await;
}

#[tokio::test]
async fn json_pages_walk_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut gw = gateway(&server, "0008dc1e3222").await;
    for i in 0..7u8 {
        assert_eq!(rc(&gw.deliver(&[i]).await), ResultCode::OK);
    }
    let whole = all(&api, "", 1000).await;
    assert_eq!(whole.len(), 8);
    let paged = all(&api, "", 3).await;
    assert_eq!(paged, whole);
    // Past the head: nothing, and `next_after` stays.
    let past = api.get("/api/v1/events?after=1000000").await;
    assert_eq!(past.json["items"].as_array().unwrap().len(), 0);
    assert_eq!(past.json["next_after"], 1_000_000);
    server.stop().await;
}

#[tokio::test]
async fn bad_cursors_kinds_and_formats_are_400_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let gw = gateway(&server, "0008dc1e3222").await;
    for (path, field) in [
        ("/api/v1/events?after=-1", "after"),
        ("/api/v1/events?after=abc", "after"),
        ("/api/v1/events?kind=delivery,bogus", "kind"),
        ("/api/v1/events?limit=0", "limit"),
        ("/api/v1/events?aftr=1", "aftr"),
    ] {
        api.get(path)
            .await
            .assert_field(StatusCode::BAD_REQUEST, field);
    }
    let bad_id = api
        .send(
            api.request(reqwest::Method::GET, "/api/v1/events")
                .header("accept", "text/event-stream")
                .header("last-event-id", "yesterday"),
        )
        .await;
    bad_id.assert_field(StatusCode::BAD_REQUEST, "Last-Event-ID");
    let export = format!("/api/v1/gateways/{}/deliveries/export", gw.gw_id);
    api.get(&format!("{export}?format=xml"))
        .await
        .assert_field(StatusCode::BAD_REQUEST, "format");
    api.get(&format!("{export}?from=yesterday"))
        .await
        .assert_field(StatusCode::BAD_REQUEST, "from");
    api.get("/api/v1/gateways/SC99999999/deliveries/export")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    server.stop().await;
}

#[tokio::test]
async fn a_control_reports_each_state_it_takes() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let gw = gateway(&server, "0008dc1e3222").await;
    let mut stream = Stream::open(&api, "?kind=control_state", None).await;
    let created = api
        .json(
            reqwest::Method::POST,
            &format!("/api/v1/gateways/{}/controls", gw.gw_id),
            r#"{"control_type":"status_check"}"#,
        )
        .await;
    assert!(created.status.is_success(), "{}", created.text);
    let id = created.json["id"].as_i64().unwrap();
    // Queued, then pushed to the live session.
    let states: Vec<String> = stream
        .take(2)
        .await
        .into_iter()
        .map(|f| {
            assert_eq!(f.data["data"]["control_id"], id);
            assert_eq!(f.data["gw_id"], gw.gw_id.to_string());
            f.data["data"]["state"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(states, ["QUEUED", "SENT"]);
    drop(gw);
    server.stop().await;
}

/// Streams at the head share one rendered ring; one opened from the
/// start reads the table and then joins it. Each sees exactly what the
/// table holds for its filter, in order, while two gateways deliver at
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_at_the_head_and_one_catching_up_each_see_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let mut a = gateway(&server, "0008dc1e3222").await;
    let b = gateway(&server, "0008dc1e3223").await;
    for i in 0..30u8 {
        assert_eq!(rc(&a.deliver(&[b'h', i]).await), ResultCode::OK);
    }
    let head = all(&api, "", 500).await.last().unwrap()["id"]
        .as_i64()
        .unwrap();
    let b_id = b.gw_id.to_string();
    let mut at_head = Stream::open(&api, &format!("?after={head}"), None).await;
    let mut second = Stream::open(&api, &format!("?after={head}"), None).await;
    let mut b_only = Stream::open(
        &api,
        &format!("?after={head}&kind=delivery&gw_id={b_id}"),
        None,
    )
    .await;
    let mut from_start = Stream::open(&api, "", None).await;
    let send = |mut gw: Client, tag: u8| async move {
        for i in 0..100u8 {
            assert_eq!(rc(&gw.deliver(&[tag, i]).await), ResultCode::OK);
        }
        gw
    };
    let (a, b) = tokio::join!(tokio::spawn(send(a, b'a')), tokio::spawn(send(b, b'b')));
    let (_a, _b) = (a.unwrap(), b.unwrap());

    let every = all(&api, "", 500).await;
    let ids = |events: &[serde_json::Value]| -> Vec<i64> {
        events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
    };
    let after_head: Vec<serde_json::Value> = every
        .iter()
        .filter(|e| e["id"].as_i64().unwrap() > head)
        .cloned()
        .collect();
    let b_deliveries: Vec<serde_json::Value> = after_head
        .iter()
        .filter(|e| e["kind"] == "delivery" && e["gw_id"] == b_id.as_str())
        .cloned()
        .collect();
    assert_eq!(b_deliveries.len(), 100);
    let frame_ids =
        |frames: Vec<events_support::Frame>| -> Vec<i64> { frames.iter().map(|f| f.id).collect() };
    let from_ring = at_head.take(after_head.len()).await;
    // Frames from the ring carry each event as the table has it.
    let rendered: Vec<&serde_json::Value> = from_ring.iter().map(|f| &f.data).collect();
    assert_eq!(rendered, after_head.iter().collect::<Vec<_>>());
    assert_eq!(
        frame_ids(second.take(after_head.len()).await),
        ids(&after_head)
    );
    assert_eq!(frame_ids(b_only.take(100).await), ids(&b_deliveries));
    assert_eq!(frame_ids(from_start.take(every.len()).await), ids(&every));
    server.stop().await;
}

/// A stream's reading runs as a task of its own; a client that goes
/// away ends it, and the gauge of open streams says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_client_closes_ends_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let api = Api::new(&server);
    let open_streams = || async {
        let metrics = api.get("/metrics").await;
        metrics
            .text
            .lines()
            .find_map(|l| l.strip_prefix("omp_events_sse_clients "))
            .map(|v| v.trim().to_owned())
    };
    let mut gw = gateway(&server, "0008dc1e3222").await;
    let mut stream = Stream::open(&api, "?kind=delivery", None).await;
    assert_eq!(rc(&gw.deliver(b"seen").await), ResultCode::OK);
    assert_eq!(
        stream.take(1).await[0].data["data"]["content"],
        STANDARD.encode(b"seen")
    );
    assert_eq!(open_streams().await.as_deref(), Some("1"));
    drop(stream);
    // Hyper drops the body, and the task ends, once a write finds the
    // connection closed: a delivery makes one.
    assert_eq!(rc(&gw.deliver(b"after").await), ResultCode::OK);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while open_streams().await.as_deref() != Some("0") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream's task still runs"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.stop().await;
}
