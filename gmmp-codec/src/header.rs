//! The 50-byte header every GMMP frame starts with (docs/gmmp.md §2).
//!
//! ```text
//! off size field
//!   0   1  version            21
//!   1   2  message_length     00 7c          header + body
//!   3   1  message_type       0b             delivery request
//!   4   4  origin_timestamp   5e 96 bf 00    Unix seconds
//!   8   2  total_count        00 01
//!  10   2  current_count      00 01
//!  12  16  auth_id            "0008dc1e3222" + 0x00 padding
//!  28  16  auth_key           "SP10033827key" + 0x00 padding
//!  44   4  tid                00 00 00 81
//!  48   1  encryption_flag    02             0x01 = encrypted; 0x00/0x02 not
//!  49   1  reserved           00
//! ```

use deku::prelude::*;

use crate::fixed_str::{AuthId, AuthKey};

/// Header length in bytes.
pub const HEADER_LEN: usize = 50;
/// Largest payload of a variable body (delivery, control, long sentence,
/// notification).
pub const MAX_PAYLOAD_LEN: usize = 2048;
/// Largest legal frame: header + the largest variable body's fixed part
/// (44 bytes) + 2048 bytes of payload.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + 44 + MAX_PAYLOAD_LEN;
/// The version byte this crate sends.
pub const VERSION: u8 = 0x21;
/// The version bytes accepted on input.
pub const ACCEPTED_VERSIONS: std::ops::RangeInclusive<u8> = 0x20..=0x2F;
/// `encryption_flag` value meaning the body payload is encrypted.
pub const ENCRYPTED: u8 = 0x01;
/// This project's extension, not GMMP v2.1: a delivery request (0x0B)
/// whose `reserved` byte holds this value is *keyed*. The sender promises
/// that (device, T-ID, origin_timestamp) name this one delivery, and that
/// every resend of it carries the same three values and payload, so a
/// receiver that already stored it acknowledges the resend without storing
/// it twice. Real clients send 0x00 here and are never de-duplicated
/// (their T-IDs repeat, docs/gmmp.md §7).
pub const KEYED_DELIVERY: u8 = 0x01;

/// The frame header. `message_length` and `message_type` are filled in from
/// the message when a [`Frame`](crate::Frame) is encoded, and `version` is
/// always sent as 0x21; after decoding they hold what was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct Header {
    /// Protocol version, 0x21 (0x20..=0x2F accepted).
    pub version: u8,
    /// Header + body length in bytes.
    pub message_length: u16,
    /// Message type byte, see [`MessageType`](crate::MessageType).
    pub message_type: u8,
    /// Unix seconds, set by the sender.
    pub origin_timestamp: u32,
    /// Number of parts of a split message (1 when not split).
    pub total_count: u16,
    /// This part's number, 1..=total_count.
    pub current_count: u16,
    /// The GW's auth ID.
    pub auth_id: AuthId,
    /// The auth key assigned at registration (all zero before).
    pub auth_key: AuthKey,
    /// Transaction ID; a response echoes its request's.
    pub tid: u32,
    /// 0x01 = payload encrypted; 0x00 or 0x02 = not. Kept as received.
    pub encryption_flag: u8,
    /// Reserved, 0x00 in GMMP v2.1; [`KEYED_DELIVERY`] in this project's
    /// keyed deliveries. Kept as received.
    pub reserved: u8,
}

impl Header {
    /// A header for a single-part, unencrypted message with T-ID `tid`.
    pub fn new(auth_id: AuthId, auth_key: AuthKey, tid: u32) -> Self {
        Header {
            version: VERSION,
            message_length: 0,
            message_type: 0,
            origin_timestamp: 0,
            total_count: 1,
            current_count: 1,
            auth_id,
            auth_key,
            tid,
            encryption_flag: 0,
            reserved: 0,
        }
    }

    /// Sets `origin_timestamp`.
    pub fn with_timestamp(mut self, unix_seconds: u32) -> Self {
        self.origin_timestamp = unix_seconds;
        self
    }

    /// Sets `encryption_flag` (SKT's library and the WizFi310 send 0x02).
    pub fn with_encryption_flag(mut self, flag: u8) -> Self {
        self.encryption_flag = flag;
        self
    }

    /// Sets the part counts of a split message.
    pub fn with_parts(mut self, current: u16, total: u16) -> Self {
        self.current_count = current;
        self.total_count = total;
        self
    }

    /// The header a response to this one carries: same auth ID, key, T-ID
    /// and part counts; not encrypted.
    pub fn response(&self) -> Self {
        Header {
            encryption_flag: 0,
            ..Header::new(self.auth_id, self.auth_key, self.tid)
                .with_parts(self.current_count, self.total_count)
                .with_timestamp(self.origin_timestamp)
        }
    }

    /// True when the payload is flagged as encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.encryption_flag == ENCRYPTED
    }

    /// Marks a delivery request as keyed ([`KEYED_DELIVERY`]).
    pub fn keyed(mut self) -> Self {
        self.reserved = KEYED_DELIVERY;
        self
    }

    /// True when the sender marked this (delivery) frame as keyed.
    pub fn is_keyed(&self) -> bool {
        self.reserved == KEYED_DELIVERY
    }

    /// True when this frame is one part of a split message.
    pub fn is_split(&self) -> bool {
        self.total_count > 1
    }
}
