//! Retention on a real server (127.0.0.1:0, MQTT listeners off): rows
//! older than their period go in batches through the writer, fresh rows
//! and open controls stay, the API answers as before, and nothing goes
//! while retention is off (the default).
//!
//! The old rows are written an hour in the past straight into the
//! database, by a server with retention off that is then started again
//! with it on; the periods are ten minutes, so which rows are old does
//! not depend on how fast the test runs.

mod answer;
mod common;
mod events_support;
mod tcp_api;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gmmp_codec::ResultCode;
use omp_server::Config;
use omp_server::store::retention::Kind;

use common::{Client, GUARD, TestServer, rc, start};
use events_support::all;
use tcp_api::{Api, KEY};

const PERIOD: Duration = Duration::from_secs(600);
const HOUR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn server(dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
    start(dir, |c| {
        c.api_key = Some(KEY.to_owned());
        c.trace_gmmp = false;
        c.retention_interval = Duration::from_millis(50);
        tweak(c);
    })
    .await
}

async fn gateway(server: &TestServer) -> Client {
    let mut gw = Client::connect(server.addr, "00085D000001").await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    gw
}

async fn count(server: &TestServer, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(server.state.db.as_sqlite().expect("a SQLite store"))
        .await
        .unwrap()
}

async fn exec(server: &TestServer, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(server.state.db.as_sqlite().expect("a SQLite store"))
        .await
        .unwrap();
}

/// `n` deliveries of `gw_id` received an hour ago.
async fn old_deliveries(server: &TestServer, gw_id: &str, n: i64) {
    let at = now_ms() - HOUR_MS;
    exec(
        server,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid,
                 origin_timestamp, received_at, encryption_flag, payload)
             SELECT '{gw_id}', '', 1, 1, i, 0, {at}, 2, X'0102' FROM n"
        ),
    )
    .await;
}

/// Waits for two passes that start after now: everything old is gone by
/// the end of the second.
async fn two_more_passes(server: &TestServer) {
    let passes = &server.state.retention.passes;
    let start = passes.load(Ordering::Relaxed);
    tokio::time::timeout(GUARD, async {
        while passes.load(Ordering::Relaxed) < start + 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("retention passes run");
}

#[tokio::test]
async fn old_rows_go_while_fresh_rows_and_open_controls_stay() {
    let dir = tempfile::tempdir().unwrap();
    // Seeded with retention off, so nothing goes before it is counted.
    let seeding = server(dir.path(), |_| {}).await;
    let mut gw = gateway(&seeding).await;
    let gw_id = gw.gw_id.to_string();
    let old = now_ms() - HOUR_MS;
    old_deliveries(&seeding, &gw_id, 5).await;
    // MQTT: an old message with a data point, and two old retained
    // messages of one topic, the newer of which must stay.
    exec(
        &seeding,
        &format!(
            "INSERT INTO mqtt_messages (id, client_id, kind, topic, payload, qos, retain, dup,
                 received_at)
             VALUES (1, 'dev1', 'publish', '$dp', X'01', 0, 0, 0, {old}),
                    (2, 'dev1', 'publish', 'state', X'01', 0, 1, 0, {old}),
                    (3, 'dev1', 'publish', 'state', X'02', 0, 1, 0, {old});
             INSERT INTO mqtt_datapoints (message_id, client_id, stream, value)
             VALUES (1, 'dev1', 'temp', '1')"
        ),
    )
    .await;
    // Controls: one ended an hour ago, and open ones as old (MQTT ones,
    // for a client that never connects, so the dispatcher leaves them be).
    let far = now_ms() + 10 * HOUR_MS;
    exec(
        &seeding,
        &format!(
            "INSERT INTO controls (gw_id, control_type, data, state, created_at, changed_at,
                 expires_at)
             VALUES ('{gw_id}', 1, X'00', 'SUCCESS', {old}, {old}, {far});
             INSERT INTO controls (mqtt_client_id, mqtt_topic, mqtt_qos, data, state,
                 created_at, changed_at, expires_at)
             VALUES ('absent', '$creq', 1, X'00', 'QUEUED', {old}, {old}, {far}),
                    ('absent', '$creq', 1, X'00', 'SENT', {old}, {old}, {far})"
        ),
    )
    .await;
    let old_events = count(
        &seeding,
        &format!("SELECT COUNT(*) FROM events WHERE at = {old}"),
    )
    .await;
    assert!(old_events >= 9, "the triggers wrote the old rows' events");
    // A fresh delivery, over GMMP.
    assert_eq!(rc(&gw.deliver(b"fresh").await), ResultCode::OK);
    drop(gw);
    seeding.stop().await;

    let server = server(dir.path(), |c| {
        c.retention_deliveries = Some(PERIOD);
        c.retention_events = Some(PERIOD);
        c.retention_controls = Some(PERIOD);
    })
    .await;
    let api = Api::new(&server);
    two_more_passes(&server).await;

    assert_eq!(count(&server, "SELECT COUNT(*) FROM deliveries").await, 1);
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM deliveries WHERE payload = CAST('fresh' AS BLOB)"
        )
        .await,
        1
    );
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM mqtt_messages WHERE id = 3").await,
        count(&server, "SELECT COUNT(*) FROM mqtt_messages").await,
        "only the topic's newest retained message stays"
    );
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM mqtt_messages").await,
        1
    );
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM mqtt_datapoints").await,
        0
    );
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM controls WHERE state = 'SUCCESS'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM controls WHERE state IN ('QUEUED', 'SENT')"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM control_events WHERE control_id NOT IN (SELECT id FROM controls)"
        )
        .await,
        0,
        "the timeline went with its control"
    );
    assert_eq!(
        count(
            &server,
            &format!("SELECT COUNT(*) FROM events WHERE at = {old}")
        )
        .await,
        0
    );
    let m = &server.state.retention;
    assert_eq!(m.removed(Kind::Deliveries), 5);
    assert_eq!(m.removed(Kind::MqttMessages), 2);
    assert_eq!(m.removed(Kind::Controls), 1);
    assert_eq!(m.removed(Kind::Events), old_events as u64);

    // The API answers as before, with what is left.
    let latest = api
        .get(&format!("/api/v1/gateways/{gw_id}/deliveries/latest"))
        .await;
    assert_eq!(latest.status, 200, "{}", latest.text);
    let history = api
        .get(&format!("/api/v1/gateways/{gw_id}/deliveries"))
        .await;
    assert_eq!(history.status, 200, "{}", history.text);
    assert_eq!(history.json["items"].as_array().unwrap().len(), 1);
    let events = all(&api, "", 100).await;
    assert!(events.iter().any(|e| e["kind"] == "delivery"));
    let metrics = api.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for line in [
        "omp_retention_removed_rows_total{kind=\"deliveries\"} 5",
        "omp_retention_removed_rows_total{kind=\"mqtt_messages\"} 2",
        "omp_retention_removed_rows_total{kind=\"controls\"} 1",
    ] {
        assert!(metrics.text.contains(line), "{line} in {}", metrics.text);
    }
    assert!(metrics.text.contains("omp_retention_last_pass_seconds "));
    server.stop().await;
}

#[tokio::test]
async fn events_an_enabled_webhook_has_not_passed_stay_past_their_period() {
    let dir = tempfile::tempdir().unwrap();
    let seeding = server(dir.path(), |_| {}).await;
    let gw = gateway(&seeding).await;
    let gw_id = gw.gw_id.to_string();
    old_deliveries(&seeding, &gw_id, 5).await;
    // A webhook that has passed the first two of those events (its
    // receiver down since): the other three are not yet delivered.
    let third: i64 = count(
        &seeding,
        "SELECT id FROM events WHERE kind = 'delivery' ORDER BY id LIMIT 1 OFFSET 2",
    )
    .await;
    exec(
        &seeding,
        &format!(
            "INSERT INTO webhooks (url, secret, enabled, cursor, created_at)
             VALUES ('http://127.0.0.1:9/', 's', 1, {}, 0)",
            third - 1
        ),
    )
    .await;
    exec(
        &seeding,
        &format!("UPDATE events SET at = {}", now_ms() - HOUR_MS),
    )
    .await;
    drop(gw);
    seeding.stop().await;

    let server = server(dir.path(), |c| c.retention_events = Some(PERIOD)).await;
    two_more_passes(&server).await;
    assert_eq!(
        count(
            &server,
            &format!("SELECT COUNT(*) FROM events WHERE id < {third}")
        )
        .await,
        0,
        "the events the webhook passed go"
    );
    assert_eq!(
        count(
            &server,
            &format!("SELECT COUNT(*) FROM events WHERE kind = 'delivery' AND id >= {third}")
        )
        .await,
        3,
        "the three it has still to send stay, old as they are"
    );
    // Disabled, it holds nothing back.
    exec(&server, "UPDATE webhooks SET enabled = 0").await;
    two_more_passes(&server).await;
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM events WHERE kind = 'delivery'"
        )
        .await,
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn an_event_outlives_its_removed_delivery_and_reads_without_error() {
    let dir = tempfile::tempdir().unwrap();
    // Seeded with retention off, then started again with it on.
    let seeding = server(dir.path(), |_| {}).await;
    let mut gw = gateway(&seeding).await;
    let gw_id = gw.gw_id.to_string();
    old_deliveries(&seeding, &gw_id, 3).await;
    assert_eq!(rc(&gw.deliver(b"fresh").await), ResultCode::OK);
    drop(gw);
    seeding.stop().await;
    let server = server(dir.path(), |c| c.retention_deliveries = Some(PERIOD)).await;
    let api = Api::new(&server);
    two_more_passes(&server).await;
    assert_eq!(count(&server, "SELECT COUNT(*) FROM deliveries").await, 1);
    let events = all(&api, "&kind=delivery", 100).await;
    assert_eq!(events.len(), 4, "{events:?}");
    for e in &events[..3] {
        assert_eq!(e["data"], serde_json::json!({}), "{e}");
        assert_eq!(e["gw_id"], gw_id);
    }
    assert_ne!(events[3]["data"], serde_json::json!({}));
    let latest = api
        .get(&format!("/api/v1/gateways/{gw_id}/deliveries/latest"))
        .await;
    assert_eq!(latest.status, 200, "{}", latest.text);
    server.stop().await;
}

#[tokio::test]
async fn a_thousand_rows_go_in_batches_of_ten() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |c| {
        c.retention_deliveries = Some(PERIOD);
        c.retention_batch = 10;
    })
    .await;
    let gw = gateway(&server).await;
    old_deliveries(&server, &gw.gw_id.to_string(), 1000).await;
    two_more_passes(&server).await;
    assert_eq!(count(&server, "SELECT COUNT(*) FROM deliveries").await, 0);
    let m = &server.state.retention;
    assert_eq!(m.removed(Kind::Deliveries), 1000);
    assert!(m.batches.load(Ordering::Relaxed) >= 100);
    drop(gw);
    server.stop().await;
}

#[tokio::test]
async fn retention_off_by_default_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    assert_eq!(server.state.config.retention_deliveries, None);
    assert_eq!(server.state.config.retention_events, None);
    assert_eq!(server.state.config.retention_controls, None);
    let gw = gateway(&server).await;
    old_deliveries(&server, &gw.gw_id.to_string(), 20).await;
    // Many intervals' worth of time: with no period no pass ever runs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&server, "SELECT COUNT(*) FROM deliveries").await, 20);
    assert_eq!(server.state.retention.passes.load(Ordering::Relaxed), 0);
    drop(gw);
    server.stop().await;
}

fn load_toml(text: &str) -> Result<Config, omp_server::error::ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omp.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&omp_server::config::Settings {
        config: Some(path),
        ..Default::default()
    })
}

#[test]
fn retention_settings_read_none_and_durations_and_bad_ones_name_their_key() {
    let c = load_toml(
        "retention_deliveries = \"30d\"\nretention_events = \"none\"\nretention_batch = 50\n",
    )
    .unwrap();
    assert_eq!(
        c.retention_deliveries,
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(c.retention_events, None);
    assert_eq!(c.retention_batch, 50);
    for (text, key) in [
        ("retention_events = \"ten days\"\n", "retention_events"),
        ("retention_controls = 30\n", "retention_controls"),
        ("retention_interval = \"often\"\n", "retention_interval"),
    ] {
        let e = load_toml(text).unwrap_err().to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
    for (text, key) in [
        ("retention_deliveries = \"0s\"\n", "retention_deliveries"),
        ("retention_batch = 0\n", "retention_batch"),
        ("retention_interval = \"0s\"\n", "retention_interval"),
    ] {
        let e = load_toml(text).unwrap_err().to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
}
