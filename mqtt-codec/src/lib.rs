//! MQTT 3.1 (`MQIsdp`, level 3) and 3.1.1 (`MQTT`, level 4) control
//! packets as typed Rust, framed for tokio — the codec a server uses to
//! accept SIM7600 and M5310-A (OneNET) modules — and the OneNET `$dp`
//! data-point payloads those modules publish.
//!
//! All fourteen packets are named structs gathered in [`Packet`];
//! [`MqttCodec`] frames a byte stream for `tokio_util::codec::Framed` with a
//! maximum packet size both ways. Payloads are slices of the read buffer
//! (no copy). Decoding never panics: any input gives packets, `Ok(None)`
//! ("not enough bytes yet") or an [`MqttError`] naming what was wrong.
//!
//! ```
//! use bytes::BytesMut;
//! use mqtt_codec::{MqttCodec, Packet, PubAck, QoS};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! // PUBLISH QoS 1 to "$dp", packet id 10, as a OneNET module sends it.
//! let mut buf = BytesMut::from(&hex_bytes("320a 0003 246470 000a 030000")[..]);
//! let Some(Packet::Publish(p)) = MqttCodec::new().decode(&mut buf)? else { panic!() };
//! assert_eq!((p.topic.as_str(), p.qos, p.packet_id), ("$dp", QoS::AtLeastOnce, 10));
//! assert_eq!(&p.payload[..], &[0x03, 0x00, 0x00]);
//!
//! let mut out = BytesMut::new();
//! MqttCodec::new().encode(Packet::PubAck(PubAck { packet_id: p.packet_id }), &mut out)?;
//! assert_eq!(&out[..], &[0x40, 0x02, 0x00, 0x0a]);
//! # fn hex_bytes(s: &str) -> Vec<u8> {
//! #     let s: String = s.split_whitespace().collect();
//! #     (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
//! # }
//! # Ok::<(), mqtt_codec::MqttError>(())
//! ```
//!
//! # Layout
//!
//! - [`error`]: [`MqttError`], the one error type, with
//!   [`kind`](MqttError::kind) and [`connack_code`](MqttError::connack_code).
//! - [`wire`]: remaining length, `u16`, strings and binary fields.
//! - [`topic`]: topic name and topic filter rules.
//! - [`packet`]: one file per packet family — CONNECT, CONNACK, PUBLISH,
//!   PUBACK/PUBREC/PUBREL/PUBCOMP, SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK,
//!   PINGREQ/PINGRESP/DISCONNECT — and the [`Packet`] / [`PacketType`] enums.
//! - [`codec`]: [`MqttCodec`] for `tokio_util::codec`.
//! - [`onenet`]: OneNET `$dp` payloads (types 1–7) as data points.

#![warn(missing_docs, unreachable_pub)]

pub mod codec;
pub mod error;
pub mod onenet;
pub mod packet;
pub mod topic;
pub mod wire;

pub use codec::{DEFAULT_MAX_PACKET_SIZE, MqttCodec, PROTOCOL_MAX_PACKET_SIZE};
pub use error::MqttError;
pub use packet::{
    ConnAck, Connect, ConnectReturnCode, HeaderForm, LastWill, Packet, PacketType, Protocol,
    PubAck, PubComp, PubRec, PubRel, Publish, QoS, SubAck, SubAckCode, Subscribe, SubscribeFilter,
    UnsubAck, Unsubscribe, check_first_byte,
};
