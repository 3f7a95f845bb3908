//! UNSUBSCRIBE (type 10) and UNSUBACK (type 11).
//!
//! ```text
//! UNSUBSCRIBE  0xA2 (0xA0 accepted)  id, 1..n × (u16 len + filter)
//! UNSUBACK     0xB0 0x02             id
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::ack::{decode_packet_id, id_only};
use super::{HeaderForm, PacketType};
use crate::error::MqttError;
use crate::topic::check_topic_filter;
use crate::wire::{Reader, field_len, put_prefixed};

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier, echoed by the UNSUBACK.
    pub packet_id: u16,
    /// At least one filter.
    pub filters: Vec<String>,
    /// Flags `0010` (3.1.1) or `0000` (OneNET's SDK).
    pub form: HeaderForm,
}

impl Unsubscribe {
    pub(crate) fn decode(form: HeaderForm, body: Bytes) -> Result<Self, MqttError> {
        let t = PacketType::Unsubscribe;
        let mut r = Reader::new(t, body);
        let packet_id = r.packet_id()?;
        let mut filters = Vec::new();
        while r.remaining() > 0 {
            let filter = r.string("topic filter")?;
            check_topic_filter(t, &filter)?;
            filters.push(filter);
        }
        if filters.is_empty() {
            return Err(MqttError::Empty { packet_type: t });
        }
        Ok(Unsubscribe {
            packet_id,
            filters,
            form,
        })
    }

    pub(crate) fn body_len(&self) -> Result<usize, MqttError> {
        let t = PacketType::Unsubscribe;
        if self.filters.is_empty() {
            return Err(MqttError::Empty { packet_type: t });
        }
        let mut len = 2;
        for f in &self.filters {
            check_topic_filter(t, f)?;
            len += field_len(t, "topic filter", f.len())?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, dst: &mut BytesMut) {
        dst.put_u16(self.packet_id);
        for f in &self.filters {
            put_prefixed(dst, f.as_bytes());
        }
    }
}

id_only!(
    /// UNSUBACK: the server processed an UNSUBSCRIBE.
    UnsubAck,
    UnsubAck
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Packet, assert_wire};

    fn unsubscribe(form: HeaderForm) -> Packet {
        Packet::Unsubscribe(Unsubscribe {
            packet_id: 3,
            filters: vec!["led2".into(), "dev/gsm/u".into()],
            form,
        })
    }

    #[test]
    fn unsubscribe_two_filters_both_forms() {
        let body = [
            &[0x00, 0x03][..], // packet id 3
            &[0x00, 0x04],     // filter length 4
            b"led2",           // filter
            &[0x00, 0x09],     // filter length 9
            b"dev/gsm/u",      // filter
        ]
        .concat();
        // UNSUBSCRIBE (flags 0010), remaining length 19.
        assert_wire(
            &[&[0xa2, 0x13][..], &body].concat(),
            unsubscribe(HeaderForm::Spec),
        );
        // UNSUBSCRIBE with flags 0000, as OneNET's SDK sends.
        assert_wire(
            &[&[0xa0, 0x13][..], &body].concat(),
            unsubscribe(HeaderForm::ZeroFlags),
        );
    }

    #[test]
    fn unsuback() {
        assert_wire(
            &[
                0xb0, 0x02, // UNSUBACK, remaining length 2
                0x00, 0x03, // packet id 3
            ],
            Packet::UnsubAck(UnsubAck { packet_id: 3 }),
        );
    }

    #[test]
    fn refusals() {
        let decode =
            |b: &'static [u8]| Unsubscribe::decode(HeaderForm::Spec, Bytes::from_static(b));
        assert!(matches!(decode(&[0, 1]), Err(MqttError::Empty { .. })));
        assert!(matches!(
            decode(&[0, 0, 0, 1, b'a']),
            Err(MqttError::ZeroPacketId { .. })
        ));
        assert!(matches!(
            decode(&[0, 1, 0, 0]),
            Err(MqttError::InvalidTopicFilter { .. })
        ));
    }
}
