//! A segment's records: the frame (length, CRC-32, kind, sequence
//! number) and the delivery body inside it.
//!
//! ```text
//! off size field
//!   0   4  len        u32 BE: bytes from `kind` to the end of `body`
//!   4   4  crc        u32 BE: CRC-32 (IEEE) of those `len` bytes
//!   8   1  kind       0x01 delivery, 0x02 done (acknowledged or dropped)
//!   9   8  seq        u64 BE: the delivery's sequence number
//!  17   …  body       kind 0x01: the encoded [`SpooledDelivery`]; 0x02: empty
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes before `kind`: `len` and `crc`.
pub(super) const FRAME_PREFIX: usize = 8;
/// `kind` + `seq`.
pub(super) const RECORD_FIXED: usize = 9;
/// Largest record accepted when reading: anything longer is a torn or
/// corrupted length field.
pub(super) const MAX_RECORD: usize = 16 * 1024 * 1024;
pub(super) const KIND_DELIVERY: u8 = 0x01;
/// A delivery body's format version now written, and the one before it.
pub(super) const FORMAT: u8 = 0x02;
pub(super) const FORMAT_01: u8 = 0x01;
/// A body's bytes besides the device name and payload: version,
/// `spooled_at`, report type, media type, name length.
pub(super) const BODY_FIXED: usize = 8;
pub(super) const KIND_DONE: u8 = 0x02;

/// One delivery as the spool keeps it: where it goes and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledDelivery {
    /// Name of a configured device, or `None` for the GW itself.
    pub device: Option<String>,
    /// GMMP report type byte.
    pub report_type: u8,
    /// GMMP media type byte.
    pub media_type: u8,
    /// The data (any length; the engine splits it over 2048 bytes).
    pub payload: Bytes,
    /// Unix seconds when the spool took it: [`Spool::append`] stamps the
    /// clock when this is 0. It is the delivery's `origin_timestamp` on the
    /// wire, in every (re)send. 0 in records written by format 01.
    pub spooled_at: u32,
}

impl SpooledDelivery {
    /// Encoded form, the body of a delivery record:
    ///
    /// ```text
    /// 02            format version
    /// 69 fd 0b 80   spooled_at, u32 BE (not in format 01)
    /// 01            report_type
    /// 01            media_type
    /// 07 "sensor1"  device name length (0 = the GW) and name
    /// …             payload
    /// ```
    ///
    /// Format 01 records (no `spooled_at`) are still read, with
    /// `spooled_at` 0: they are sent unkeyed. `spooled_at` is written in
    /// place of the field's value (the spool stamps it).
    pub(super) fn encode(&self, spooled_at: u32) -> Bytes {
        let name = self.device.as_deref().unwrap_or("").as_bytes();
        let name = &name[..name.len().min(255)];
        let mut buf = BytesMut::with_capacity(BODY_FIXED + name.len() + self.payload.len());
        buf.put_u8(FORMAT);
        buf.put_u32(spooled_at);
        buf.put_u8(self.report_type);
        buf.put_u8(self.media_type);
        buf.put_u8(name.len() as u8);
        buf.put_slice(name);
        buf.put_slice(&self.payload);
        buf.freeze()
    }

    pub(super) fn decode(body: Bytes) -> Option<Self> {
        let (spooled_at, rest) = match *body.first()? {
            FORMAT_01 => (0, body.slice(1..)),
            FORMAT if body.len() >= 5 => (
                u32::from_be_bytes([body[1], body[2], body[3], body[4]]),
                body.slice(5..),
            ),
            _ => return None,
        };
        if rest.len() < 3 {
            return None;
        }
        let name_len = rest[2] as usize;
        if rest.len() < 3 + name_len {
            return None;
        }
        let device = match name_len {
            0 => None,
            _ => Some(std::str::from_utf8(&rest[3..3 + name_len]).ok()?.to_owned()),
        };
        Some(SpooledDelivery {
            device,
            report_type: rest[0],
            media_type: rest[1],
            payload: rest.slice(3 + name_len..),
            spooled_at,
        })
    }

    /// Bytes this delivery takes in the spool's bound (its whole record).
    pub fn spooled_size(&self) -> u64 {
        let name = self.device.as_deref().map_or(0, |d| d.len().min(255));
        (FRAME_PREFIX + RECORD_FIXED + BODY_FIXED + name) as u64 + self.payload.len() as u64
    }
}

/// The whole record for `kind`, `seq` and `body`, CRC filled in.
pub(super) fn frame(kind: u8, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(FRAME_PREFIX + RECORD_FIXED + body.len());
    let len = (RECORD_FIXED + body.len()) as u32;
    rec.extend_from_slice(&len.to_be_bytes());
    rec.extend_from_slice(&[0; 4]);
    rec.push(kind);
    rec.extend_from_slice(&seq.to_be_bytes());
    rec.extend_from_slice(body);
    let crc = crc32(&rec[FRAME_PREFIX..]);
    rec[4..8].copy_from_slice(&crc.to_be_bytes());
    rec
}

/// Parses the record at the start of `data`: (kind, seq, body length,
/// total bytes), or `None` when it is torn, too long or fails its CRC.
pub(super) fn parse_record(data: &[u8]) -> Option<(u8, u64, usize, usize)> {
    if data.len() < FRAME_PREFIX + RECORD_FIXED {
        return None;
    }
    let len = u32::from_be_bytes(data[0..4].try_into().ok()?) as usize;
    if !(RECORD_FIXED..=MAX_RECORD).contains(&len) || data.len() < FRAME_PREFIX + len {
        return None;
    }
    let crc = u32::from_be_bytes(data[4..8].try_into().ok()?);
    let rec = &data[FRAME_PREFIX..FRAME_PREFIX + len];
    if crc32(rec) != crc {
        return None;
    }
    let kind = rec[0];
    if kind != KIND_DELIVERY && kind != KIND_DONE {
        return None;
    }
    let seq = u64::from_be_bytes(rec[1..9].try_into().ok()?);
    Some((kind, seq, len - RECORD_FIXED, FRAME_PREFIX + len))
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320: the zlib one),
/// the checksum every segment written so far carries.
pub(super) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}
