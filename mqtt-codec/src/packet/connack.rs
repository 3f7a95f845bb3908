//! CONNACK (type 2): the server's answer to CONNECT.
//!
//! ```text
//! acknowledge flags  bit 0 session present (3.1.1; 0 in 3.1), bits 7-1 zero
//! return code        0..=5
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::PacketType;
use crate::error::MqttError;
use crate::wire::Reader;

const T: PacketType = PacketType::ConnAck;

/// The CONNACK return code (§3.2.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnectReturnCode {
    /// 0: connection accepted.
    Accepted = 0,
    /// 1: the server does not support the protocol level asked for.
    UnacceptableProtocolVersion = 1,
    /// 2: the client identifier is not allowed.
    IdentifierRejected = 2,
    /// 3: the MQTT service is unavailable.
    ServerUnavailable = 3,
    /// 4: bad user name or password.
    BadUserNameOrPassword = 4,
    /// 5: the client is not authorised to connect.
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// The code of a byte, `None` for the reserved 6..=255.
    pub fn from_u8(code: u8) -> Option<Self> {
        use ConnectReturnCode::*;
        Some(match code {
            0 => Accepted,
            1 => UnacceptableProtocolVersion,
            2 => IdentifierRejected,
            3 => ServerUnavailable,
            4 => BadUserNameOrPassword,
            5 => NotAuthorized,
            _ => return None,
        })
    }
}

/// CONNACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck {
    /// The server kept a session for this client (only with
    /// [`ConnectReturnCode::Accepted`]).
    pub session_present: bool,
    /// Accepted, or why not.
    pub code: ConnectReturnCode,
}

impl ConnAck {
    pub(crate) fn decode(body: Bytes) -> Result<Self, MqttError> {
        if body.len() != 2 {
            return Err(MqttError::WrongRemainingLength {
                packet_type: T,
                len: body.len(),
                expected: 2,
            });
        }
        let mut r = Reader::new(T, body);
        let flags = r.u8("acknowledge flags")?;
        let raw = r.u8("return code")?;
        let code = ConnectReturnCode::from_u8(raw)
            .ok_or(MqttError::InvalidConnectReturnCode { code: raw })?;
        if flags & !0x01 != 0 || (flags != 0 && code != ConnectReturnCode::Accepted) {
            return Err(MqttError::InvalidConnAckFlags { flags, code: raw });
        }
        Ok(ConnAck {
            session_present: flags == 1,
            code,
        })
    }

    pub(crate) fn write_body(&self, dst: &mut BytesMut) {
        let present = self.session_present && self.code == ConnectReturnCode::Accepted;
        dst.put_u8(u8::from(present));
        dst.put_u8(self.code as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Packet, assert_wire};

    #[test]
    fn accepted_with_and_without_session() {
        assert_wire(
            &[
                0x20, 0x02, // CONNACK, remaining length 2
                0x00, // no session present
                0x00, // accepted
            ],
            Packet::ConnAck(ConnAck {
                session_present: false,
                code: ConnectReturnCode::Accepted,
            }),
        );
        assert_wire(
            &[
                0x20, 0x02, // CONNACK, remaining length 2
                0x01, // session present
                0x00, // accepted
            ],
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: ConnectReturnCode::Accepted,
            }),
        );
    }

    #[test]
    fn every_refusal() {
        for code in 1..=5u8 {
            assert_wire(
                &[
                    0x20, 0x02, // CONNACK, remaining length 2
                    0x00, // no session
                    code, // refusal
                ],
                Packet::ConnAck(ConnAck {
                    session_present: false,
                    code: ConnectReturnCode::from_u8(code).unwrap(),
                }),
            );
        }
    }

    #[test]
    fn reserved_codes_and_flags() {
        let decode = |b: &'static [u8]| ConnAck::decode(Bytes::from_static(b));
        assert!(matches!(
            decode(&[0, 6]),
            Err(MqttError::InvalidConnectReturnCode { code: 6 })
        ));
        assert!(matches!(
            decode(&[2, 0]),
            Err(MqttError::InvalidConnAckFlags { .. })
        ));
        assert!(matches!(
            decode(&[1, 4]),
            Err(MqttError::InvalidConnAckFlags { .. })
        ));
        assert!(matches!(
            decode(&[0, 0, 0]),
            Err(MqttError::WrongRemainingLength { len: 3, .. })
        ));
    }
}
