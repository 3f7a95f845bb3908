//! PUBLISH (type 3): an application message, either way.
//!
//! ```text
//! fixed header flags  3 DUP | 2-1 QoS | 0 RETAIN
//! topic name          u16 len + UTF-8, no wildcards
//! packet identifier   u16, non-zero, only when QoS > 0
//! payload             the rest, byte-exact (may be empty)
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::{PacketType, QoS};
use crate::error::MqttError;
use crate::topic::check_topic_name;
use crate::wire::{Reader, field_len, put_prefixed};

const T: PacketType = PacketType::Publish;

/// PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// This may be a re-delivery (QoS > 0 only).
    pub dup: bool,
    /// Delivery guarantee.
    pub qos: QoS,
    /// The server should keep it for future subscribers.
    pub retain: bool,
    /// Topic name.
    pub topic: String,
    /// Packet identifier; 0 for QoS 0, where it is not on the wire.
    pub packet_id: u16,
    /// Payload, a slice of the read buffer.
    pub payload: Bytes,
}

impl Publish {
    /// A QoS 0 message.
    pub fn at_most_once(topic: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: topic.into(),
            packet_id: 0,
            payload: payload.into(),
        }
    }

    pub(crate) fn decode(flags: u8, body: Bytes) -> Result<Self, MqttError> {
        // check_first_byte refused QoS 3 and DUP on QoS 0 already.
        let qos = QoS::from_bits((flags >> 1) & 0b11).ok_or(MqttError::InvalidQos {
            packet_type: T,
            field: "fixed header QoS",
        })?;
        let mut r = Reader::new(T, body);
        let topic = r.string("topic name")?;
        check_topic_name(&topic)?;
        let packet_id = if qos == QoS::AtMostOnce {
            0
        } else {
            r.packet_id()?
        };
        Ok(Publish {
            dup: flags & 0b1000 != 0,
            qos,
            retain: flags & 0b0001 != 0,
            topic,
            packet_id,
            payload: r.rest(),
        })
    }

    pub(crate) fn flags(&self) -> u8 {
        let dup = self.dup && self.qos != QoS::AtMostOnce;
        u8::from(dup) << 3 | (self.qos as u8) << 1 | u8::from(self.retain)
    }

    pub(crate) fn body_len(&self) -> Result<usize, MqttError> {
        check_topic_name(&self.topic)?;
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(MqttError::DupWithQos0);
        }
        let id = if self.qos == QoS::AtMostOnce { 0 } else { 2 };
        Ok(field_len(T, "topic name", self.topic.len())? + id + self.payload.len())
    }

    pub(crate) fn write_body(&self, dst: &mut BytesMut) {
        put_prefixed(dst, self.topic.as_bytes());
        if self.qos != QoS::AtMostOnce {
            dst.put_u16(self.packet_id);
        }
        dst.put_slice(&self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Packet, assert_wire};

    const DP_TYPE3: &[u8] = &[
        0x03, 0x00, 0x1b, // $dp type 3, 27 bytes of JSON
        0x7b, 0x22, 0x74, 0x65, 0x73, 0x74, 0x22, 0x3a, 0x22, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xef,
        0xbc, 0x8c, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0xef, 0xbc, 0x81, 0x22, 0x7d,
    ];

    fn dp(qos: QoS, retain: bool, packet_id: u16) -> Packet {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain,
            topic: "$dp".into(),
            packet_id,
            payload: Bytes::from_static(DP_TYPE3),
        })
    }

    #[test]
    fn m5310a_dp_qos2_retain() {
        let bytes = [
            &[0x35, 0x25][..],               // PUBLISH QoS 2 retain, remaining length 37
            &[0x00, 0x03, 0x24, 0x64, 0x70], // topic "$dp"
            &[0x00, 0x02],                   // packet id 2
            DP_TYPE3,                        // payload
        ]
        .concat();
        assert_wire(&bytes, dp(QoS::ExactlyOnce, true, 2));
    }

    #[test]
    fn onenet_dp_qos1() {
        let bytes = [
            &[0x32, 0x25][..],               // PUBLISH QoS 1, remaining length 37
            &[0x00, 0x03, 0x24, 0x64, 0x70], // topic "$dp"
            &[0x00, 0x0a],                   // packet id 10
            DP_TYPE3,                        // payload
        ]
        .concat();
        assert_wire(&bytes, dp(QoS::AtLeastOnce, false, 10));
    }

    #[test]
    fn creq_qos0_has_no_packet_id() {
        let topic = "$creq/81572aae-fc34-5deb-8f06-ab45d73cb12b";
        let bytes = [
            &[0x30, 0x2e][..], // PUBLISH QoS 0, remaining length 46
            &[0x00, 0x2a],     // topic length 42
            topic.as_bytes(),  // topic
            b"ON",             // payload
        ]
        .concat();
        assert_wire(
            &bytes,
            Packet::Publish(Publish::at_most_once(topic, &b"ON"[..])),
        );
    }

    #[test]
    fn dup_and_empty_payload() {
        assert_wire(
            &[
                0x3a, 0x05, // PUBLISH DUP QoS 1, remaining length 5
                0x00, 0x01, b'a', // topic "a"
                0xff, 0xff, // packet id 65535
            ],
            Packet::Publish(Publish {
                dup: true,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: "a".into(),
                packet_id: 0xffff,
                payload: Bytes::new(),
            }),
        );
    }

    #[test]
    fn refusals() {
        let decode = |flags, b: &'static [u8]| Publish::decode(flags, Bytes::from_static(b));
        assert!(matches!(
            decode(0x02, &[0, 1, b'a', 0, 0]),
            Err(MqttError::ZeroPacketId { .. })
        ));
        assert!(matches!(
            decode(0, &[0, 0]),
            Err(MqttError::InvalidTopicName { .. })
        ));
        assert!(matches!(
            decode(0, &[0, 1, b'#']),
            Err(MqttError::InvalidTopicName { .. })
        ));
        assert!(matches!(
            decode(0x02, &[0, 1, b'a', 0]),
            Err(MqttError::Truncated {
                field: "packet identifier",
                ..
            })
        ));
    }
}
