//! The codec's one error type.
//!
//! Every variant carries the values that made the input wrong, so a server
//! can log a line such as `peer 10.0.0.5: type 0x0b body 12 bytes, needs at
//! least 44` without re-parsing anything.

use crate::header::{HEADER_LEN, MAX_FRAME_LEN};

/// Why bytes could not be turned into a [`Frame`](crate::Frame), or a frame
/// into bytes.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The header's `message_length`, or the bytes given, are shorter than
    /// the 50-byte header.
    #[error("frame of {len} bytes is shorter than the {HEADER_LEN}-byte header")]
    TooShort {
        /// The declared or actual length.
        len: usize,
    },
    /// The header's `message_length` (or an encoded frame) is longer than the
    /// largest legal GMMP frame.
    #[error("frame of {len} bytes exceeds the largest legal frame ({MAX_FRAME_LEN} bytes)")]
    TooLong {
        /// The declared or computed length.
        len: usize,
    },
    /// A frame given as a whole has a different length from its header.
    #[error("header declares {declared} bytes but the frame has {actual}")]
    LengthMismatch {
        /// `message_length` from the header.
        declared: usize,
        /// Bytes actually given.
        actual: usize,
    },
    /// The version byte is outside 0x20..=0x2F.
    #[error("version byte 0x{version:02x} is not GMMP 2.x (0x20..=0x2f)")]
    BadVersion {
        /// The version byte received.
        version: u8,
    },
    /// The message type byte names no GMMP v2.1 message.
    #[error("unknown message type 0x{message_type:02x}")]
    UnknownMessageType {
        /// The type byte received.
        message_type: u8,
    },
    /// The body is shorter than the fixed part of its type.
    #[error("type 0x{message_type:02x} body {len} bytes, needs at least {min}")]
    BodyTooShort {
        /// The message type byte.
        message_type: u8,
        /// Body length received.
        len: usize,
        /// Smallest body this type allows.
        min: usize,
    },
    /// The body is longer than its type allows (fixed part plus, for the
    /// variable bodies, 2048 bytes of payload).
    #[error("type 0x{message_type:02x} body {len} bytes, allows at most {max}")]
    BodyTooLong {
        /// The message type byte.
        message_type: u8,
        /// Body length received or to be encoded.
        len: usize,
        /// Largest body this type allows.
        max: usize,
    },
    /// A value is longer than the fixed-width field meant to hold it.
    #[error("field {field} is {len} bytes, longer than its {limit}-byte width")]
    FieldTooLong {
        /// The field's name as the wire reference spells it.
        field: &'static str,
        /// Length of the value offered.
        len: usize,
        /// Width of the field.
        limit: usize,
    },
    /// A payload too large even for splitting (more than 65535 parts).
    #[error("payload of {len} bytes needs more than {max_parts} parts")]
    TooManyParts {
        /// Payload length.
        len: usize,
        /// Most parts a header can count.
        max_parts: usize,
    },
    /// The socket failed under the framed codec.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl CodecError {
    /// A short machine-friendly name of the error kind, for metrics labels
    /// and structured logs.
    pub fn kind(&self) -> &'static str {
        match self {
            CodecError::TooShort { .. } => "too_short",
            CodecError::TooLong { .. } => "too_long",
            CodecError::LengthMismatch { .. } => "length_mismatch",
            CodecError::BadVersion { .. } => "bad_version",
            CodecError::UnknownMessageType { .. } => "unknown_message_type",
            CodecError::BodyTooShort { .. } => "body_too_short",
            CodecError::BodyTooLong { .. } => "body_too_long",
            CodecError::FieldTooLong { .. } => "field_too_long",
            CodecError::TooManyParts { .. } => "too_many_parts",
            CodecError::Io(_) => "io",
        }
    }
}
