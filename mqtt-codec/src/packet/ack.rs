//! PUBACK, PUBREC, PUBREL, PUBCOMP (types 4–7): the QoS 1 and QoS 2
//! acknowledgements, each just a packet identifier.
//!
//! ```text
//! PUBACK  0x40 0x02 id   QoS 1: received
//! PUBREC  0x50 0x02 id   QoS 2: received
//! PUBREL  0x62 0x02 id   QoS 2: release (0x60 accepted, see HeaderForm)
//! PUBCOMP 0x70 0x02 id   QoS 2: complete
//! ```

use bytes::Bytes;

use super::{HeaderForm, PacketType};
use crate::error::MqttError;
use crate::wire::Reader;

/// Reads the body of an identifier-only packet: exactly two bytes, not 0.
pub(crate) fn decode_packet_id(packet_type: PacketType, body: Bytes) -> Result<u16, MqttError> {
    if body.len() != 2 {
        return Err(MqttError::WrongRemainingLength {
            packet_type,
            len: body.len(),
            expected: 2,
        });
    }
    Reader::new(packet_type, body).packet_id()
}

macro_rules! id_only {
    ($(#[$doc:meta])* $name:ident, $t:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            /// The identifier of the packet acknowledged.
            pub packet_id: u16,
        }

        impl $name {
            pub(crate) fn decode(body: Bytes) -> Result<Self, MqttError> {
                Ok($name {
                    packet_id: decode_packet_id(PacketType::$t, body)?,
                })
            }
        }
    };
}
pub(crate) use id_only;

id_only!(
    /// PUBACK: a QoS 1 PUBLISH was received.
    PubAck,
    PubAck
);
id_only!(
    /// PUBREC: a QoS 2 PUBLISH was received.
    PubRec,
    PubRec
);
id_only!(
    /// PUBCOMP: a QoS 2 exchange is complete.
    PubComp,
    PubComp
);

/// PUBREL: the sender of a QoS 2 PUBLISH releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubRel {
    /// The identifier of the PUBLISH released.
    pub packet_id: u16,
    /// Flags `0010` (3.1.1) or `0000` (flags left zero).
    pub form: HeaderForm,
}

impl PubRel {
    /// A PUBREL as 3.1.1 spells it.
    pub fn new(packet_id: u16) -> Self {
        PubRel {
            packet_id,
            form: HeaderForm::Spec,
        }
    }

    pub(crate) fn decode(form: HeaderForm, body: Bytes) -> Result<Self, MqttError> {
        Ok(PubRel {
            packet_id: decode_packet_id(PacketType::PubRel, body)?,
            form,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Packet, assert_wire};

    #[test]
    fn puback_for_pkid_10() {
        assert_wire(
            &[
                0x40, 0x02, // PUBACK, remaining length 2
                0x00, 0x0a, // packet id 10
            ],
            Packet::PubAck(PubAck { packet_id: 10 }),
        );
    }

    #[test]
    fn qos2_handshake_for_pkid_2() {
        assert_wire(
            &[
                0x50, 0x02, // PUBREC, remaining length 2
                0x00, 0x02, // packet id 2
            ],
            Packet::PubRec(PubRec { packet_id: 2 }),
        );
        assert_wire(
            &[
                0x62, 0x02, // PUBREL (flags 0010), remaining length 2
                0x00, 0x02, // packet id 2
            ],
            Packet::PubRel(PubRel::new(2)),
        );
        assert_wire(
            &[
                0x70, 0x02, // PUBCOMP, remaining length 2
                0x00, 0x02, // packet id 2
            ],
            Packet::PubComp(PubComp { packet_id: 2 }),
        );
    }

    #[test]
    fn pubrel_without_flags_is_recorded() {
        assert_wire(
            &[
                0x60, 0x02, // PUBREL with flags 0000, remaining length 2
                0x00, 0x02, // packet id 2
            ],
            Packet::PubRel(PubRel {
                packet_id: 2,
                form: HeaderForm::ZeroFlags,
            }),
        );
    }

    #[test]
    fn length_and_id_rules() {
        let t = PacketType::PubAck;
        assert!(matches!(
            decode_packet_id(t, Bytes::from_static(&[0, 1, 0])),
            Err(MqttError::WrongRemainingLength {
                len: 3,
                expected: 2,
                ..
            })
        ));
        assert!(matches!(
            decode_packet_id(t, Bytes::from_static(&[0, 0])),
            Err(MqttError::ZeroPacketId { .. })
        ));
    }
}
