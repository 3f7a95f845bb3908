//! The fourteen MQTT 3.1 / 3.1.1 control packets, one file per family, and
//! the [`Packet`] enum that reads and writes any of them.
//!
//! ```text
//! byte 0   type (bits 7-4) | flags (bits 3-0)
//! 1..=4    remaining length (7 bits per byte, continuation bit 0x80)
//! ...      variable header and payload (the "body")
//! ```
//!
//! The flags are checked on the first byte alone ([`check_first_byte`]),
//! before the body arrives. Where 3.1.1 requires flags `0010` (PUBREL,
//! SUBSCRIBE, UNSUBSCRIBE) `0000` is accepted too and recorded as
//! [`HeaderForm::ZeroFlags`]: OneNET's device SDK sends SUBSCRIBE as `0x80`
//! and UNSUBSCRIBE as `0xA0`; a PUBREL `0x60` (flags left zero) carries
//! nothing that could be misread.

mod ack;
mod connack;
mod connect;
mod ping;
mod publish;
mod subscribe;
mod unsubscribe;

pub use ack::{PubAck, PubComp, PubRec, PubRel};
pub use connack::{ConnAck, ConnectReturnCode};
pub use connect::{Connect, LastWill, Protocol};
pub use publish::Publish;
pub use subscribe::{SubAck, SubAckCode, Subscribe, SubscribeFilter};
pub use unsubscribe::{UnsubAck, Unsubscribe};

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::MqttError;
use crate::wire::{self, MAX_REMAINING_LENGTH};

/// The control packet type, the high nibble of the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// 1: client asks to connect.
    Connect = 1,
    /// 2: server answers CONNECT.
    ConnAck = 2,
    /// 3: an application message.
    Publish = 3,
    /// 4: QoS 1 acknowledgement.
    PubAck = 4,
    /// 5: QoS 2, part 1.
    PubRec = 5,
    /// 6: QoS 2, part 2.
    PubRel = 6,
    /// 7: QoS 2, part 3.
    PubComp = 7,
    /// 8: client subscribes.
    Subscribe = 8,
    /// 9: server answers SUBSCRIBE.
    SubAck = 9,
    /// 10: client unsubscribes.
    Unsubscribe = 10,
    /// 11: server answers UNSUBSCRIBE.
    UnsubAck = 11,
    /// 12: client keep-alive probe.
    PingReq = 12,
    /// 13: server answers PINGREQ.
    PingResp = 13,
    /// 14: client closes cleanly.
    Disconnect = 14,
}

impl PacketType {
    /// The type of a nibble, `None` for the reserved 0 and 15.
    pub fn from_nibble(nibble: u8) -> Option<Self> {
        use PacketType::*;
        Some(match nibble {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            _ => return None,
        })
    }

    /// The name the spec uses.
    pub fn name(self) -> &'static str {
        use PacketType::*;
        match self {
            Connect => "CONNECT",
            ConnAck => "CONNACK",
            Publish => "PUBLISH",
            PubAck => "PUBACK",
            PubRec => "PUBREC",
            PubRel => "PUBREL",
            PubComp => "PUBCOMP",
            Subscribe => "SUBSCRIBE",
            SubAck => "SUBACK",
            Unsubscribe => "UNSUBSCRIBE",
            UnsubAck => "UNSUBACK",
            PingReq => "PINGREQ",
            PingResp => "PINGRESP",
            Disconnect => "DISCONNECT",
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Quality of service of a message or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum QoS {
    /// 0: at most once.
    #[default]
    AtMostOnce = 0,
    /// 1: at least once.
    AtLeastOnce = 1,
    /// 2: exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS of two bits, `None` for 3.
    pub fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// Which fixed-header flags a PUBREL, SUBSCRIBE or UNSUBSCRIBE came with,
/// so a server can log the clients that do not follow 3.1.1. Encoding
/// writes the form recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HeaderForm {
    /// Flags `0010`, as 3.1.1 requires.
    #[default]
    Spec,
    /// Flags `0000`: OneNET's SDK (SUBSCRIBE `0x80`, UNSUBSCRIBE `0xA0`), and
    /// PUBREL `0x60` from clients that leave the flags zero.
    ZeroFlags,
}

impl HeaderForm {
    pub(crate) fn flags(self) -> u8 {
        match self {
            HeaderForm::Spec => 0b0010,
            HeaderForm::ZeroFlags => 0,
        }
    }

    fn from_flags(packet_type: PacketType, flags: u8) -> Result<Self, MqttError> {
        match flags {
            0b0010 => Ok(HeaderForm::Spec),
            0 => Ok(HeaderForm::ZeroFlags),
            _ => Err(MqttError::InvalidFlags { packet_type, flags }),
        }
    }
}

/// Checks the first byte of a packet on its own: a known type, with flags
/// that type allows. PUBLISH flags must not say QoS 3, nor DUP with QoS 0.
pub fn check_first_byte(byte: u8) -> Result<PacketType, MqttError> {
    let nibble = byte >> 4;
    let flags = byte & 0x0f;
    let packet_type = PacketType::from_nibble(nibble).ok_or(MqttError::ReservedPacketType {
        packet_type: nibble,
        byte,
    })?;
    match packet_type {
        PacketType::Publish => {
            let qos = QoS::from_bits((flags >> 1) & 0b11).ok_or(MqttError::InvalidQos {
                packet_type,
                field: "fixed header QoS",
            })?;
            if qos == QoS::AtMostOnce && flags & 0b1000 != 0 {
                return Err(MqttError::DupWithQos0);
            }
        }
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => {
            HeaderForm::from_flags(packet_type, flags)?;
        }
        _ if flags != 0 => return Err(MqttError::InvalidFlags { packet_type, flags }),
        _ => {}
    }
    Ok(packet_type)
}

/// Any control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT.
    Connect(Connect),
    /// CONNACK.
    ConnAck(ConnAck),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(PubAck),
    /// PUBREC.
    PubRec(PubRec),
    /// PUBREL.
    PubRel(PubRel),
    /// PUBCOMP.
    PubComp(PubComp),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect,
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect => PacketType::Disconnect,
        }
    }

    /// Decodes the body of a packet whose first byte is `first_byte`. The
    /// body is exactly the remaining length's bytes.
    pub fn decode_body(first_byte: u8, body: Bytes) -> Result<Packet, MqttError> {
        let packet_type = check_first_byte(first_byte)?;
        let flags = first_byte & 0x0f;
        Ok(match packet_type {
            PacketType::Connect => Packet::Connect(Connect::decode(body)?),
            PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(body)?),
            PacketType::Publish => Packet::Publish(Publish::decode(flags, body)?),
            PacketType::PubAck => Packet::PubAck(PubAck::decode(body)?),
            PacketType::PubRec => Packet::PubRec(PubRec::decode(body)?),
            PacketType::PubRel => {
                let form = HeaderForm::from_flags(packet_type, flags)?;
                Packet::PubRel(PubRel::decode(form, body)?)
            }
            PacketType::PubComp => Packet::PubComp(PubComp::decode(body)?),
            PacketType::Subscribe => {
                let form = HeaderForm::from_flags(packet_type, flags)?;
                Packet::Subscribe(Subscribe::decode(form, body)?)
            }
            PacketType::SubAck => Packet::SubAck(SubAck::decode(body)?),
            PacketType::Unsubscribe => {
                let form = HeaderForm::from_flags(packet_type, flags)?;
                Packet::Unsubscribe(Unsubscribe::decode(form, body)?)
            }
            PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(body)?),
            PacketType::PingReq => ping::decode_empty(packet_type, body, Packet::PingReq)?,
            PacketType::PingResp => ping::decode_empty(packet_type, body, Packet::PingResp)?,
            PacketType::Disconnect => ping::decode_empty(packet_type, body, Packet::Disconnect)?,
        })
    }

    /// Decodes one whole packet: fixed header, then exactly as many bytes
    /// as its remaining length says.
    pub fn from_bytes(mut bytes: Bytes) -> Result<Packet, MqttError> {
        let Some(&first) = bytes.first() else {
            return Err(MqttError::NoBytes);
        };
        let packet_type = check_first_byte(first)?;
        let truncated = |field| MqttError::Truncated { packet_type, field };
        let (len, len_bytes) =
            wire::read_remaining_length(&bytes[1..])?.ok_or(truncated("remaining length"))?;
        let header_len = 1 + len_bytes;
        if bytes.len() < header_len + len {
            return Err(truncated("body"));
        }
        if bytes.len() > header_len + len {
            return Err(MqttError::TrailingBytes {
                packet_type,
                extra: bytes.len() - header_len - len,
            });
        }
        Packet::decode_body(first, bytes.split_off(header_len))
    }

    fn first_byte(&self) -> u8 {
        let flags = match self {
            Packet::Publish(p) => p.flags(),
            Packet::PubRel(p) => p.form.flags(),
            Packet::Subscribe(s) => s.form.flags(),
            Packet::Unsubscribe(u) => u.form.flags(),
            _ => 0,
        };
        (self.packet_type() as u8) << 4 | flags
    }

    fn body_len(&self) -> Result<usize, MqttError> {
        match self {
            Packet::Connect(c) => c.body_len(),
            Packet::ConnAck(_) => Ok(2),
            Packet::Publish(p) => p.body_len(),
            Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::PubComp(_)
            | Packet::UnsubAck(_) => Ok(2),
            Packet::Subscribe(s) => s.body_len(),
            Packet::SubAck(s) => s.body_len(),
            Packet::Unsubscribe(u) => u.body_len(),
            Packet::PingReq | Packet::PingResp | Packet::Disconnect => Ok(0),
        }
    }

    /// The encoded size, fixed header included; an error when a field
    /// does not fit its length prefix, or the packet exceeds the protocol's
    /// largest remaining length.
    pub fn encoded_len(&self) -> Result<usize, MqttError> {
        Self::total_len(self.body_len()?)
    }

    fn total_len(body: usize) -> Result<usize, MqttError> {
        if body > MAX_REMAINING_LENGTH {
            return Err(MqttError::PacketTooLarge {
                len: 1 + 4 + body,
                max: 1 + 4 + MAX_REMAINING_LENGTH,
            });
        }
        Ok(1 + wire::remaining_length_len(body) + body)
    }

    /// Appends the packet to `dst`. Fields are checked before anything is
    /// written, so on error `dst` is unchanged.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), MqttError> {
        let body = self.body_len()?;
        let total = Self::total_len(body)?;
        self.check_packet_ids()?;
        dst.reserve(total);
        dst.put_u8(self.first_byte());
        wire::put_remaining_length(body, dst);
        match self {
            Packet::Connect(c) => c.write_body(dst),
            Packet::ConnAck(c) => c.write_body(dst),
            Packet::Publish(p) => p.write_body(dst),
            Packet::PubAck(PubAck { packet_id })
            | Packet::PubRec(PubRec { packet_id })
            | Packet::PubRel(PubRel { packet_id, .. })
            | Packet::PubComp(PubComp { packet_id })
            | Packet::UnsubAck(UnsubAck { packet_id }) => dst.put_u16(*packet_id),
            Packet::Subscribe(s) => s.write_body(dst),
            Packet::SubAck(s) => s.write_body(dst),
            Packet::Unsubscribe(u) => u.write_body(dst),
            Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
        }
        Ok(())
    }

    /// The packet as bytes.
    pub fn to_bytes(&self) -> Result<Bytes, MqttError> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf)?;
        Ok(buf.freeze())
    }

    /// Packet identifiers the decoder would refuse are refused on encoding
    /// too, so what is sent is always what a strict peer accepts.
    fn check_packet_ids(&self) -> Result<(), MqttError> {
        let id = match self {
            Packet::Publish(p) if p.qos == QoS::AtMostOnce => return Ok(()),
            Packet::Publish(p) => p.packet_id,
            Packet::PubAck(PubAck { packet_id })
            | Packet::PubRec(PubRec { packet_id })
            | Packet::PubRel(PubRel { packet_id, .. })
            | Packet::PubComp(PubComp { packet_id })
            | Packet::UnsubAck(UnsubAck { packet_id }) => *packet_id,
            Packet::Subscribe(s) => s.packet_id,
            Packet::SubAck(s) => s.packet_id,
            Packet::Unsubscribe(u) => u.packet_id,
            _ => return Ok(()),
        };
        if id == 0 {
            return Err(MqttError::ZeroPacketId {
                packet_type: self.packet_type(),
            });
        }
        Ok(())
    }
}

/// Byte-level test helper: `bytes` decode to `packet` and `packet` encodes
/// to `bytes`.
#[cfg(test)]
pub(crate) fn assert_wire(bytes: &[u8], packet: Packet) {
    let decoded = Packet::from_bytes(Bytes::copy_from_slice(bytes)).expect("decodes");
    assert_eq!(decoded, packet);
    assert_eq!(&packet.to_bytes().expect("encodes")[..], bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_types_and_flags() {
        assert!(matches!(
            check_first_byte(0x00),
            Err(MqttError::ReservedPacketType { packet_type: 0, .. })
        ));
        assert!(matches!(
            check_first_byte(0xf0),
            Err(MqttError::ReservedPacketType {
                packet_type: 15,
                ..
            })
        ));
        for byte in [
            0x11, 0x21, 0x41, 0x52, 0x64, 0x72, 0x81, 0x91, 0xa4, 0xb2, 0xc1, 0xd8, 0xe2,
        ] {
            assert!(
                matches!(check_first_byte(byte), Err(MqttError::InvalidFlags { .. })),
                "0x{byte:02x}"
            );
        }
        // PUBLISH with QoS 3, and DUP on QoS 0.
        assert!(matches!(
            check_first_byte(0x36),
            Err(MqttError::InvalidQos { .. })
        ));
        assert!(matches!(
            check_first_byte(0x38),
            Err(MqttError::DupWithQos0)
        ));
        for byte in [0x30, 0x31, 0x3a, 0x3d, 0x62, 0x60, 0x82, 0x80, 0xa2, 0xa0] {
            check_first_byte(byte).unwrap();
        }
    }

    #[test]
    fn whole_packet_lengths_are_exact() {
        assert!(matches!(
            Packet::from_bytes(Bytes::from_static(&[0xc0, 0x00, 0x00])),
            Err(MqttError::TrailingBytes { extra: 1, .. })
        ));
        assert!(matches!(
            Packet::from_bytes(Bytes::from_static(&[0x40, 0x02, 0x00])),
            Err(MqttError::Truncated { field: "body", .. })
        ));
    }

    #[test]
    fn zero_packet_ids_are_not_encoded() {
        let p = Packet::PubAck(PubAck { packet_id: 0 });
        assert!(matches!(p.to_bytes(), Err(MqttError::ZeroPacketId { .. })));
    }
}
