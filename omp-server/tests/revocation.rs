//! Removing an approval revokes the gateway in mode `approved`: over the
//! HTTP API or with `omp-server provision remove` (writing the database
//! beside the running server), its open session is closed, and its GW ID
//! and auth key are refused on any connection afterwards and after a
//! restart. In mode `open` a removal leaves the registration alone.

mod common;

use common::{Client, TestServer, rc, start, test_config};
use gmmp_codec::{Frame, ResultCode};
use omp_server::config::ProvisionCommand;
use omp_server::{Config, ProvisioningMode};

const MAC: &str = "0008dc1e3222";
const KEY: &str = "revocation-test-key";

fn approved(c: &mut Config) {
    c.provisioning = ProvisioningMode::Approved;
    c.api_key = Some(KEY.to_owned());
}

async fn approve(server: &TestServer) {
    omp_server::store::provisioning::add(&server.state.db, MAC, None, None)
        .await
        .unwrap();
}

async fn registered(server: &TestServer) -> Client {
    let mut gw = Client::connect(server.addr, MAC).await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    gw
}

async fn stored(server: &TestServer) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
        .fetch_one(server.state.db.as_sqlite().expect("a SQLite store"))
        .await
        .unwrap()
}

async fn delete_over_http(server: &TestServer) -> u16 {
    reqwest::Client::new()
        .delete(format!(
            "http://{}/api/v1/provisioning/{MAC}",
            server.http_addr
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A delivery sent on the revoked gateway's old session is not stored:
/// the session is closed, or (had its frame come first) refused rc 0x04.
async fn old_session_takes_nothing(gw: &mut Client) {
    let header = gw.header();
    let delivery = gw.delivery(gmmp_codec::DeviceId::EMPTY, b"after removal");
    // The write may fail once the server has closed the connection.
    let _ = futures::SinkExt::send(&mut gw.framed, Frame::new(header, delivery)).await;
    match tokio::time::timeout(common::GUARD, futures::StreamExt::next(&mut gw.framed))
        .await
        .expect("closed or answered in time")
    {
        None | Some(Err(_)) => {}
        Some(Ok(frame)) => assert_eq!(rc(&frame), ResultCode::PERMISSION_DENIED),
    }
}

/// The revoked credentials on a new connection: the registration and a
/// delivery with the old GW ID and key are both refused rc 0x04.
async fn refused_on_a_new_connection(server: &TestServer, old: &Client) {
    let mut again = Client::connect(server.addr, MAC).await;
    again.key = old.key;
    again.gw_id = old.gw_id;
    assert_eq!(
        rc(&again.deliver(b"old key").await),
        ResultCode::PERMISSION_DENIED
    );
    let mut fresh = Client::connect(server.addr, MAC).await;
    assert_eq!(
        rc(&fresh.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::PERMISSION_DENIED
    );
}

#[tokio::test]
async fn removal_over_http_closes_the_session_and_refuses_the_gateway_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), approved).await;
    approve(&server).await;
    let mut gw = registered(&server).await;
    assert_eq!(rc(&gw.deliver(b"before").await), ResultCode::OK);

    assert_eq!(delete_over_http(&server).await, 204);
    old_session_takes_nothing(&mut gw).await;
    gw.expect_closed().await;
    refused_on_a_new_connection(&server, &gw).await;
    assert_eq!(delete_over_http(&server).await, 404, "removed already");
    assert_eq!(stored(&server).await, 1);
    server.stop().await;

    let server = start(dir.path(), approved).await;
    refused_on_a_new_connection(&server, &gw).await;
    assert_eq!(stored(&server).await, 1);
    // Approved again, it registers again (same GW ID, a new key).
    approve(&server).await;
    let back = registered(&server).await;
    assert_eq!(back.gw_id, gw.gw_id);
    assert_ne!(back.key, gw.key);
    server.stop().await;
}

#[tokio::test]
async fn removal_with_the_cli_beside_the_running_server_closes_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), approved).await;
    approve(&server).await;
    let mut gw = registered(&server).await;
    assert_eq!(rc(&gw.deliver(b"before").await), ResultCode::OK);

    let mut cli = test_config(dir.path());
    cli.provisioning = ProvisioningMode::Approved;
    let remove = ProvisionCommand::Remove {
        auth_id: MAC.to_owned(),
    };
    let mut out = Vec::new();
    omp_server::provision::execute(&cli, &remove, &mut out)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("removed {MAC}; GW {} deregistered\n", gw.gw_id)
    );
    // The server notices by its scan of the revocations and closes it.
    gw.expect_closed().await;
    refused_on_a_new_connection(&server, &gw).await;
    assert_eq!(stored(&server).await, 1);
    assert!(server.state.registry.get(&gw.gw_id.to_string()).is_none());
    server.stop().await;

    let server = start(dir.path(), approved).await;
    refused_on_a_new_connection(&server, &gw).await;
    server.stop().await;
}

#[tokio::test]
async fn in_open_mode_removal_leaves_the_registration_and_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.api_key = Some(KEY.to_owned())).await;
    approve(&server).await;
    let mut gw = registered(&server).await;
    assert_eq!(delete_over_http(&server).await, 204);
    assert_eq!(rc(&gw.deliver(b"still open").await), ResultCode::OK);
    assert_eq!(stored(&server).await, 1);
    server.stop().await;
}
