//! The emulator's own GMMP client (AT+GMMPSET, as in the WizFi310 guide)
//! against the real omp-server: it registers the GW and its device, and
//! what it delivers arrives in the store as the module would send it.

use std::path::Path;
use std::time::Duration;

use sqlx::{Row, SqlitePool};
use test_support::module_port::{Port, joined, quick_config};
use test_support::wait::GUARD;
use tokio_util::sync::CancellationToken;
use wizfi310_sim::SimConfig;

const SEED_TEXT: &str = "WizFi310 test data !@#$%^&*(/)";

/// A running omp-server on `dir` and the token that stops it.
struct Omp {
    server: omp_server::RunningServer,
    shutdown: CancellationToken,
    db_path: std::path::PathBuf,
}

impl Omp {
    async fn start(dir: &Path) -> Omp {
        let mut config = omp_server::Config::defaults();
        config.gmmp_listen = "127.0.0.1:0".parse().unwrap();
        config.http_listen = "127.0.0.1:0".parse().unwrap();
        config.mqtt_listen = None;
        config.mqtts_listen = None;
        config.data_dir = dir.to_owned();
        config.provisioning = omp_server::ProvisioningMode::Open;
        let db_path = config.database_path();
        let shutdown = CancellationToken::new();
        let server = omp_server::run(config, shutdown.clone()).await.unwrap();
        Omp {
            server,
            shutdown,
            db_path,
        }
    }

    fn pool(&self) -> &SqlitePool {
        self.server.state.db.as_sqlite().expect("a SQLite store")
    }

    fn port(&self) -> u16 {
        self.server.gmmp_addr.port()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.server.wait().await.unwrap();
    }
}

/// Polls (every 20 ms, within the guard) until `query` returns at least
/// `n` rows.
async fn rows(pool: &SqlitePool, query: &'static str, n: usize) -> Vec<sqlx::sqlite::SqliteRow> {
    tokio::time::timeout(GUARD, async {
        loop {
            let rows = sqlx::query(query).fetch_all(pool).await.unwrap();
            if rows.len() >= n {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} rows of {query}"))
}

async fn gmmpset(port: &mut Port, omp_port: u16) {
    port.command(&format!(
        "AT+GMMPSET=1,127.0.0.1,{omp_port},ThingPlug,0008dc1e3222,WIZnet,0008dc1e3222"
    ))
    .await;
}

#[tokio::test]
async fn module_registers_and_its_delivery_is_stored_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let omp = Omp::start(dir.path()).await;

    // Timers tick every 5 ms, so the profile's 10-minute report period
    // (period x 6 ticks on the module) sends the stored data every 300 ms.
    let config = SimConfig {
        gmmp_tick: Duration::from_millis(5),
        gmmp_retry: Duration::from_millis(10),
        ..quick_config()
    };
    let (_sim, mut port) = joined(config).await;
    port.command(&format!("AT+GMMPDATA=0,{SEED_TEXT}")).await;
    gmmpset(&mut port, omp.port()).await;

    let row = rows(
        omp.pool(),
        "SELECT gw_id, device_id, report_type, media_type, encryption_flag, payload \
         FROM deliveries ORDER BY id LIMIT 1",
        1,
    )
    .await
    .remove(0);

    let gw_id: String = row.get("gw_id");
    assert!(gw_id.starts_with("SC"), "{gw_id}");
    assert_eq!(row.get::<String, _>("device_id"), "", "GW-level delivery");
    assert_eq!(row.get::<i64, _>("report_type"), 1);
    assert_eq!(row.get::<i64, _>("media_type"), 1);
    assert_eq!(row.get::<i64, _>("encryption_flag"), 2);
    assert_eq!(row.get::<Vec<u8>, _>("payload"), SEED_TEXT.as_bytes());

    // The registration order reached its end: the device is registered
    // under the GW with the module's MAC as manufacture ID.
    let device: String = sqlx::query_scalar("SELECT manufacture_id FROM devices WHERE gw_id = ?")
        .bind(&gw_id)
        .fetch_one(omp.pool())
        .await
        .unwrap();
    assert_eq!(device, "0008dc1e3222");
    let auth_id: String = sqlx::query_scalar("SELECT auth_id FROM gateways WHERE gw_id = ?")
        .bind(&gw_id)
        .fetch_one(omp.pool())
        .await
        .unwrap();
    assert_eq!(auth_id, "0008dc1e3222");
    omp.stop().await;
}

/// Sends `AT+GMMPDATA=1,` + `data` (raw bytes) and waits for its `[OK]`.
async fn send_now(port: &mut Port, data: &[u8]) {
    let mut line = b"AT+GMMPDATA=1,".to_vec();
    line.extend_from_slice(data);
    line.push(b'\r');
    port.write(&line).await;
    port.read_until_str("[OK]\r\n").await;
}

#[tokio::test]
async fn each_delivery_is_one_row_under_the_next_tid_with_the_bytes_the_module_holds() {
    let dir = tempfile::tempdir().unwrap();
    let omp = Omp::start(dir.path()).await;
    // No timer fires during the test (no heartbeat moves the T-ID).
    let config = SimConfig {
        gmmp_tick: Duration::from_secs(3600),
        gmmp_retry: Duration::from_millis(10),
        ..quick_config()
    };
    let (_sim, mut port) = joined(config).await;
    port.command("AT+MMSG=3").await;
    port.command("AT+GMMPOPT=10,1,1,1").await;
    gmmpset(&mut port, omp.port()).await;
    port.read_until_str("[OMP->GW]OPERATION_DEVICE_REG_RSP Start")
        .await;
    port.read_until_str("<OMP><Marker:OPE>").await;

    // The longest data the module can hold: its command buffer keeps 255
    // bytes of the line, 241 after `AT+GMMPDATA=1,`; far from GMMP's
    // 2048-byte parts, so one unsplit delivery.
    let long: Vec<u8> = (0..300u32).map(|i| b'0' + (i % 10) as u8).collect();
    send_now(&mut port, &long).await;
    // The data is a C string: it ends at the first NUL.
    send_now(&mut port, b"abc\0def").await;
    // Other bytes go out as typed, UTF-8 or not.
    send_now(&mut port, b"caf\xe9 \xff!").await;

    let stored = rows(
        omp.pool(),
        "SELECT tid, payload FROM deliveries ORDER BY tid",
        3,
    )
    .await;
    let stored: Vec<(i64, Vec<u8>)> = stored
        .iter()
        .map(|r| (r.get("tid"), r.get("payload")))
        .collect();
    assert_eq!(
        stored,
        [
            (3, long[..241].to_vec()),
            (4, b"abc".to_vec()),
            (5, b"caf\xe9 \xff!".to_vec()),
        ],
        "GW registration and profile took T-ID 1, device registration 2"
    );
    omp.stop().await;
}

#[tokio::test]
async fn a_gateway_stored_with_a_16_character_key_is_given_a_short_one_and_the_module_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let omp = Omp::start(dir.path()).await;
    let config = SimConfig {
        gmmp_tick: Duration::from_millis(5),
        gmmp_retry: Duration::from_millis(10),
        ..quick_config()
    };
    let (_sim, mut port) = joined(config).await;
    gmmpset(&mut port, omp.port()).await;
    rows(omp.pool(), "SELECT gw_id FROM gateways", 1).await;
    port.command("AT+GMMPSET=0").await;
    let db_path = omp.db_path.clone();
    omp.stop().await;

    // As an older OMP left it: a key with no room for the library's NUL.
    let pool = omp_server::store::open(&db_path).await.unwrap();
    sqlx::query("UPDATE gateways SET auth_key = 'SP0123456789abcd'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let omp = Omp::start(dir.path()).await;
    port.command(&format!("AT+GMMPDATA=0,{SEED_TEXT}")).await;
    gmmpset(&mut port, omp.port()).await;
    let row = rows(omp.pool(), "SELECT payload FROM deliveries", 1)
        .await
        .remove(0);
    assert_eq!(row.get::<Vec<u8>, _>("payload"), SEED_TEXT.as_bytes());
    let key: String = sqlx::query_scalar("SELECT auth_key FROM gateways")
        .fetch_one(omp.pool())
        .await
        .unwrap();
    assert!(key.len() <= 15, "{key}");
    omp.stop().await;
}
