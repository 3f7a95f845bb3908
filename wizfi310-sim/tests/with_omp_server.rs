//! The emulator's own GMMP client (AT+GMMPSET, as in the WizFi310 guide)
//! against the real omp-server: it registers the GW and its device, and the
//! seed's delivery arrives in the store byte-exact.

mod common;

use std::time::Duration;

use common::{GUARD, joined, quick_config};
use sqlx::Row;
use tokio_util::sync::CancellationToken;
use wizfi310_sim::SimConfig;

const SEED_TEXT: &str = "WizFi310 test data !@#$%^&*(/)";

#[tokio::test]
async fn module_registers_and_its_delivery_is_stored_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut omp = omp_server::Config::defaults();
    omp.gmmp_listen = "127.0.0.1:0".parse().unwrap();
    omp.http_listen = "127.0.0.1:0".parse().unwrap();
    omp.data_dir = dir.path().to_owned();
    omp.provisioning = omp_server::ProvisioningMode::Open;
    let shutdown = CancellationToken::new();
    let server = omp_server::run(omp, shutdown.clone()).await.unwrap();
    let pool = server.state.pool.clone();

    // Timers tick every 5 ms, so the profile's 10-minute report period
    // (period x 6 ticks on the module) sends the stored data every 300 ms.
    let config = SimConfig {
        gmmp_tick: Duration::from_millis(5),
        gmmp_retry: Duration::from_millis(10),
        ..quick_config()
    };
    let (_sim, mut port) = joined(config).await;
    port.command(&format!("AT+GMMPDATA=0,{SEED_TEXT}")).await;
    port.command(&format!(
        "AT+GMMPSET=1,127.0.0.1,{},ThingPlug,0008dc1e3222,WIZnet,0008dc1e3222",
        server.gmmp_addr.port()
    ))
    .await;

    let row = tokio::time::timeout(GUARD, async {
        loop {
            let row = sqlx::query(
                "SELECT gw_id, device_id, report_type, media_type, encryption_flag, payload \
                 FROM deliveries ORDER BY id LIMIT 1",
            )
            .fetch_optional(&pool)
            .await
            .unwrap();
            if let Some(row) = row {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a delivery stored");

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
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(device, "0008dc1e3222");
    let auth_id: String = sqlx::query_scalar("SELECT auth_id FROM gateways WHERE gw_id = ?")
        .bind(&gw_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(auth_id, "0008dc1e3222");

    shutdown.cancel();
    server.wait().await.unwrap();
}
