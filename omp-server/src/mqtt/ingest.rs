//! From a PUBLISH (or a will) to the row the writer commits: the payload
//! byte-exact and, on topic `$dp`, the OneNET data points decoded from
//! it — in the same row, so message and data points commit together. A
//! `$dp` payload that does not decode is stored all the same, flagged
//! with the decoder's reason.

use base64::Engine;
use bytes::Bytes;
use mqtt_codec::QoS;
use mqtt_codec::onenet::{self, DpValue};
use serde_json::{Value, json};

use crate::store::mqtt_datapoints::DataPointRow;
use crate::store::mqtt_messages::{MessageKind, MessageRow};

/// The OneNET data-point topic.
pub const DP_TOPIC: &str = "$dp";

/// What one message is, as the session saw it.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    /// The sender.
    pub client_id: &'a str,
    /// PUBLISH or will.
    pub kind: MessageKind,
    /// The topic name.
    pub topic: &'a str,
    /// The payload.
    pub payload: &'a Bytes,
    /// Its QoS.
    pub qos: QoS,
    /// The RETAIN flag.
    pub retain: bool,
    /// The DUP flag.
    pub dup: bool,
    /// The packet id (QoS 1 and 2).
    pub packet_id: Option<u16>,
    /// Unix ms.
    pub received_at: i64,
}

/// A data point's value as JSON: JSON as sent, text as a string, a float
/// as a number (`null` when not finite), binary as Base64 with its `desc`.
pub fn value_json(value: &DpValue) -> Value {
    match value {
        DpValue::Json(v) => v.clone(),
        DpValue::Text(s) => Value::String(s.clone()),
        DpValue::Float(f) => serde_json::Number::from_f64(f64::from(*f))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        DpValue::Binary { data, desc } => json!({
            "base64": base64::engine::general_purpose::STANDARD.encode(data),
            "desc": desc,
        }),
    }
}

/// The row of `m`, with its data points when it is a `$dp` message.
pub fn row(m: Incoming<'_>) -> MessageRow {
    let mut datapoints = Vec::new();
    let mut dp_error = None;
    if m.topic == DP_TOPIC {
        match onenet::decode_dp(m.payload) {
            Ok(dp) => {
                datapoints = dp
                    .points
                    .iter()
                    .map(|p| DataPointRow {
                        stream: p.stream.clone(),
                        at: p.at.or(dp.time).map(|t| t.to_string()),
                        value: value_json(&p.value).to_string(),
                    })
                    .collect();
            }
            Err(e) => dp_error = Some(e.to_string()),
        }
    }
    MessageRow {
        client_id: m.client_id.to_owned(),
        kind: m.kind,
        topic: m.topic.to_owned(),
        payload: m.payload.clone(),
        qos: m.qos as u8,
        retain: m.retain,
        dup: m.dup,
        packet_id: m.packet_id,
        received_at: m.received_at,
        datapoints,
        dp_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming<'a>(topic: &'a str, payload: &'a Bytes) -> Incoming<'a> {
        Incoming {
            client_id: "39599428",
            kind: MessageKind::Publish,
            topic,
            payload,
            qos: QoS::ExactlyOnce,
            retain: true,
            dup: false,
            packet_id: Some(2),
            received_at: 1,
        }
    }

    #[test]
    fn the_seeds_type_3_payload_gives_stream_test() {
        let payload =
            Bytes::from_static(b"\x03\x00\x1b{\"test\":\"hello\xef\xbc\x8cworld\xef\xbc\x81\"}");
        let row = row(incoming(DP_TOPIC, &payload));
        assert_eq!(row.dp_error, None);
        assert_eq!(row.datapoints.len(), 1);
        assert_eq!(row.datapoints[0].stream, "test");
        assert_eq!(row.datapoints[0].value, "\"hello，world！\"");
        assert_eq!(row.payload, payload);
    }

    #[test]
    fn type_7_floats_carry_the_payload_time() {
        let payload = Bytes::from_static(&[
            0x87, 0x10, 0x0b, 0x16, 0x0e, 0x1f, 0x0c, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x08,
            0x42, 0x00, 0x02, 0x66, 0x66, 0xa2, 0xc1,
        ]);
        let row = row(incoming(DP_TOPIC, &payload));
        assert_eq!(row.datapoints.len(), 2);
        assert_eq!(row.datapoints[0].stream, "1");
        assert_eq!(row.datapoints[0].value, "34.0");
        assert_eq!(
            row.datapoints[0].at.as_deref(),
            Some("2016-11-22 14:31:12Z")
        );
    }

    #[test]
    fn an_undecodable_dp_payload_is_kept_and_flagged_and_other_topics_are_not_decoded() {
        let payload = Bytes::from_static(b"\x03\x00\x09{}");
        let flagged = row(incoming(DP_TOPIC, &payload));
        assert!(flagged.dp_error.is_some());
        assert!(flagged.datapoints.is_empty());
        assert_eq!(flagged.payload, payload);
        let plain = row(incoming("led2", &payload));
        assert_eq!((plain.dp_error, plain.datapoints.len()), (None, 0));
    }
}
