//! The codec's one error type.
//!
//! Every variant names what was wrong and carries the offending value, so a
//! server can log `SUBSCRIBE: topic filter "a/#/b" is not valid` without
//! re-parsing anything. [`MqttError::connack_code`] tells a server which
//! CONNACK (if any) the spec wants before it closes the connection.

use crate::packet::{ConnectReturnCode, PacketType};

/// Why bytes could not be turned into a [`Packet`](crate::Packet), or a
/// packet into bytes.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The first byte names packet type 0 or 15, reserved in MQTT 3.1.1.
    #[error("packet type {packet_type} (first byte 0x{byte:02x}) is reserved")]
    ReservedPacketType {
        /// The type nibble.
        packet_type: u8,
        /// The whole first byte.
        byte: u8,
    },
    /// The fixed header's flag nibble is not the one its type requires.
    #[error("{packet_type}: fixed header flags {flags:04b} are not allowed")]
    InvalidFlags {
        /// The packet type.
        packet_type: PacketType,
        /// The low nibble of the first byte.
        flags: u8,
    },
    /// A QoS field holds 3.
    #[error("{packet_type}: {field} is QoS 3, which does not exist")]
    InvalidQos {
        /// The packet type.
        packet_type: PacketType,
        /// Which QoS field.
        field: &'static str,
    },
    /// A whole packet was asked of zero bytes.
    #[error("no bytes: a packet needs at least its 2-byte fixed header")]
    NoBytes,
    /// The remaining length continues into a fifth byte.
    #[error("remaining length uses more than 4 bytes")]
    RemainingLengthTooLong,
    /// The packet (fixed header included) is larger than the configured
    /// maximum, or than the protocol's 268,435,455-byte remaining length.
    #[error("packet of {len} bytes exceeds the maximum of {max}")]
    PacketTooLarge {
        /// The declared or computed packet length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A packet of fixed size has another remaining length.
    #[error("{packet_type}: remaining length {len}, must be {expected}")]
    WrongRemainingLength {
        /// The packet type.
        packet_type: PacketType,
        /// Remaining length received.
        len: usize,
        /// The only legal value.
        expected: usize,
    },
    /// The body ended inside a field.
    #[error("{packet_type}: body ends inside {field}")]
    Truncated {
        /// The packet type.
        packet_type: PacketType,
        /// The field being read.
        field: &'static str,
    },
    /// Bytes are left after the last field of the packet.
    #[error("{packet_type}: {extra} bytes after the last field")]
    TrailingBytes {
        /// The packet type.
        packet_type: PacketType,
        /// How many bytes are left.
        extra: usize,
    },
    /// A string field is not UTF-8.
    #[error("{packet_type}: {field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The packet type.
        packet_type: PacketType,
        /// The field.
        field: &'static str,
    },
    /// A string field contains U+0000, which MQTT forbids.
    #[error("{packet_type}: {field} contains U+0000")]
    NullCharacter {
        /// The packet type.
        packet_type: PacketType,
        /// The field.
        field: &'static str,
    },
    /// A string or binary field to encode is longer than its 16-bit length
    /// prefix can say.
    #[error("{packet_type}: {field} is {len} bytes, more than 65535")]
    FieldTooLong {
        /// The packet type.
        packet_type: PacketType,
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// CONNECT names a protocol or level this codec does not speak: the
    /// server answers CONNACK 1 (unacceptable protocol version) and closes.
    #[error(
        "CONNECT: protocol {name:?} level {level} is not MQTT 3.1 (MQIsdp/3) or 3.1.1 (MQTT/4)"
    )]
    UnacceptableProtocol {
        /// The protocol name as received (lossily decoded).
        name: String,
        /// The protocol level byte.
        level: u8,
    },
    /// CONNECT flags break a rule of §3.1.2: the reserved bit is set, will
    /// QoS/retain without a will, or a password without a user name.
    #[error("CONNECT: flags 0x{flags:02x}: {reason}")]
    InvalidConnectFlags {
        /// The connect flags byte.
        flags: u8,
        /// The rule broken.
        reason: &'static str,
    },
    /// A QoS > 0 packet or an acknowledgement carries packet identifier 0.
    #[error("{packet_type}: packet identifier 0")]
    ZeroPacketId {
        /// The packet type.
        packet_type: PacketType,
    },
    /// A PUBLISH (or will) topic name that is empty or has a wildcard.
    #[error("topic name {topic:?} is not valid ({reason})")]
    InvalidTopicName {
        /// The topic name.
        topic: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// A SUBSCRIBE / UNSUBSCRIBE topic filter that is empty or misuses
    /// `+` / `#`.
    #[error("{packet_type}: topic filter {filter:?} is not valid ({reason})")]
    InvalidTopicFilter {
        /// The packet type.
        packet_type: PacketType,
        /// The filter.
        filter: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// SUBSCRIBE, UNSUBSCRIBE or SUBACK with no entry at all.
    #[error("{packet_type}: no topic filter or return code")]
    Empty {
        /// The packet type.
        packet_type: PacketType,
    },
    /// A QoS 0 PUBLISH with DUP set.
    #[error("PUBLISH: DUP set on a QoS 0 message")]
    DupWithQos0,
    /// The requested-QoS byte of a SUBSCRIBE has reserved bits set.
    #[error("SUBSCRIBE: requested QoS byte 0x{byte:02x} has reserved bits set")]
    InvalidSubscriptionOptions {
        /// The byte received.
        byte: u8,
    },
    /// CONNACK acknowledge flags other than bit 0, or session present with
    /// a refusal.
    #[error("CONNACK: acknowledge flags 0x{flags:02x} with return code {code} are not valid")]
    InvalidConnAckFlags {
        /// The acknowledge flags byte.
        flags: u8,
        /// The return code byte.
        code: u8,
    },
    /// A CONNACK return code above 5.
    #[error("CONNACK: return code {code} is reserved")]
    InvalidConnectReturnCode {
        /// The byte received.
        code: u8,
    },
    /// A SUBACK return code other than 0, 1, 2 or 0x80.
    #[error("SUBACK: return code 0x{code:02x} is reserved")]
    InvalidSubAckCode {
        /// The byte received.
        code: u8,
    },
    /// The socket failed under the framed codec.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl MqttError {
    /// A short machine-friendly name of the error kind, for metrics labels
    /// and structured logs.
    pub fn kind(&self) -> &'static str {
        match self {
            MqttError::ReservedPacketType { .. } => "reserved_packet_type",
            MqttError::InvalidFlags { .. } => "invalid_flags",
            MqttError::InvalidQos { .. } => "invalid_qos",
            MqttError::NoBytes => "no_bytes",
            MqttError::RemainingLengthTooLong => "remaining_length_too_long",
            MqttError::PacketTooLarge { .. } => "packet_too_large",
            MqttError::WrongRemainingLength { .. } => "wrong_remaining_length",
            MqttError::Truncated { .. } => "truncated",
            MqttError::TrailingBytes { .. } => "trailing_bytes",
            MqttError::InvalidUtf8 { .. } => "invalid_utf8",
            MqttError::NullCharacter { .. } => "null_character",
            MqttError::FieldTooLong { .. } => "field_too_long",
            MqttError::UnacceptableProtocol { .. } => "unacceptable_protocol",
            MqttError::InvalidConnectFlags { .. } => "invalid_connect_flags",
            MqttError::ZeroPacketId { .. } => "zero_packet_id",
            MqttError::InvalidTopicName { .. } => "invalid_topic_name",
            MqttError::InvalidTopicFilter { .. } => "invalid_topic_filter",
            MqttError::Empty { .. } => "empty",
            MqttError::DupWithQos0 => "dup_with_qos0",
            MqttError::InvalidSubscriptionOptions { .. } => "invalid_subscription_options",
            MqttError::InvalidConnAckFlags { .. } => "invalid_connack_flags",
            MqttError::InvalidConnectReturnCode { .. } => "invalid_connect_return_code",
            MqttError::InvalidSubAckCode { .. } => "invalid_suback_code",
            MqttError::Io(_) => "io",
        }
    }

    /// The CONNACK a server sends before closing, when the spec asks for
    /// one: CONNACK 1 for an unacceptable protocol. Every other error means
    /// "close without answering" (§3.1.4).
    pub fn connack_code(&self) -> Option<ConnectReturnCode> {
        match self {
            MqttError::UnacceptableProtocol { .. } => {
                Some(ConnectReturnCode::UnacceptableProtocolVersion)
            }
            _ => None,
        }
    }
}
