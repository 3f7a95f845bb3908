//! The primitive fields of MQTT 3.1.1 §1.5 and §2.2.3: the variable-length
//! remaining length, big-endian `u16`, length-prefixed UTF-8 strings and
//! binary data.
//!
//! [`Reader`] walks a packet body (a [`Bytes`], so payloads and binary
//! fields are slices of the read buffer, not copies) and names the field it
//! was reading when the body ends early.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::MqttError;
use crate::packet::PacketType;

/// The largest remaining length four bytes can encode (§2.2.3).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Reads the remaining length that starts at `src[0]`: `Ok(None)` while
/// its bytes have not all arrived, else the value and how many bytes it
/// took. A continuation bit on the fourth byte is an error at once.
pub(crate) fn read_remaining_length(src: &[u8]) -> Result<Option<(usize, usize)>, MqttError> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&byte) = src.get(i) else {
            return Ok(None);
        };
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Err(MqttError::RemainingLengthTooLong)
}

/// How many bytes the (minimal) encoding of `len` takes.
pub(crate) fn remaining_length_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `len` (at most [`MAX_REMAINING_LENGTH`], checked by the caller)
/// in the minimal encoding.
pub(crate) fn put_remaining_length(mut len: usize, dst: &mut BytesMut) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        dst.put_u8(byte);
        if len == 0 {
            return;
        }
    }
}

/// Checks that a string or binary field fits its 16-bit length prefix and
/// returns its size on the wire (prefix included).
pub(crate) fn field_len(
    packet_type: PacketType,
    field: &'static str,
    len: usize,
) -> Result<usize, MqttError> {
    if len > usize::from(u16::MAX) {
        return Err(MqttError::FieldTooLong {
            packet_type,
            field,
            len,
        });
    }
    Ok(2 + len)
}

/// Writes a length-prefixed field whose length [`field_len`] checked.
pub(crate) fn put_prefixed(dst: &mut BytesMut, bytes: &[u8]) {
    dst.put_u16(bytes.len() as u16);
    dst.put_slice(bytes);
}

/// A cursor over one packet body.
#[derive(Debug)]
pub(crate) struct Reader {
    packet_type: PacketType,
    body: Bytes,
}

impl Reader {
    /// A reader of `body`, reporting errors as `packet_type`'s.
    pub(crate) fn new(packet_type: PacketType, body: Bytes) -> Self {
        Reader { packet_type, body }
    }

    fn truncated(&self, field: &'static str) -> MqttError {
        MqttError::Truncated {
            packet_type: self.packet_type,
            field,
        }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.body.len()
    }

    /// One byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, MqttError> {
        let Some(&b) = self.body.first() else {
            return Err(self.truncated(field));
        };
        self.body = self.body.slice(1..);
        Ok(b)
    }

    /// A big-endian `u16`.
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, MqttError> {
        if self.body.len() < 2 {
            return Err(self.truncated(field));
        }
        let v = u16::from_be_bytes([self.body[0], self.body[1]]);
        self.body = self.body.slice(2..);
        Ok(v)
    }

    /// A packet identifier, which must not be 0 (§2.3.1).
    pub(crate) fn packet_id(&mut self) -> Result<u16, MqttError> {
        let id = self.u16("packet identifier")?;
        if id == 0 {
            return Err(MqttError::ZeroPacketId {
                packet_type: self.packet_type,
            });
        }
        Ok(id)
    }

    /// Length-prefixed binary data.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, MqttError> {
        let len = usize::from(self.u16(field)?);
        if self.body.len() < len {
            return Err(self.truncated(field));
        }
        Ok(self.body.split_to(len))
    }

    /// A length-prefixed UTF-8 string without U+0000 (§1.5.3).
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, MqttError> {
        let bytes = self.binary(field)?;
        let s = std::str::from_utf8(&bytes).map_err(|_| MqttError::InvalidUtf8 {
            packet_type: self.packet_type,
            field,
        })?;
        if s.contains('\0') {
            return Err(MqttError::NullCharacter {
                packet_type: self.packet_type,
                field,
            });
        }
        Ok(s.to_owned())
    }

    /// Everything left (a PUBLISH payload).
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.body)
    }

    /// Checks that nothing is left after the last field.
    pub(crate) fn finish(self) -> Result<(), MqttError> {
        if self.body.is_empty() {
            Ok(())
        } else {
            Err(MqttError::TrailingBytes {
                packet_type: self.packet_type,
                extra: self.body.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_boundaries() {
        let cases: [(usize, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (MAX_REMAINING_LENGTH, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for (value, bytes) in cases {
            let mut buf = BytesMut::new();
            put_remaining_length(value, &mut buf);
            assert_eq!(&buf[..], bytes, "{value}");
            assert_eq!(remaining_length_len(value), bytes.len());
            assert_eq!(
                read_remaining_length(bytes).unwrap(),
                Some((value, bytes.len()))
            );
            // Every proper prefix is "not yet".
            for cut in 0..bytes.len() {
                assert_eq!(read_remaining_length(&bytes[..cut]).unwrap(), None);
            }
        }
    }

    #[test]
    fn fifth_length_byte_is_refused_before_it_arrives() {
        assert!(matches!(
            read_remaining_length(&[0xff, 0xff, 0xff, 0xff]),
            Err(MqttError::RemainingLengthTooLong)
        ));
    }

    #[test]
    fn non_minimal_length_is_read() {
        // 3.1.1 does not require the minimal form; 0x80 0x00 is zero.
        assert_eq!(read_remaining_length(&[0x80, 0x00]).unwrap(), Some((0, 2)));
    }

    #[test]
    fn strings_are_checked() {
        let mut r = Reader::new(PacketType::Connect, Bytes::from_static(&[0, 2, 0xc3, 0x28]));
        assert!(matches!(
            r.string("client id"),
            Err(MqttError::InvalidUtf8 { .. })
        ));
        let mut r = Reader::new(PacketType::Connect, Bytes::from_static(&[0, 1, 0]));
        assert!(matches!(
            r.string("client id"),
            Err(MqttError::NullCharacter { .. })
        ));
        let mut r = Reader::new(PacketType::Connect, Bytes::from_static(&[0, 3, b'a']));
        assert!(matches!(
            r.string("client id"),
            Err(MqttError::Truncated {
                field: "client id",
                ..
            })
        ));
    }
}
