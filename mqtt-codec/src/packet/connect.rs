//! CONNECT (type 1): the first packet of every connection.
//!
//! ```text
//! protocol name   u16 len + "MQTT" (3.1.1) | "MQIsdp" (3.1)
//! protocol level  4 (3.1.1) | 3 (3.1)
//! connect flags   7 user name | 6 password | 5 will retain | 4-3 will QoS
//!                 | 2 will | 1 clean session | 0 reserved (0)
//! keep alive      u16 seconds
//! payload         client id, [will topic, will message], [user name], [password]
//! ```
//!
//! A protocol this codec does not speak is
//! [`MqttError::UnacceptableProtocol`], whose
//! [`connack_code`](MqttError::connack_code) is CONNACK 1. The client id
//! may be empty and may hold any UTF-8 (SIM7600 modules send
//! `"client test0"`); whether to accept it is the server's decision.

use bytes::{BufMut, Bytes, BytesMut};

use super::{PacketType, QoS};
use crate::error::MqttError;
use crate::topic::check_topic_name;
use crate::wire::{Reader, field_len, put_prefixed};

const T: PacketType = PacketType::Connect;

/// The protocol version a CONNECT asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// MQTT 3.1: name `MQIsdp`, level 3.
    V31,
    /// MQTT 3.1.1: name `MQTT`, level 4.
    #[default]
    V311,
}

impl Protocol {
    /// The protocol name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V31 => "MQIsdp",
            Protocol::V311 => "MQTT",
        }
    }

    /// The protocol level byte.
    pub fn level(self) -> u8 {
        match self {
            Protocol::V31 => 3,
            Protocol::V311 => 4,
        }
    }
}

/// The message the server publishes when the connection is lost without
/// DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Topic to publish to.
    pub topic: String,
    /// Payload, byte-exact.
    pub message: Bytes,
    /// QoS to publish with.
    pub qos: QoS,
    /// Whether to retain it.
    pub retain: bool,
}

/// CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol name and level.
    pub protocol: Protocol,
    /// Discard any previous session.
    pub clean_session: bool,
    /// Keep-alive in seconds (0: none).
    pub keep_alive: u16,
    /// Client identifier (may be empty).
    pub client_id: String,
    /// The will, when the will flag is set.
    pub will: Option<LastWill>,
    /// User name, when its flag is set.
    pub username: Option<String>,
    /// Password (binary data in 3.1.1), when its flag is set.
    pub password: Option<Bytes>,
}

impl Connect {
    pub(crate) fn decode(body: Bytes) -> Result<Self, MqttError> {
        let mut r = Reader::new(T, body);
        let name = r.binary("protocol name")?;
        let level = r.u8("protocol level")?;
        let protocol = match (&name[..], level) {
            (b"MQTT", 4) => Protocol::V311,
            (b"MQIsdp", 3) => Protocol::V31,
            _ => {
                return Err(MqttError::UnacceptableProtocol {
                    name: String::from_utf8_lossy(&name).into_owned(),
                    level,
                });
            }
        };
        let flags = r.u8("connect flags")?;
        let bad = |reason| Err(MqttError::InvalidConnectFlags { flags, reason });
        if flags & 0x01 != 0 {
            return bad("reserved bit 0 is set");
        }
        let has_will = flags & 0x04 != 0;
        let will_qos = QoS::from_bits((flags >> 3) & 0b11).ok_or(MqttError::InvalidQos {
            packet_type: T,
            field: "will QoS",
        })?;
        let will_retain = flags & 0x20 != 0;
        if !has_will && (will_qos != QoS::AtMostOnce || will_retain) {
            return bad("will QoS or will retain without a will");
        }
        let has_password = flags & 0x40 != 0;
        let has_username = flags & 0x80 != 0;
        if has_password && !has_username {
            return bad("password without a user name");
        }
        let keep_alive = r.u16("keep alive")?;
        let client_id = r.string("client id")?;
        let will = if has_will {
            let topic = r.string("will topic")?;
            check_topic_name(&topic)?;
            let message = r.binary("will message")?;
            Some(LastWill {
                topic,
                message,
                qos: will_qos,
                retain: will_retain,
            })
        } else {
            None
        };
        let username = has_username.then(|| r.string("user name")).transpose()?;
        let password = has_password.then(|| r.binary("password")).transpose()?;
        r.finish()?;
        Ok(Connect {
            protocol,
            clean_session: flags & 0x02 != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
        })
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_session {
            flags |= 0x02;
        }
        if let Some(w) = &self.will {
            flags |= 0x04 | (w.qos as u8) << 3;
            if w.retain {
                flags |= 0x20;
            }
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        flags
    }

    pub(crate) fn body_len(&self) -> Result<usize, MqttError> {
        if self.password.is_some() && self.username.is_none() {
            return Err(MqttError::InvalidConnectFlags {
                flags: self.flags(),
                reason: "password without a user name",
            });
        }
        let mut len = field_len(T, "protocol name", self.protocol.name().len())? + 1 + 1 + 2;
        len += field_len(T, "client id", self.client_id.len())?;
        if let Some(w) = &self.will {
            check_topic_name(&w.topic)?;
            len += field_len(T, "will topic", w.topic.len())?;
            len += field_len(T, "will message", w.message.len())?;
        }
        if let Some(u) = &self.username {
            len += field_len(T, "user name", u.len())?;
        }
        if let Some(p) = &self.password {
            len += field_len(T, "password", p.len())?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, dst: &mut BytesMut) {
        put_prefixed(dst, self.protocol.name().as_bytes());
        dst.put_u8(self.protocol.level());
        dst.put_u8(self.flags());
        dst.put_u16(self.keep_alive);
        put_prefixed(dst, self.client_id.as_bytes());
        if let Some(w) = &self.will {
            put_prefixed(dst, w.topic.as_bytes());
            put_prefixed(dst, &w.message);
        }
        if let Some(u) = &self.username {
            put_prefixed(dst, u.as_bytes());
        }
        if let Some(p) = &self.password {
            put_prefixed(dst, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Packet, assert_wire};

    #[test]
    fn m5310a_onenet_connect() {
        let bytes = [
            0x10, 0x24, // CONNECT, remaining length 36
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // level 4 (3.1.1)
            0xc2, // user name, password, clean session
            0x00, 0x14, // keep alive 20 s
            0x00, 0x08, b'3', b'9', b'5', b'9', b'9', b'4', b'2',
            b'8', // client id = device id
            0x00, 0x06, b'1', b'6', b'5', b'9', b'2', b'0', // user name = product id
            0x00, 0x06, b'A', b'P', b'I', b'K', b'E', b'Y', // password
        ];
        assert_wire(
            &bytes,
            Packet::Connect(Connect {
                protocol: Protocol::V311,
                clean_session: true,
                keep_alive: 20,
                client_id: "39599428".into(),
                will: None,
                username: Some("165920".into()),
                password: Some(Bytes::from_static(b"APIKEY")),
            }),
        );
    }

    #[test]
    fn sim7600_connect_with_will_as_3_1_and_3_1_1() {
        let v311: Vec<u8> = [
            &[0x10, 0x2c][..], // CONNECT, remaining length 44
            &[0x00, 0x04],
            b"MQTT",       // protocol name
            &[0x04],       // level 4
            &[0x0e],       // will QoS 1 (0x08), will (0x04), clean session (0x02)
            &[0x00, 0x3c], // keep alive 60 s
            &[0x00, 0x0c],
            b"client test0", // client id with a space
            &[0x00, 0x0a],
            b"0123456789", // will topic
            &[0x00, 0x06],
            b"qwerty", // will message
        ]
        .concat();
        let mut connect = Connect {
            protocol: Protocol::V311,
            clean_session: true,
            keep_alive: 60,
            client_id: "client test0".into(),
            will: Some(LastWill {
                topic: "0123456789".into(),
                message: Bytes::from_static(b"qwerty"),
                qos: QoS::AtLeastOnce,
                retain: false,
            }),
            username: None,
            password: None,
        };
        assert_wire(&v311, Packet::Connect(connect.clone()));

        let v31: Vec<u8> = [
            &[0x10, 0x2e][..], // CONNECT, remaining length 46
            &[0x00, 0x06],
            b"MQIsdp",  // protocol name of 3.1
            &[0x03],    // level 3
            &v311[9..], // flags onwards unchanged
        ]
        .concat();
        connect.protocol = Protocol::V31;
        assert_wire(&v31, Packet::Connect(connect));
    }

    #[test]
    fn unacceptable_protocol_asks_for_connack_1() {
        for (name, level) in [
            (&b"MQTT"[..], 5u8),
            (b"MQTT", 3),
            (b"MQIsdp", 4),
            (b"HTTP", 4),
        ] {
            let mut body = vec![0, name.len() as u8];
            body.extend_from_slice(name);
            body.extend_from_slice(&[level, 0x02, 0, 60, 0, 1, b'c']);
            let err = Connect::decode(Bytes::from(body)).unwrap_err();
            assert!(matches!(err, MqttError::UnacceptableProtocol { level: l, .. } if l == level));
            assert_eq!(
                err.connack_code(),
                Some(crate::ConnectReturnCode::UnacceptableProtocolVersion)
            );
        }
    }

    #[test]
    fn flag_rules() {
        let with_flags = |flags: u8| {
            let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, 60, 0, 1, b'c'];
            body.extend_from_slice(&[0, 1, b't', 0, 1, b'm', 0, 1, b'u', 0, 1, b'p']);
            Connect::decode(Bytes::from(body))
        };
        for (flags, reason) in [
            (0x03, "reserved bit 0 is set"),
            (0x0a, "will QoS or will retain without a will"),
            (0x22, "will QoS or will retain without a will"),
            (0x42, "password without a user name"),
        ] {
            match with_flags(flags) {
                Err(MqttError::InvalidConnectFlags { reason: r, .. }) => assert_eq!(r, reason),
                other => panic!("0x{flags:02x}: {other:?}"),
            }
        }
        assert!(matches!(
            with_flags(0x1c),
            Err(MqttError::InvalidQos {
                field: "will QoS",
                ..
            })
        ));
        // Will + user name + password, all consumed.
        let c = with_flags(0xc6).unwrap();
        assert_eq!(c.username.as_deref(), Some("u"));
        // Only a will: user name and password bytes are left over.
        assert!(matches!(
            with_flags(0x06),
            Err(MqttError::TrailingBytes { extra: 6, .. })
        ));
    }
}
