//! PINGREQ (type 12), PINGRESP (type 13) and DISCONNECT (type 14): a fixed
//! header and nothing else.
//!
//! ```text
//! PINGREQ     0xC0 0x00
//! PINGRESP    0xD0 0x00
//! DISCONNECT  0xE0 0x00
//! ```

use bytes::Bytes;

use super::{Packet, PacketType};
use crate::error::MqttError;

/// `packet` when `body` is empty.
pub(crate) fn decode_empty(
    packet_type: PacketType,
    body: Bytes,
    packet: Packet,
) -> Result<Packet, MqttError> {
    if !body.is_empty() {
        return Err(MqttError::WrongRemainingLength {
            packet_type,
            len: body.len(),
            expected: 0,
        });
    }
    Ok(packet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::assert_wire;

    #[test]
    fn empty_packets() {
        assert_wire(&[0xc0, 0x00], Packet::PingReq); // PINGREQ, remaining length 0
        assert_wire(&[0xd0, 0x00], Packet::PingResp); // PINGRESP, remaining length 0
        assert_wire(&[0xe0, 0x00], Packet::Disconnect); // DISCONNECT, remaining length 0
    }

    #[test]
    fn a_body_is_refused() {
        assert!(matches!(
            Packet::from_bytes(Bytes::from_static(&[0xe0, 0x01, 0x00])),
            Err(MqttError::WrongRemainingLength {
                len: 1,
                expected: 0,
                ..
            })
        ));
    }
}
