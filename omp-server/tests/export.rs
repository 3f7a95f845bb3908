//! Exports over real TCP: many rows, byte-exact, the same bytes as
//! `omp-server export` writes offline.

mod answer;
mod common;
mod tcp_api;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gmmp_codec::ResultCode;
use omp_server::export::{self, CSV_HEADER, Format, Selection};
use omp_server::store::deliveries::{self, DeliveryRow, HistoryFilter};
use sqlx::Connection;

use common::{Client, GUARD, rc, start};
use tcp_api::{Api, KEY};

/// The payload of row `i`: its number and bytes a CSV must not break on.
fn payload(i: u32) -> Vec<u8> {
    let mut p = format!("row {i},\"quoted\"\n").into_bytes();
    p.extend_from_slice(&i.to_le_bytes());
    p
}

/// `n` deliveries of `gw_id` stored in one transaction (the writer's own
/// insert), received at ms `i`.
async fn store_rows(path: &std::path::Path, gw_id: &str, n: u32) {
    let mut conn = omp_server::store::open_dedicated_connection(path)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .unwrap();
    let rows: Vec<DeliveryRow> = (0..n)
        .map(|i| DeliveryRow {
            gw_id: gw_id.to_owned(),
            device_id: if i % 10 == 0 {
                "AD10000001".into()
            } else {
                String::new()
            },
            report_type: 1,
            media_type: 1,
            tid: i,
            origin_timestamp: 1_586_937_600,
            received_at: i64::from(i),
            encryption_flag: 2,
            payload: payload(i).into(),
            keyed: false,
        })
        .collect();
    deliveries::insert_batch(&mut omp_server::store::Conn::from(&mut conn), &rows)
        .await
        .unwrap();
    sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// The whole body of `path`, read chunk by chunk.
async fn download(api: &Api, path: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let mut response = tokio::time::timeout(GUARD, api.request(reqwest::Method::GET, path).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = tokio::time::timeout(GUARD, response.chunk())
        .await
        .unwrap()
        .unwrap()
    {
        body.extend_from_slice(&chunk);
    }
    (headers, body)
}

#[tokio::test]
async fn a_hundred_thousand_rows_export_byte_exact_online_and_offline() {
    const N: u32 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.api_key = Some(KEY.to_owned());
        c.trace_gmmp = false;
    })
    .await;
    let api = Api::new(&server);
    let mut gw = Client::connect(server.addr, "0008dc1e3222").await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    let gw_id = gw.gw_id.to_string();
    store_rows(&server.state.config.database_path(), &gw_id, N).await;

    let path = format!("/api/v1/gateways/{gw_id}/deliveries/export?format=csv");
    let (headers, body) = download(&api, &path).await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let text = std::str::from_utf8(&body).unwrap();
    let mut lines = text.split_terminator('\n');
    assert_eq!(format!("{}\n", lines.next().unwrap()), CSV_HEADER);
    let mut count = 0u32;
    for (i, line) in lines.enumerate() {
        let i = u32::try_from(i).unwrap();
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 12, "{line}");
        assert_eq!(fields[1], gw_id);
        assert_eq!(fields[6], i.to_string(), "oldest first, none skipped");
        assert_eq!(STANDARD.decode(fields[11]).unwrap(), payload(i), "row {i}");
        count += 1;
    }
    assert_eq!(count, N);

    // Offline, the same bytes.
    let selection = Selection {
        gw_id: gw_id.clone(),
        filter: HistoryFilter::default(),
    };
    let mut offline = Vec::new();
    export::write(
        server.state.db.clone(),
        selection,
        Format::Csv,
        &mut offline,
    )
    .await
    .unwrap();
    assert!(offline == body, "HTTP and offline exports differ");

    let metrics = api.get("/metrics").await;
    assert!(
        metrics.text.contains(&format!("omp_export_rows_total {N}")),
        "{}",
        metrics.text
    );
    server.stop().await;
}

#[tokio::test]
async fn ndjson_exports_filter_by_device_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.api_key = Some(KEY.to_owned());
        c.trace_gmmp = false;
    })
    .await;
    let api = Api::new(&server);
    let mut gw = Client::connect(server.addr, "0008dc1e3222").await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    let gw_id = gw.gw_id.to_string();
    store_rows(&server.state.config.database_path(), &gw_id, 3000).await;
    // Rows 1000..2000 (received at ms i), the device's: every tenth.
    let path = format!(
        "/api/v1/gateways/{gw_id}/deliveries/export?format=ndjson&device_id=AD10000001\
         &from=1970-01-01T00:00:01Z&to=1970-01-01T00:00:02Z"
    );
    let (headers, body) = download(&api, &path).await;
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let rows: Vec<serde_json::Value> = std::str::from_utf8(&body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tids: Vec<i64> = rows.iter().map(|r| r["tid"].as_i64().unwrap()).collect();
    assert_eq!(tids, (1000..2000).step_by(10).collect::<Vec<i64>>());
    assert!(rows.iter().all(|r| r["device_id"] == "AD10000001"));
    assert_eq!(
        STANDARD
            .decode(rows[0]["content"].as_str().unwrap())
            .unwrap(),
        payload(1000)
    );
    // The API's Delivery, field for field.
    let listed = api
        .get(&format!("/api/v1/gateways/{gw_id}/deliveries?device_id=AD10000001&limit=1&to=1970-01-01T00:00:01.001Z"))
        .await;
    assert_eq!(listed.json["items"][0], rows[0]);
    server.stop().await;
}
