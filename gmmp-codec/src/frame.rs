//! A whole frame: [`Header`] + [`Message`], to and from bytes.

use bytes::{Bytes, BytesMut};
use deku::prelude::*;

use crate::error::CodecError;
use crate::header::{ACCEPTED_VERSIONS, HEADER_LEN, Header, MAX_FRAME_LEN, VERSION};
use crate::message::{Message, MessageType};

/// One GMMP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header as received, or as to be sent (its `message_length`,
    /// `message_type` and `version` are set from the message on encode).
    pub header: Header,
    /// The body.
    pub message: Message,
}

/// What the first bytes of a frame say about it, checked before anything
/// else is read: enough to know how many bytes to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefix {
    pub(crate) message_length: usize,
}

/// Reads version and `message_length` from the first 3 bytes and checks
/// them; `Ok(None)` when fewer than 3 bytes are there yet.
pub(crate) fn check_prefix(buf: &[u8]) -> Result<Option<Prefix>, CodecError> {
    if buf.len() < 3 {
        return Ok(None);
    }
    let version = buf[0];
    if !ACCEPTED_VERSIONS.contains(&version) {
        return Err(CodecError::BadVersion { version });
    }
    let message_length = u16::from_be_bytes([buf[1], buf[2]]) as usize;
    if message_length < HEADER_LEN {
        return Err(CodecError::TooShort {
            len: message_length,
        });
    }
    if message_length > MAX_FRAME_LEN {
        return Err(CodecError::TooLong {
            len: message_length,
        });
    }
    Ok(Some(Prefix { message_length }))
}

impl Frame {
    /// A frame of `message` under `header`.
    pub fn new(header: Header, message: impl Into<Message>) -> Self {
        Frame {
            header,
            message: message.into(),
        }
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        self.message.message_type()
    }

    /// Decodes exactly one whole frame. The payload of a variable body is a
    /// slice of `frame`, not a copy.
    pub fn decode(frame: Bytes) -> Result<Frame, CodecError> {
        let prefix = check_prefix(&frame)?.ok_or(CodecError::TooShort { len: frame.len() })?;
        if prefix.message_length != frame.len() {
            return Err(CodecError::LengthMismatch {
                declared: prefix.message_length,
                actual: frame.len(),
            });
        }
        let header = match Header::from_bytes((&frame[..HEADER_LEN], 0)) {
            Ok((_, header)) => header,
            // 50 bytes are there, and deku cannot fail on 50 bytes of a
            // 50-byte all-integer struct; keep a typed error all the same.
            Err(_) => return Err(CodecError::TooShort { len: frame.len() }),
        };
        let message_type =
            MessageType::from_u8(header.message_type).ok_or(CodecError::UnknownMessageType {
                message_type: header.message_type,
            })?;
        let body = frame.slice(HEADER_LEN..);
        let message = Message::decode(message_type, &body)?;
        Ok(Frame { header, message })
    }

    /// Decodes one whole frame from a slice (copies it once).
    pub fn decode_slice(frame: &[u8]) -> Result<Frame, CodecError> {
        Frame::decode(Bytes::copy_from_slice(frame))
    }

    /// Length of the encoded frame.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.message.body_len()
    }

    /// Appends the encoded frame to `dst`. Version 0x21, the message's type
    /// and the real length are written whatever the header holds. On error
    /// `dst` is left as it was.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), CodecError> {
        let len = self.encoded_len();
        if len > MAX_FRAME_LEN {
            // Report the body against its own limit: that names the cause.
            let message_type = self.message.message_type();
            return Err(CodecError::BodyTooLong {
                message_type: message_type as u8,
                len: len - HEADER_LEN,
                max: message_type.max_body_len(),
            });
        }
        let header = Header {
            version: VERSION,
            message_length: len as u16,
            message_type: self.message.message_type() as u8,
            ..self.header
        };
        let start = dst.len();
        dst.resize(start + len, 0);
        let out = &mut dst[start..];
        let written = header.to_slice(&mut out[..HEADER_LEN]);
        let result = match written {
            Ok(HEADER_LEN) => self.message.encode_body(&mut out[HEADER_LEN..]),
            _ => Err(CodecError::TooShort { len: HEADER_LEN }),
        };
        if result.is_err() {
            dst.truncate(start);
        }
        result
    }

    /// The encoded frame as its own buffer.
    pub fn to_bytes(&self) -> Result<Bytes, CodecError> {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf)?;
        Ok(buf.freeze())
    }
}
