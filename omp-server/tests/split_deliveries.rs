//! Split deliveries (total_count > 1) as real clients send them: the same
//! T-ID in every part, or a T-ID per part as SK Telecom's library does
//! (`GO_Delivery` increments it on every call), over one connection or one
//! per part (the library's Always-Off mode), across a restart. A part
//! answered rc 0x00 is committed; a part that fits no split is refused with
//! a result code and changes nothing; a split cut short stays readable.

mod common;

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use common::{Client, GUARD, TestServer, rc, start};
use gmmp_codec::{DeviceId, Frame, Header, ResultCode};
use omp_server::store::deliveries::{self, StoredDelivery};
use omp_server::store::splits;

const KEY: &str = "split-test-key-5c1e9a7b3d2f40";

/// `n` bytes of a pattern that differs per `seed` (so misplaced parts show).
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Sends one part and returns its rc (the T-ID must be echoed).
async fn part(
    c: &mut Client,
    device: DeviceId,
    tid: u32,
    current: u16,
    total: u16,
    payload: &[u8],
) -> ResultCode {
    let header = Header::new(c.auth_id, c.key, tid)
        .with_parts(current, total)
        .with_encryption_flag(0x00)
        .with_timestamp(1_586_937_600);
    let body = c.delivery(device, payload);
    c.send(Frame::new(header, body)).await;
    let rsp = c.recv().await;
    assert_eq!(rsp.header.tid, tid, "T-ID echoed");
    rc(&rsp)
}

async fn registered(server: &TestServer, auth_id: &str) -> Client {
    let mut c = Client::connect(server.addr, auth_id).await;
    assert_eq!(
        rc(&c.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    c
}

/// A second connection of the same gateway, authenticated by its key (as
/// the library reconnects for every request in Always-Off mode).
async fn reconnect(server: &TestServer, c: &Client) -> Client {
    let mut again = Client::connect(server.addr, &c.auth_id.to_string()).await;
    again.key = c.key;
    again.gw_id = c.gw_id;
    again.domain = c.domain;
    again
}

async fn stored(server: &TestServer, c: &Client) -> Vec<StoredDelivery> {
    let mut rows = deliveries::latest(&server.state.db, &c.gw_id.to_string(), 100)
        .await
        .unwrap();
    rows.reverse();
    rows
}

async fn incomplete(server: &TestServer, c: &Client) -> Vec<splits::IncompleteDelivery> {
    splits::incomplete(&server.state.db, &c.gw_id.to_string(), 100)
        .await
        .unwrap()
}

fn ok3() -> [ResultCode; 3] {
    [ResultCode::OK; 3]
}

#[tokio::test]
async fn parts_with_a_tid_each_are_stored_as_one_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut c = registered(&server, "0008dc000001").await;
    let (a, b, d) = (bytes(2048, 1), bytes(2048, 2), bytes(904, 3));
    let got = [
        part(&mut c, DeviceId::EMPTY, 7, 1, 3, &a).await,
        part(&mut c, DeviceId::EMPTY, 8, 2, 3, &b).await,
        part(&mut c, DeviceId::EMPTY, 9, 3, 3, &d).await,
    ];
    assert_eq!(got, ok3());
    let rows = stored(&server, &c).await;
    assert_eq!(rows.len(), 1, "one delivery");
    assert_eq!(rows[0].payload, [a, b, d].concat(), "byte-exact, in order");
    assert_eq!(rows[0].tid, 7, "part 1's T-ID");
    assert!(incomplete(&server, &c).await.is_empty());
    // Two parts the same way.
    let (a, b) = (bytes(2048, 4), bytes(10, 5));
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 10, 1, 2, &a).await,
        ResultCode::OK
    );
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 11, 2, 2, &b).await,
        ResultCode::OK
    );
    let rows = stored(&server, &c).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].payload, [a, b].concat());
    server.stop().await;
}

#[tokio::test]
async fn parts_under_one_tid_are_stored_as_one_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut c = registered(&server, "0008dc000002").await;
    let (a, b, d) = (bytes(2048, 1), bytes(2048, 2), bytes(904, 3));
    let got = [
        part(&mut c, DeviceId::EMPTY, 7, 1, 3, &a).await,
        part(&mut c, DeviceId::EMPTY, 7, 2, 3, &b).await,
        part(&mut c, DeviceId::EMPTY, 7, 3, 3, &d).await,
    ];
    assert_eq!(got, ok3());
    let rows = stored(&server, &c).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].payload, [a, b, d].concat());
    server.stop().await;
}

#[tokio::test]
async fn a_repeated_part_is_acknowledged_again_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut c = registered(&server, "0008dc000003").await;
    let (a, b) = (bytes(2048, 1), bytes(100, 2));
    let got = [
        part(&mut c, DeviceId::EMPTY, 7, 1, 2, &a).await,
        part(&mut c, DeviceId::EMPTY, 7, 1, 2, &a).await,
        part(&mut c, DeviceId::EMPTY, 7, 2, 2, &b).await,
    ];
    assert_eq!(got, ok3(), "part 1 repeated, then part 2");
    // Part 2 of 3 repeated, under T-ID + 1 as the library would send it.
    let (x, y, z) = (bytes(2048, 3), bytes(2048, 4), bytes(5, 5));
    let got = [
        part(&mut c, DeviceId::EMPTY, 20, 1, 3, &x).await,
        part(&mut c, DeviceId::EMPTY, 21, 2, 3, &y).await,
        part(&mut c, DeviceId::EMPTY, 22, 2, 3, &y).await,
        part(&mut c, DeviceId::EMPTY, 23, 3, 3, &z).await,
    ];
    assert_eq!(got, [ResultCode::OK; 4]);
    // The same part number again with other bytes contradicts the split;
    // the split still completes.
    let other = bytes(2048, 9);
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 30, 1, 3, &a).await,
        ResultCode::OK
    );
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 31, 2, 3, &a).await,
        ResultCode::OK
    );
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 32, 2, 3, &other).await,
        ResultCode::CONFLICT
    );
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 32, 3, 3, &b).await,
        ResultCode::OK
    );
    let rows = stored(&server, &c).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].payload, [a.clone(), b.clone()].concat());
    assert_eq!(rows[1].payload, [x, y, z].concat());
    assert_eq!(rows[2].payload, [a.clone(), a, b].concat());
    let m = server.state.writer.metrics();
    assert_eq!(
        m.split_parts_repeated
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn parts_that_fit_no_split_are_refused_and_the_split_still_completes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut c = registered(&server, "0008dc000004").await;
    let (a, b) = (bytes(2048, 1), bytes(50, 2));
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 7, 1, 2, &a).await,
        ResultCode::OK
    );
    // A junk part 5 of 2, then one that changes the total, then part 2
    // with other bytes than a repeat of part 1 would have.
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 7, 5, 2, b"junk").await,
        ResultCode::BAD_REQUEST
    );
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 7, 2, 3, &b).await,
        ResultCode::CONFLICT
    );
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 40, 3, 3, &b).await,
        ResultCode::BAD_REQUEST
    );
    assert!(
        stored(&server, &c).await.is_empty(),
        "nothing stored while incomplete"
    );
    let open = incomplete(&server, &c).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].state, "open");
    assert_eq!(open[0].parts.len(), 1);
    assert_eq!(open[0].parts[0].payload, a);
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 7, 2, 2, &b).await,
        ResultCode::OK
    );
    let rows = stored(&server, &c).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].payload, [a, b].concat());
    let m = server.state.writer.metrics();
    assert_eq!(
        m.split_parts_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    server.stop().await;
}

#[tokio::test]
async fn a_part_of_another_report_type_or_device_is_refused_never_mixed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut c = registered(&server, "0008dc000005").await;
    let d1: DeviceId = *c
        .register_device("SensorA")
        .await
        .message
        .device_id()
        .unwrap();
    let d2: DeviceId = *c
        .register_device("SensorB")
        .await
        .message
        .device_id()
        .unwrap();
    let (a, b) = (bytes(2048, 1), bytes(60, 2));
    assert_eq!(part(&mut c, d1, 7, 1, 2, &a).await, ResultCode::OK);
    // Device 2's part 2 under the same T-ID: not device 1's.
    assert_eq!(part(&mut c, d2, 7, 2, 2, &b).await, ResultCode::BAD_REQUEST);
    // Device 1's part 2 with another report type.
    let header = Header::new(c.auth_id, c.key, 7).with_parts(2, 2);
    let mut body = c.delivery(d1, &b);
    body.report_type = gmmp_codec::ReportType::ALARM;
    c.send(Frame::new(header, body)).await;
    assert_eq!(rc(&c.recv().await), ResultCode::BAD_REQUEST);
    assert!(stored(&server, &c).await.is_empty());
    let open = incomplete(&server, &c).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].device_id, d1.to_string());
    server.stop().await;
}

#[tokio::test]
async fn two_devices_interleaved_under_one_tid_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut c = registered(&server, "0008dc000006").await;
    let d1: DeviceId = *c
        .register_device("SensorA")
        .await
        .message
        .device_id()
        .unwrap();
    let d2: DeviceId = *c
        .register_device("SensorB")
        .await
        .message
        .device_id()
        .unwrap();
    let (a1, a2, b1, b2) = (bytes(2048, 1), bytes(7, 2), bytes(2048, 3), bytes(9, 4));
    let got = [
        part(&mut c, d1, 7, 1, 2, &a1).await,
        part(&mut c, d2, 7, 1, 2, &b1).await,
        part(&mut c, d1, 7, 2, 2, &a2).await,
        part(&mut c, d2, 7, 2, 2, &b2).await,
    ];
    assert_eq!(got, [ResultCode::OK; 4]);
    // And two splits of the gateway itself interleaved under two T-IDs.
    let (x1, x2, y1, y2) = (bytes(2048, 5), bytes(3, 6), bytes(2048, 7), bytes(4, 8));
    let got = [
        part(&mut c, DeviceId::EMPTY, 50, 1, 2, &x1).await,
        part(&mut c, DeviceId::EMPTY, 51, 1, 2, &y1).await,
        part(&mut c, DeviceId::EMPTY, 51, 2, 2, &y2).await,
        part(&mut c, DeviceId::EMPTY, 50, 2, 2, &x2).await,
    ];
    assert_eq!(got, [ResultCode::OK; 4]);
    let rows = stored(&server, &c).await;
    assert_eq!(rows.len(), 4);
    let of = |device: &DeviceId, payload: Vec<u8>| {
        rows.iter()
            .any(|r| r.device_id == device.to_string() && r.payload == payload)
    };
    assert!(of(&d1, [a1, a2].concat()));
    assert!(of(&d2, [b1, b2].concat()));
    assert!(of(&DeviceId::EMPTY, [x1, x2].concat()));
    assert!(of(&DeviceId::EMPTY, [y1, y2].concat()));
    server.stop().await;
}

#[tokio::test]
async fn a_split_continues_over_new_connections_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut c = registered(&server, "0008dc000007").await;
    let (a, b, d) = (bytes(2048, 1), bytes(2048, 2), bytes(904, 3));
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 7, 1, 3, &a).await,
        ResultCode::OK
    );
    c.framed.get_mut().shutdown().await.unwrap();
    // Part 2 on a connection of its own, as Always-Off mode sends it.
    let mut again = reconnect(&server, &c).await;
    assert_eq!(
        part(&mut again, DeviceId::EMPTY, 8, 2, 3, &b).await,
        ResultCode::OK
    );
    again.framed.get_mut().shutdown().await.unwrap();
    server.stop().await;
    let server = start(dir.path(), |_| {}).await;
    let mut after = reconnect(&server, &c).await;
    assert_eq!(
        part(&mut after, DeviceId::EMPTY, 9, 3, 3, &d).await,
        ResultCode::OK
    );
    let rows = stored(&server, &c).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].payload, [a, b, d].concat());
    assert!(incomplete(&server, &c).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_split_cut_short_stays_readable_and_is_abandoned_after_its_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.split_expiry = Duration::from_secs(1);
        c.api_key = Some(KEY.to_owned());
    })
    .await;
    let mut c = registered(&server, "0008dc000008").await;
    let (a, b) = (bytes(2048, 1), bytes(2048, 2));
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 7, 1, 3, &a).await,
        ResultCode::OK
    );
    assert_eq!(
        part(&mut c, DeviceId::EMPTY, 8, 2, 3, &b).await,
        ResultCode::OK
    );
    c.framed.get_mut().shutdown().await.unwrap();
    // Poll (not a timing assertion: the guard only bounds a hang).
    let abandoned = tokio::time::timeout(GUARD, async {
        loop {
            let list = incomplete(&server, &c).await;
            if list.first().is_some_and(|d| d.state == "abandoned") {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("abandoned after its expiry");
    assert_eq!(abandoned.len(), 1);
    let d = &abandoned[0];
    assert_eq!(d.reason.as_deref(), Some("expired"));
    assert_eq!(d.total_count, 3);
    assert_eq!(d.parts.iter().map(|p| p.tid).collect::<Vec<_>>(), [7, 8]);
    assert_eq!(d.parts[0].payload, a);
    assert_eq!(d.parts[1].payload, b);
    let m = server.state.writer.metrics();
    assert_eq!(
        m.splits_abandoned
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The same through the HTTP API, Base64.
    let url = format!(
        "http://{}/api/v1/gateways/{}/deliveries/incomplete",
        server.http_addr, c.gw_id
    );
    let body: serde_json::Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = &body["items"][0];
    assert_eq!(item["state"], "abandoned");
    assert_eq!(item["parts_received"], 2);
    assert_eq!(item["content_length"], 4096);
    use base64::Engine;
    let first = base64::engine::general_purpose::STANDARD
        .decode(item["parts"][0]["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(first, a);
    // Part 3 now opens nothing: refused, not acknowledged and dropped.
    let mut late = reconnect(&server, &c).await;
    let d3 = bytes(10, 3);
    assert_eq!(
        part(&mut late, DeviceId::EMPTY, 9, 3, 3, &d3).await,
        ResultCode::BAD_REQUEST
    );
    let metrics = reqwest::Client::new()
        .get(format!("http://{}/metrics", server.http_addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("omp_split_deliveries_abandoned_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("omp_split_parts_stored_total 2"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_gateway_that_restarts_its_tids_mid_split_gets_its_new_delivery_whole() {
    for per_part in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path(), |_| {}).await;
        let mut c = registered(&server, "0008dc000009").await;
        let old = bytes(2048, 1);
        assert_eq!(
            part(&mut c, DeviceId::EMPTY, 7, 1, 3, &old).await,
            ResultCode::OK
        );
        c.framed.get_mut().shutdown().await.unwrap();
        // The gateway reboots: its library counts T-IDs from the start again.
        let mut rebooted = reconnect(&server, &c).await;
        let (a, b, d) = (bytes(2048, 2), bytes(2048, 3), bytes(10, 4));
        let tid = |n: u32| if per_part { 7 + n } else { 7 };
        let got = [
            part(&mut rebooted, DeviceId::EMPTY, tid(0), 1, 3, &a).await,
            part(&mut rebooted, DeviceId::EMPTY, tid(1), 2, 3, &b).await,
            part(&mut rebooted, DeviceId::EMPTY, tid(2), 3, 3, &d).await,
        ];
        assert_eq!(got, ok3());
        let rows = stored(&server, &c).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].payload,
            [a, b, d].concat(),
            "the new delivery, whole"
        );
        let left = incomplete(&server, &c).await;
        assert_eq!(left.len(), 1, "the old split cut short stays readable");
        assert_eq!(left[0].state, "abandoned");
        assert_eq!(left[0].reason.as_deref(), Some("superseded"));
        assert_eq!(left[0].parts[0].payload, old);
        server.stop().await;
    }
}
