//! [`MqttCodec`]: MQTT framing for `tokio_util::codec`.
//!
//! Decoding checks the first byte (type and flags) as soon as it arrives,
//! then the remaining length (at most four bytes) against the configured
//! maximum packet size, and only then reserves room for the body — so a
//! hostile length can never make it allocate more than one allowed packet.
//! "Not enough bytes yet" is `Ok(None)`; a bad packet is an error, after
//! which the connection should be closed (§4.8: MQTT has no way to
//! re-synchronise a stream).

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::MqttError;
use crate::packet::{Packet, check_first_byte};
use crate::wire::{MAX_REMAINING_LENGTH, read_remaining_length};

/// The default largest packet, fixed header included, either way: 256 KiB.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 256 * 1024;

/// The largest packet the protocol can express: one type byte, four length
/// bytes and 268,435,455 bytes of body.
pub const PROTOCOL_MAX_PACKET_SIZE: usize = 1 + 4 + MAX_REMAINING_LENGTH;

/// The MQTT 3.1 / 3.1.1 packet codec. It holds only its limit: one per
/// connection, or cloned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttCodec {
    max_packet_size: usize,
}

impl Default for MqttCodec {
    fn default() -> Self {
        MqttCodec::new()
    }
}

impl MqttCodec {
    /// A codec with the [`DEFAULT_MAX_PACKET_SIZE`].
    pub fn new() -> Self {
        MqttCodec {
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
        }
    }

    /// A codec refusing packets (fixed header included) larger than
    /// `max_packet_size` both ways; values above the protocol's own limit
    /// are lowered to it.
    pub fn with_max_packet_size(max_packet_size: usize) -> Self {
        MqttCodec {
            max_packet_size: max_packet_size.min(PROTOCOL_MAX_PACKET_SIZE),
        }
    }

    /// The limit in force.
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    fn encode_packet(&self, item: &Packet, dst: &mut BytesMut) -> Result<(), MqttError> {
        let len = item.encoded_len()?;
        if len > self.max_packet_size {
            return Err(MqttError::PacketTooLarge {
                len,
                max: self.max_packet_size,
            });
        }
        item.encode(dst)
    }
}

impl Decoder for MqttCodec {
    type Item = Packet;
    type Error = MqttError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, MqttError> {
        let Some(&first) = src.first() else {
            return Ok(None);
        };
        check_first_byte(first)?;
        let Some((len, len_bytes)) = read_remaining_length(&src[1..])? else {
            return Ok(None);
        };
        let total = 1 + len_bytes + len;
        if total > self.max_packet_size {
            return Err(MqttError::PacketTooLarge {
                len: total,
                max: self.max_packet_size,
            });
        }
        if src.len() < total {
            // Bounded by max_packet_size, checked above.
            src.reserve(total - src.len());
            return Ok(None);
        }
        let mut packet = src.split_to(total);
        let body = packet.split_off(1 + len_bytes).freeze();
        Packet::decode_body(first, body).map(Some)
    }
}

impl Encoder<Packet> for MqttCodec {
    type Error = MqttError;

    fn encode(&mut self, item: Packet, dst: &mut BytesMut) -> Result<(), MqttError> {
        self.encode_packet(&item, dst)
    }
}

impl Encoder<&Packet> for MqttCodec {
    type Error = MqttError;

    fn encode(&mut self, item: &Packet, dst: &mut BytesMut) -> Result<(), MqttError> {
        self.encode_packet(item, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{PubAck, Publish};

    #[test]
    fn partial_input_is_not_an_error() {
        let mut codec = MqttCodec::new();
        let whole = [0x40, 0x02, 0x00, 0x0a];
        let mut buf = BytesMut::new();
        for &b in &whole[..3] {
            buf.extend_from_slice(&[b]);
            assert!(codec.decode(&mut buf).unwrap().is_none());
        }
        buf.extend_from_slice(&whole[3..]);
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Packet::PubAck(PubAck { packet_id: 10 }))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_length_is_refused_before_buffering() {
        let mut codec = MqttCodec::with_max_packet_size(1024);
        // PUBLISH claiming 268,435,455 bytes: refused on its 5 header bytes.
        let mut buf = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0x7f][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(MqttError::PacketTooLarge {
                len: PROTOCOL_MAX_PACKET_SIZE,
                max: 1024
            })
        ));
        assert!(buf.capacity() < 1024);
        // A packet of exactly the limit passes: 1 + 2 + 1021.
        let mut buf = BytesMut::from(&[0x30, 0xfd, 0x07, 0x00, 0x01, b'a'][..]);
        buf.resize(1024, b'x');
        assert!(codec.decode(&mut buf).unwrap().is_some());
    }

    #[test]
    fn garbage_is_refused_on_its_first_byte() {
        let mut buf = BytesMut::from(&[0x00][..]);
        assert!(matches!(
            MqttCodec::new().decode(&mut buf),
            Err(MqttError::ReservedPacketType { .. })
        ));
        let mut buf = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            MqttCodec::new().decode(&mut buf),
            Err(MqttError::RemainingLengthTooLong)
        ));
    }

    #[test]
    fn encoder_enforces_the_limit() {
        let mut codec = MqttCodec::with_max_packet_size(16);
        let big = Packet::Publish(Publish::at_most_once("t", vec![0u8; 100]));
        let mut dst = BytesMut::new();
        assert!(matches!(
            codec.encode(&big, &mut dst),
            Err(MqttError::PacketTooLarge { len: 105, max: 16 })
        ));
        assert!(dst.is_empty());
    }
}
