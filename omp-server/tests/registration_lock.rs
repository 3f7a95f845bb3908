//! The impersonation policy. A GMMP registration carries no secret, so by
//! default anyone who knows a gateway's auth ID (a MAC printed on the
//! module) may register with it; the server then says so — a warning, a
//! counter and an event when a live session is taken over from another
//! address —
//! and the API shows the live session's peer and since when. An operator
//! may lock a gateway's registration: then only a registration carrying
//! the gateway's current auth key in its header is taken (a running
//! module sends it), until the lock is removed.

mod common;

use common::{Client, TestServer, rc, start};
use gmmp_codec::ResultCode;
use serde_json::Value;

const MAC: &str = "0008dc1e3222";
const KEY: &str = "registration-lock-test-key";

async fn api(server: &TestServer, method: reqwest::Method, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("http://{}{path}", server.http_addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn metric(server: &TestServer, name: &str) -> u64 {
    let text = reqwest::Client::new()
        .get(format!("http://{}/metrics", server.http_addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in\n{text}"))
}

async fn register_from(server: &TestServer, source: [u8; 4]) -> Client {
    let mut gw = Client::connect_from(server.addr, source, MAC).await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    gw
}

#[tokio::test]
async fn a_takeover_from_another_address_is_counted_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.api_key = Some(KEY.to_owned())).await;
    let mut first = register_from(&server, [127, 0, 0, 1]).await;
    let gw_id = first.gw_id.to_display_string().into_owned();
    let path = format!("/api/v1/gateways/{gw_id}");

    let (status, body) = api(&server, reqwest::Method::GET, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connected"], true);
    assert_eq!(body["registration_lock"], false);
    assert!(body["session_since"].is_string(), "{body}");
    assert!(
        body["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{body}"
    );

    // The same auth ID from another address while the first is alive: not
    // locked, so it is taken, the first session is closed and it counts.
    let _second = register_from(&server, [127, 0, 0, 2]).await;
    first.expect_closed().await;
    assert_eq!(
        metric(&server, "omp_gmmp_sessions_taken_from_new_peer_total").await,
        1
    );
    let (_, body) = api(&server, reqwest::Method::GET, &path).await;
    assert!(
        body["peer"].as_str().unwrap().starts_with("127.0.0.2:"),
        "the API shows the new peer: {body}"
    );
    // And an event, written with the writer's next batch.
    let event = tokio::time::timeout(common::GUARD, async {
        loop {
            let (_, page) = api(
                &server,
                reqwest::Method::GET,
                "/api/v1/events?kind=gateway_taken_over",
            )
            .await;
            if let Some(event) = page["items"].as_array().and_then(|a| a.first()) {
                break event.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the takeover event is committed");
    assert_eq!(event["gw_id"], gw_id.as_str(), "{event}");
    assert!(
        event["data"]["old_peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{event}"
    );
    assert!(
        event["data"]["new_peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.2:"),
        "{event}"
    );

    // A reconnect from the same address is a gateway reconnecting, not a
    // takeover.
    let _third = register_from(&server, [127, 0, 0, 2]).await;
    assert_eq!(
        metric(&server, "omp_gmmp_sessions_taken_from_new_peer_total").await,
        1
    );
    let (_, page) = api(
        &server,
        reqwest::Method::GET,
        "/api/v1/events?kind=gateway_taken_over",
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    server.stop().await;
}

#[tokio::test]
async fn a_locked_gateway_is_taken_only_with_its_current_key_until_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.api_key = Some(KEY.to_owned())).await;
    let mut owner = register_from(&server, [127, 0, 0, 1]).await;
    let gw_id = owner.gw_id.to_display_string().into_owned();
    let lock = format!("/api/v1/gateways/{gw_id}/registration-lock");

    let (status, body) = api(&server, reqwest::Method::PUT, &lock).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["registration_lock"], true);

    // Someone who knows only the auth ID: refused, and the owner's
    // session goes on.
    let mut intruder = Client::connect_from(server.addr, [127, 0, 0, 3], MAC).await;
    assert_eq!(
        rc(&intruder.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::PERMISSION_DENIED
    );
    assert_eq!(
        metric(&server, "omp_gmmp_registrations_locked_out_total").await,
        1
    );
    assert_eq!(rc(&owner.deliver(b"still mine").await), ResultCode::OK);

    // The gateway itself, reconnecting with the key it holds: taken.
    let key = owner.key;
    let mut again = Client::connect_from(server.addr, [127, 0, 0, 1], MAC).await;
    again.key = key;
    assert_eq!(
        rc(&again.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    assert_eq!(again.key, key, "the same key is answered");

    // The lock is kept across a restart.
    server.stop().await;
    let server = start(dir.path(), |c| c.api_key = Some(KEY.to_owned())).await;
    let mut reset = Client::connect(server.addr, MAC).await;
    assert_eq!(
        rc(&reset.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::PERMISSION_DENIED,
        "a module reset to an empty key is refused while locked"
    );

    // Unlocked by the operator: the reset module registers again.
    let (status, body) = api(&server, reqwest::Method::DELETE, &lock).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["registration_lock"], false);
    let mut reset = Client::connect(server.addr, MAC).await;
    assert_eq!(
        rc(&reset.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    server.stop().await;
}

#[tokio::test]
async fn locking_an_unknown_gateway_is_a_404_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.api_key = Some(KEY.to_owned())).await;
    let (status, body) = api(
        &server,
        reqwest::Method::PUT,
        "/api/v1/gateways/SC99999999/registration-lock",
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.to_string().contains("SC99999999"), "{body}");
    server.stop().await;
}
