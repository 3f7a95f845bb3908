//! How one message body is read and written.
//!
//! Every body is a deku-derived struct for its fixed part. The four variable
//! bodies (delivery, control, long sentence, notification) add a payload
//! that runs to the end of the frame; it is not a deku field (`#[deku(skip)]`)
//! but a [`Bytes`] slice of the received frame, so decoding never copies it.

use bytes::Bytes;

use crate::error::CodecError;
use crate::fixed_str::{DeviceId, DomainCode, GwId};
use crate::message::MessageType;

/// A GMMP message body.
pub trait Body: Sized {
    /// The type byte this body travels under.
    const MESSAGE_TYPE: MessageType;
    /// Length of the fixed part.
    const FIXED_LEN: usize;
    /// Whether a payload of 0..=2048 bytes follows the fixed part.
    const HAS_PAYLOAD: bool = false;

    /// Reads the body from exactly the body bytes of a frame.
    fn decode_body(body: &Bytes) -> Result<Self, CodecError>;
    /// Length of the encoded body.
    fn body_len(&self) -> usize;
    /// Writes the body into `dst`, which is exactly `body_len()` long.
    fn encode_body(&self, dst: &mut [u8]) -> Result<(), CodecError>;

    /// The domain code every body starts with.
    fn domain_code(&self) -> &DomainCode;
    /// The GW ID the body refers to (every body but GW registration request).
    fn gw_id(&self) -> Option<&GwId> {
        None
    }
    /// The device ID the body refers to, when it has one.
    fn device_id(&self) -> Option<&DeviceId> {
        None
    }
}

/// Checks a body's length against `[min, max]` for its type.
pub(crate) fn check_body_len(
    message_type: MessageType,
    len: usize,
    min: usize,
    max: usize,
) -> Result<(), CodecError> {
    if len < min {
        return Err(CodecError::BodyTooShort {
            message_type: message_type as u8,
            len,
            min,
        });
    }
    if len > max {
        return Err(CodecError::BodyTooLong {
            message_type: message_type as u8,
            len,
            max,
        });
    }
    Ok(())
}

pub(crate) fn deku_err(message_type: MessageType, len: usize, min: usize) -> CodecError {
    // Lengths are checked before deku runs, so deku can only fail, or leave
    // bytes over, if a fixed-length constant disagreed with its struct (the
    // all-types round-trip test guards that). Report it as a body-length
    // error rather than panicking.
    CodecError::BodyTooShort {
        message_type: message_type as u8,
        len,
        min,
    }
}

/// Implements [`Body`] for a body with only a fixed part.
macro_rules! fixed_body {
    ($ty:ident, $mt:ident, $len:expr, ids($($id:ident),*)) => {
        impl $crate::message::body::Body for $ty {
            const MESSAGE_TYPE: $crate::message::MessageType = $crate::message::MessageType::$mt;
            const FIXED_LEN: usize = $len;

            #[inline(never)]
            fn decode_body(body: &bytes::Bytes) -> Result<Self, $crate::error::CodecError> {
                use deku::DekuContainerRead;
                $crate::message::body::check_body_len(Self::MESSAGE_TYPE, body.len(), $len, $len)?;
                match Self::from_bytes((body, 0)) {
                    // The struct must consume the fixed part exactly.
                    Ok((([], 0), v)) => Ok(v),
                    _ => Err($crate::message::body::deku_err(Self::MESSAGE_TYPE, body.len(), $len)),
                }
            }

            fn body_len(&self) -> usize {
                $len
            }

            fn encode_body(&self, dst: &mut [u8]) -> Result<(), $crate::error::CodecError> {
                use deku::DekuContainerWrite;
                match self.to_slice(dst) {
                    Ok(n) if n == $len => Ok(()),
                    _ => Err($crate::message::body::deku_err(Self::MESSAGE_TYPE, dst.len(), $len)),
                }
            }

            fn domain_code(&self) -> &$crate::fixed_str::DomainCode {
                &self.domain_code
            }

            $crate::message::body::id_accessors!($($id),*);
        }
    };
}

/// Implements [`Body`] for a body with a fixed part and a payload field
/// named `payload`.
macro_rules! payload_body {
    ($ty:ident, $mt:ident, $len:expr, ids($($id:ident),*)) => {
        impl $crate::message::body::Body for $ty {
            const MESSAGE_TYPE: $crate::message::MessageType = $crate::message::MessageType::$mt;
            const FIXED_LEN: usize = $len;
            const HAS_PAYLOAD: bool = true;

            #[inline(never)]
            fn decode_body(body: &bytes::Bytes) -> Result<Self, $crate::error::CodecError> {
                use deku::DekuContainerRead;
                $crate::message::body::check_body_len(
                    Self::MESSAGE_TYPE,
                    body.len(),
                    $len,
                    $len + $crate::header::MAX_PAYLOAD_LEN,
                )?;
                match Self::from_bytes((&body[..$len], 0)) {
                    Ok((([], 0), mut v)) => {
                        v.payload = body.slice($len..);
                        Ok(v)
                    }
                    _ => Err($crate::message::body::deku_err(Self::MESSAGE_TYPE, body.len(), $len)),
                }
            }

            fn body_len(&self) -> usize {
                $len + self.payload.len()
            }

            fn encode_body(&self, dst: &mut [u8]) -> Result<(), $crate::error::CodecError> {
                use deku::DekuContainerWrite;
                $crate::message::body::check_body_len(
                    Self::MESSAGE_TYPE,
                    $len + self.payload.len(),
                    $len,
                    $len + $crate::header::MAX_PAYLOAD_LEN,
                )?;
                let (fixed, payload) = dst.split_at_mut($len);
                match self.to_slice(fixed) {
                    Ok(n) if n == $len => {}
                    _ => return Err($crate::message::body::deku_err(Self::MESSAGE_TYPE, $len, $len)),
                }
                payload.copy_from_slice(&self.payload);
                Ok(())
            }

            fn domain_code(&self) -> &$crate::fixed_str::DomainCode {
                &self.domain_code
            }

            $crate::message::body::id_accessors!($($id),*);
        }
    };
}

macro_rules! id_accessors {
    () => {};
    (gw) => {
        fn gw_id(&self) -> Option<&$crate::fixed_str::GwId> {
            Some(&self.gw_id)
        }
    };
    (gw, device) => {
        fn gw_id(&self) -> Option<&$crate::fixed_str::GwId> {
            Some(&self.gw_id)
        }
        fn device_id(&self) -> Option<&$crate::fixed_str::DeviceId> {
            Some(&self.device_id)
        }
    };
}

pub(crate) use {fixed_body, id_accessors, payload_body};
