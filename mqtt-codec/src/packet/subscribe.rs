//! SUBSCRIBE (type 8) and SUBACK (type 9).
//!
//! ```text
//! SUBSCRIBE  0x82 (0x80 accepted)  id, 1..n × (u16 len + filter, requested QoS)
//! SUBACK     0x90                  id, 1..n × return code (0, 1, 2 or 0x80)
//! ```
//!
//! Filters are checked for `+` / `#` placement (§4.7.1); the requested-QoS
//! byte must have its six upper bits clear.

use bytes::{BufMut, Bytes, BytesMut};

use super::{HeaderForm, PacketType, QoS};
use crate::error::MqttError;
use crate::topic::check_topic_filter;
use crate::wire::{Reader, field_len, put_prefixed};

/// One topic filter of a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeFilter {
    /// The filter, wildcards allowed.
    pub filter: String,
    /// The QoS the client asks for.
    pub qos: QoS,
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier, echoed by the SUBACK.
    pub packet_id: u16,
    /// At least one filter.
    pub filters: Vec<SubscribeFilter>,
    /// Flags `0010` (3.1.1) or `0000` (OneNET's SDK).
    pub form: HeaderForm,
}

impl Subscribe {
    pub(crate) fn decode(form: HeaderForm, body: Bytes) -> Result<Self, MqttError> {
        let t = PacketType::Subscribe;
        let mut r = Reader::new(t, body);
        let packet_id = r.packet_id()?;
        let mut filters = Vec::new();
        while r.remaining() > 0 {
            let filter = r.string("topic filter")?;
            check_topic_filter(t, &filter)?;
            let byte = r.u8("requested QoS")?;
            if byte & !0b11 != 0 {
                return Err(MqttError::InvalidSubscriptionOptions { byte });
            }
            let qos = QoS::from_bits(byte).ok_or(MqttError::InvalidQos {
                packet_type: t,
                field: "requested QoS",
            })?;
            filters.push(SubscribeFilter { filter, qos });
        }
        if filters.is_empty() {
            return Err(MqttError::Empty { packet_type: t });
        }
        Ok(Subscribe {
            packet_id,
            filters,
            form,
        })
    }

    pub(crate) fn body_len(&self) -> Result<usize, MqttError> {
        let t = PacketType::Subscribe;
        if self.filters.is_empty() {
            return Err(MqttError::Empty { packet_type: t });
        }
        let mut len = 2;
        for f in &self.filters {
            check_topic_filter(t, &f.filter)?;
            len += field_len(t, "topic filter", f.filter.len())? + 1;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, dst: &mut BytesMut) {
        dst.put_u16(self.packet_id);
        for f in &self.filters {
            put_prefixed(dst, f.filter.as_bytes());
            dst.put_u8(f.qos as u8);
        }
    }
}

/// One SUBACK return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubAckCode {
    /// Subscribed with this maximum QoS.
    Granted(QoS),
    /// 0x80: refused.
    Failure,
}

impl SubAckCode {
    fn to_u8(self) -> u8 {
        match self {
            SubAckCode::Granted(q) => q as u8,
            SubAckCode::Failure => 0x80,
        }
    }
}

/// SUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The SUBSCRIBE's packet identifier.
    pub packet_id: u16,
    /// One code per filter, in order.
    pub return_codes: Vec<SubAckCode>,
}

impl SubAck {
    pub(crate) fn decode(body: Bytes) -> Result<Self, MqttError> {
        let t = PacketType::SubAck;
        let mut r = Reader::new(t, body);
        let packet_id = r.packet_id()?;
        let mut return_codes = Vec::with_capacity(r.remaining());
        while r.remaining() > 0 {
            let code = r.u8("return code")?;
            return_codes.push(match code {
                0x80 => SubAckCode::Failure,
                _ => SubAckCode::Granted(
                    QoS::from_bits(code).ok_or(MqttError::InvalidSubAckCode { code })?,
                ),
            });
        }
        if return_codes.is_empty() {
            return Err(MqttError::Empty { packet_type: t });
        }
        Ok(SubAck {
            packet_id,
            return_codes,
        })
    }

    pub(crate) fn body_len(&self) -> Result<usize, MqttError> {
        if self.return_codes.is_empty() {
            return Err(MqttError::Empty {
                packet_type: PacketType::SubAck,
            });
        }
        Ok(2 + self.return_codes.len())
    }

    pub(crate) fn write_body(&self, dst: &mut BytesMut) {
        dst.put_u16(self.packet_id);
        for c in &self.return_codes {
            dst.put_u8(c.to_u8());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Packet, assert_wire};

    fn sim7600_subscribe(form: HeaderForm) -> Packet {
        Packet::Subscribe(Subscribe {
            packet_id: 2,
            filters: vec![SubscribeFilter {
                filter: "123456789".into(),
                qos: QoS::AtLeastOnce,
            }],
            form,
        })
    }

    #[test]
    fn sim7600_subscribe_qos1() {
        let bytes = [
            &[0x82, 0x0e][..], // SUBSCRIBE (flags 0010), remaining length 14
            &[0x00, 0x02],     // packet id 2
            &[0x00, 0x09],     // filter length 9
            b"123456789",      // filter
            &[0x01],           // requested QoS 1
        ]
        .concat();
        assert_wire(&bytes, sim7600_subscribe(HeaderForm::Spec));
    }

    #[test]
    fn onenet_sdk_subscribe_without_flags() {
        let bytes = [
            &[0x80, 0x0e][..], // SUBSCRIBE with flags 0000, as OneNET's SDK sends
            &[0x00, 0x02],     // packet id 2
            &[0x00, 0x09],     // filter length 9
            b"123456789",      // filter
            &[0x01],           // requested QoS 1
        ]
        .concat();
        assert_wire(&bytes, sim7600_subscribe(HeaderForm::ZeroFlags));
    }

    #[test]
    fn suback_codes() {
        assert_wire(
            &[
                0x90, 0x03, // SUBACK, remaining length 3
                0x00, 0x02, // packet id 2
                0x01, // granted QoS 1
            ],
            Packet::SubAck(SubAck {
                packet_id: 2,
                return_codes: vec![SubAckCode::Granted(QoS::AtLeastOnce)],
            }),
        );
        assert_wire(
            &[
                0x90, 0x06, // SUBACK, remaining length 6
                0x12, 0x34, // packet id 0x1234
                0x00, 0x01, 0x02, 0x80, // QoS 0, 1, 2, failure
            ],
            Packet::SubAck(SubAck {
                packet_id: 0x1234,
                return_codes: vec![
                    SubAckCode::Granted(QoS::AtMostOnce),
                    SubAckCode::Granted(QoS::AtLeastOnce),
                    SubAckCode::Granted(QoS::ExactlyOnce),
                    SubAckCode::Failure,
                ],
            }),
        );
        assert!(matches!(
            SubAck::decode(Bytes::from_static(&[0, 1, 0x03])),
            Err(MqttError::InvalidSubAckCode { code: 3 })
        ));
        assert!(matches!(
            SubAck::decode(Bytes::from_static(&[0, 1])),
            Err(MqttError::Empty { .. })
        ));
    }

    #[test]
    fn subscribe_refusals() {
        let decode = |b: &'static [u8]| Subscribe::decode(HeaderForm::Spec, Bytes::from_static(b));
        assert!(matches!(decode(&[0, 1]), Err(MqttError::Empty { .. })));
        assert!(matches!(
            decode(&[0, 1, 0, 1, b'a', 0x03]),
            Err(MqttError::InvalidQos {
                field: "requested QoS",
                ..
            })
        ));
        assert!(matches!(
            decode(&[0, 1, 0, 1, b'a', 0x41]),
            Err(MqttError::InvalidSubscriptionOptions { byte: 0x41 })
        ));
        assert!(matches!(
            decode(&[0, 1, 0, 3, b'a', b'#', b'b', 0]),
            Err(MqttError::InvalidTopicFilter { .. })
        ));
        assert!(matches!(
            decode(&[0, 1, 0, 1, b'a']),
            Err(MqttError::Truncated {
                field: "requested QoS",
                ..
            })
        ));
    }
}
