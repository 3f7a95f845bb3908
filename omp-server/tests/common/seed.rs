//! Rows the `store_*` tests seed and compare on either backend: a
//! gateway row, GMMP controls and MQTT commands to queue, deliveries and
//! MQTT messages to store, and the key length of a registration. Written
//! once here for the tests of more than one file.

use omp_server::store::Db;
use omp_server::store::controls::{NewControl, Outcome};
use omp_server::store::deliveries::{self, DeliveryRow, StoredDelivery};
use omp_server::store::mqtt_controls::NewMqttControl;
use omp_server::store::mqtt_messages::{MessageKind, MessageRow, StoredMessage};

use super::stores::exec;

/// The gateway the store tests use, another one, and a device.
pub const GW: &str = "SC10010001";
pub const OTHER_GW: &str = "SC10010002";
pub const DEVICE: &str = "AD10014001";

// The control queue: `store::controls`, `store::mqtt_controls`.

/// A gateway row for the controls' foreign key (`store::gateways` is
/// not what is tested here).
pub async fn seed_gateway(db: &Db, gw_id: &str) {
    exec(
        db,
        &format!(
            "INSERT INTO gateways (gw_id, auth_id, auth_key, domain, manufacture_id,
                 registered_at)
             VALUES ('{gw_id}', 'auth-{gw_id}', 'key', 'ThingPlug', 'm-{gw_id}', 1)"
        ),
    )
    .await;
}

/// A GMMP control (type 0x82, three data bytes) to `gw_id`, expiring a
/// minute after `created_at`.
pub fn new_control(gw_id: &str, created_at: i64, key: Option<&str>) -> NewControl {
    NewControl {
        gw_id: gw_id.to_owned(),
        device_id: String::new(),
        control_type: 0x82,
        data: Some(vec![0x00, 0xff, 0x10]),
        created_at,
        expires_at: created_at + 60_000,
        idempotency_key: key.map(str::to_owned),
    }
}

/// An MQTT command (`$creq/1`, QoS 1, a reply topic) to `client_id`,
/// expiring a minute after `created_at`.
pub fn new_mqtt(client_id: &str, created_at: i64, key: Option<&str>) -> NewMqttControl {
    NewMqttControl {
        client_id: client_id.to_owned(),
        topic: "$creq/1".to_owned(),
        payload: b"on".to_vec(),
        qos: 1,
        reply_topic: Some("$crsp/1".to_owned()),
        created_at,
        expires_at: created_at + 60_000,
        idempotency_key: key.map(str::to_owned),
    }
}

/// The outcome of a control sent with T-ID `tid`.
pub fn sent_with(tid: u32) -> Outcome {
    Outcome {
        tid: Some(tid),
        ..Outcome::default()
    }
}

// Ingest: `store::deliveries`, `store::mqtt_messages`.

/// Delivery `i` of `gw_id`: every field varies with `i`, and the payload
/// holds bytes text would not (NUL, 0xff), empty for `i = 0`.
pub fn delivery(gw_id: &str, i: u32) -> DeliveryRow {
    DeliveryRow {
        gw_id: gw_id.to_owned(),
        device_id: if i.is_multiple_of(5) {
            DEVICE.to_owned()
        } else {
            String::new()
        },
        report_type: (i % 3) as u8 + 1,
        media_type: (i % 2) as u8 + 1,
        tid: u32::MAX - i,
        origin_timestamp: 1_586_937_600 + i,
        received_at: 1_000 + i64::from(i),
        encryption_flag: (i % 2) as u8 * 2,
        payload: (0..i).map(|b| (b * 37) as u8).collect::<Vec<u8>>().into(),
        keyed: i.is_multiple_of(7),
    }
}

/// `stored` is `row` as stored.
pub fn same_delivery(stored: &StoredDelivery, row: &DeliveryRow) -> bool {
    (
        stored.gw_id.as_str(),
        stored.device_id.as_str(),
        stored.report_type,
        stored.media_type,
        stored.tid,
        stored.origin_timestamp,
        stored.received_at,
        stored.encryption_flag,
        stored.payload.as_slice(),
    ) == (
        row.gw_id.as_str(),
        row.device_id.as_str(),
        i64::from(row.report_type),
        i64::from(row.media_type),
        i64::from(row.tid),
        i64::from(row.origin_timestamp),
        row.received_at,
        i64::from(row.encryption_flag),
        row.payload.as_ref(),
    )
}

/// Stores `rows` in one write transaction, as the writer does.
pub async fn insert_deliveries(db: &Db, rows: &[DeliveryRow]) {
    let mut tx = db.begin_write().await.unwrap();
    deliveries::insert_batch(&mut tx.conn(), rows)
        .await
        .unwrap_or_else(|e| panic!("{}: insert_batch: {e}", db.backend()));
    tx.commit().await.unwrap();
}

/// MQTT message `i` of `client_id` on `topic`: a will every eleventh,
/// the other fields varying with `i`.
pub fn message(client_id: &str, topic: &str, i: u32) -> MessageRow {
    MessageRow {
        client_id: client_id.to_owned(),
        kind: if i.is_multiple_of(11) {
            MessageKind::Will
        } else {
            MessageKind::Publish
        },
        topic: topic.to_owned(),
        payload: vec![i as u8, 0, 0xff].into(),
        qos: (i % 3) as u8,
        retain: false,
        dup: i % 4 == 1,
        packet_id: (!i.is_multiple_of(3)).then_some(i as u16),
        received_at: 7_000 + i64::from(i),
        datapoints: Vec::new(),
        dp_error: None,
    }
}

/// `stored` is `row` as stored.
pub fn same_message(stored: &StoredMessage, row: &MessageRow) -> bool {
    let kind = match row.kind {
        MessageKind::Publish => "publish",
        MessageKind::Will => "will",
    };
    (
        stored.client_id.as_str(),
        stored.kind.as_str(),
        stored.topic.as_str(),
        stored.payload.as_slice(),
        stored.qos,
        stored.retain,
        stored.dup,
        stored.packet_id,
        stored.received_at,
        stored.dp_undecodable,
        stored.dp_error.as_deref(),
    ) == (
        row.client_id.as_str(),
        kind,
        row.topic.as_str(),
        row.payload.as_ref(),
        i64::from(row.qos),
        row.retain,
        row.dup,
        row.packet_id.map(i64::from),
        row.received_at,
        row.dp_error.is_some(),
        row.dp_error.as_deref(),
    )
}

// The registry: `store::gateways`.

/// The key length real clients hold (GMMP's auth key field).
pub const KEY_LEN: usize = 16;
