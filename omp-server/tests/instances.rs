//! Several instances on one PostgreSQL database: a gateway that connects
//! to another instance closes its session on the first (newest wins, as
//! within one instance), through the claim's notice or, when the notice
//! was missed, the rescan of the `sessions` table; a clean stop removes
//! the instance's rows.
//!
//! Real time throughout: every wait is a poll under a generous guard,
//! never a timing assertion.

mod common;
mod mqtt;

use std::time::Duration;

use common::{Client, GUARD, TestServer, rc, start};
use gmmp_codec::ResultCode;
use mqtt::{Raw, hex};
use sqlx::PgPool;
use test_support::postgres::TestDatabase;

const MAC: &str = "0008dc1e3222";

/// Waits until `check` holds (polled), failing past [`GUARD`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + GUARD;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The instance holding `key` in `sessions`, and its epoch.
async fn row(pg: &PgPool, kind: &str, key: &str) -> Option<(String, i64)> {
    sqlx::query_as("SELECT instance_id, epoch FROM sessions WHERE kind = $1 AND key = $2")
        .bind(kind)
        .bind(key)
        .fetch_optional(pg)
        .await
        .unwrap()
}

fn instance_id(server: &TestServer) -> String {
    server
        .state
        .cluster
        .as_ref()
        .expect("a cluster on PostgreSQL")
        .id()
        .to_owned()
}

async fn count(pg: &PgPool, sql: &'static str, id: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(pg)
        .await
        .unwrap()
}

/// One instance on a database of its own, and a gateway whose session it
/// has claimed in `sessions`.
struct ClaimedOnA {
    _db: TestDatabase,
    _dir: tempfile::TempDir,
    a: TestServer,
    pg: PgPool,
    gw: Client,
    gw_id: String,
}

/// [`ClaimedOnA`], or `None` (printed) where no PostgreSQL can be had.
async fn claimed_on_a(test: &str) -> Option<ClaimedOnA> {
    let db = TestDatabase::create(test).await?;
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), |c| c.database_url = Some(db.url.clone())).await;
    let pg = PgPool::connect(&db.url).await.unwrap();
    let id_a = instance_id(&a);

    let mut gw = Client::connect(a.addr, MAC).await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    let gw_id = gw.gw_id.to_string();
    eventually("A claims the GW", || async {
        row(&pg, "gmmp", &gw_id)
            .await
            .is_some_and(|(i, _)| i == id_a)
    })
    .await;
    Some(ClaimedOnA {
        _db: db,
        _dir: dir,
        a,
        pg,
        gw,
        gw_id,
    })
}

#[tokio::test]
async fn a_gateway_connecting_to_another_instance_closes_its_session_on_the_first() {
    let Some(db) = TestDatabase::create("instances_takeover").await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(dir_a.path(), |c| c.database_url = Some(db.url.clone())).await;
    let b = start(dir_b.path(), |c| c.database_url = Some(db.url.clone())).await;
    let pg = PgPool::connect(&db.url).await.unwrap();
    let (id_a, id_b) = (instance_id(&a), instance_id(&b));
    assert_ne!(id_a, id_b);
    assert_eq!(
        count(&pg, "SELECT count(*) FROM instances WHERE id = $1", &id_b).await,
        1
    );

    let mut on_a = Client::connect(a.addr, MAC).await;
    assert_eq!(
        rc(&on_a.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    let gw_id = on_a.gw_id.to_string();
    // A's claim is made before B's, so B's is the newer.
    eventually("A claims the GW", || async {
        row(&pg, "gmmp", &gw_id)
            .await
            .is_some_and(|(i, _)| i == id_a)
    })
    .await;
    let (_, epoch_a) = row(&pg, "gmmp", &gw_id).await.unwrap();

    let mut on_b = Client::connect(b.addr, MAC).await;
    assert_eq!(
        rc(&on_b.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    assert_eq!(on_b.gw_id.to_string(), gw_id, "the same registration");
    assert_eq!(on_b.key, on_a.key);
    assert_eq!(rc(&on_b.deliver(b"via B").await), ResultCode::OK);

    on_a.expect_closed().await;
    eventually("A forgets the session", || async {
        a.state.registry.get(&gw_id).is_none()
    })
    .await;
    let (owner, epoch) = row(&pg, "gmmp", &gw_id).await.unwrap();
    assert_eq!(owner, id_b);
    assert!(epoch > epoch_a, "{epoch} after {epoch_a}");
    // B's session is untouched by A's closing.
    assert_eq!(rc(&on_b.deliver(b"still via B").await), ResultCode::OK);
    assert!(b.state.registry.get(&gw_id).is_some());

    b.stop().await;
    assert_eq!(
        count(&pg, "SELECT count(*) FROM instances WHERE id = $1", &id_b).await,
        0
    );
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM sessions WHERE instance_id = $1",
            &id_b
        )
        .await,
        0
    );
    a.stop().await;
    assert_eq!(
        count(&pg, "SELECT count(*) FROM instances WHERE id = $1", &id_a).await,
        0
    );
    pg.close().await;
}

/// CONNECT, MQTT 3.1.1, clean session, keep-alive 60 s, client id
/// `dev 1` (a space: the notice's key is read around it).
const CONNECT_DEV_1: &str = "10 11 00 04 4d 51 54 54 04 02 00 3c 00 05 64 65 76 20 31";
const CONNACK_OK: &str = "20 02 00 00";

#[tokio::test]
async fn an_mqtt_client_connecting_to_another_instance_closes_its_session_on_the_first() {
    let Some(db) = TestDatabase::create("instances_mqtt").await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let on_postgres_with_mqtt = |c: &mut omp_server::Config| {
        c.database_url = Some(db.url.clone());
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
    };
    let a = start(dir_a.path(), on_postgres_with_mqtt).await;
    let b = start(dir_b.path(), on_postgres_with_mqtt).await;
    let pg = PgPool::connect(&db.url).await.unwrap();
    let (id_a, id_b) = (instance_id(&a), instance_id(&b));

    let mut on_a = Raw::connect(&a).await;
    on_a.send(&hex(CONNECT_DEV_1)).await;
    assert_eq!(on_a.read_exact(4).await, hex(CONNACK_OK));
    eventually("A claims the client id", || async {
        row(&pg, "mqtt", "dev 1")
            .await
            .is_some_and(|(i, _)| i == id_a)
    })
    .await;

    let mut on_b = Raw::connect(&b).await;
    on_b.send(&hex(CONNECT_DEV_1)).await;
    assert_eq!(on_b.read_exact(4).await, hex(CONNACK_OK));
    assert!(on_a.closed().await);
    eventually("A forgets the client", || async {
        !a.state.mqtt.router.is_connected("dev 1")
    })
    .await;
    assert_eq!(
        row(&pg, "mqtt", "dev 1").await.map(|(i, _)| i),
        Some(id_b.clone())
    );
    assert!(b.state.mqtt.router.is_connected("dev 1"));
    // PINGREQ → PINGRESP: B's session is alive.
    on_b.send(&hex("c0 00")).await;
    assert_eq!(on_b.read_exact(2).await, hex("d0 00"));

    b.stop().await;
    a.stop().await;
    pg.close().await;
}

#[tokio::test]
async fn the_rescan_closes_a_session_the_table_gives_to_another_instance() {
    let Some(ClaimedOnA {
        _db,
        _dir,
        a,
        pg,
        mut gw,
        gw_id,
    }) = claimed_on_a("instances_rescan").await
    else {
        return;
    };
    // Another instance's claim whose notice A never heard: the row alone.
    sqlx::query(
        "UPDATE sessions SET instance_id = 'ffffffffffffffff', epoch = epoch + 1
         WHERE kind = 'gmmp' AND key = $1",
    )
    .bind(&gw_id)
    .execute(&pg)
    .await
    .unwrap();

    gw.expect_closed().await;
    eventually("A forgets the session", || async {
        a.state.registry.get(&gw_id).is_none()
    })
    .await;
    // The ended session leaves the other instance's row alone.
    a.stop().await;
    assert_eq!(
        row(&pg, "gmmp", &gw_id).await.map(|(i, _)| i).as_deref(),
        Some("ffffffffffffffff")
    );
    pg.close().await;
}

#[tokio::test]
async fn a_session_that_ends_removes_its_own_row() {
    let Some(ClaimedOnA {
        _db,
        _dir,
        a,
        pg,
        mut gw,
        gw_id,
    }) = claimed_on_a("instances_release").await
    else {
        return;
    };
    // Connecting again on the same instance: the newer session's claim.
    let mut again = Client::connect(a.addr, MAC).await;
    assert_eq!(
        rc(&again.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    gw.expect_closed().await;
    eventually("the newer claim", || async {
        row(&pg, "gmmp", &gw_id).await.is_some_and(|(_, e)| e == 2)
    })
    .await;
    assert_eq!(
        rc(&again.deliver(b"on the newer session").await),
        ResultCode::OK
    );
    drop(again);
    eventually("the row removed", || async {
        row(&pg, "gmmp", &gw_id).await.is_none()
    })
    .await;
    a.stop().await;
    pg.close().await;
}

#[tokio::test]
async fn on_sqlite_there_is_no_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    assert!(server.state.cluster.is_none());
    server.stop().await;
}
