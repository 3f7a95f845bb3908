//! [`DeliveryTemplate`]: a delivery request encoded once, sent many times
//! with only the T-IDs patched in; a payload over 2048 bytes is encoded as
//! the parts of a split delivery (`gmmp_codec::split`), numbered by
//! [`PartTids`].

use bytes::BytesMut;
use gmmp_codec::{CodecError, Frame};

/// Byte offset of the T-ID in the header.
const TID_OFFSET: usize = 44;
/// Offset of `origin_timestamp` in the header.
const TIMESTAMP_OFFSET: usize = 4;
/// Offset of the reserved byte in the header.
const RESERVED_OFFSET: usize = 49;

/// How the parts of a split delivery (payload over 2048 bytes) number
/// their T-IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PartTids {
    /// Every part carries the delivery's T-ID.
    #[default]
    Same,
    /// Each part carries the previous part's T-ID plus one: SK Telecom's
    /// library, whose `GO_Delivery` (called once per part, as WIZnet's
    /// `GW_Delivery` does) takes the next T-ID on every call.
    PerPart,
}

impl PartTids {
    /// The form's name in reports (`same`, `per-part`).
    pub fn name(self) -> &'static str {
        match self {
            PartTids::Same => "same",
            PartTids::PerPart => "per-part",
        }
    }

    /// How many T-IDs a delivery of `parts` parts uses.
    pub fn tids_used(self, parts: usize) -> usize {
        match self {
            PartTids::Same => 1,
            PartTids::PerPart => parts,
        }
    }

    /// The T-ID of part `index` (from 0) of a delivery whose first part
    /// carries `first`.
    pub fn tid_of(self, first: u32, index: usize) -> u32 {
        match self {
            PartTids::Same => first,
            // index < parts ≤ u16::MAX, so it fits.
            PartTids::PerPart => first.wrapping_add(index as u32),
        }
    }
}

/// A delivery request encoded once: one frame, or the frames of its parts
/// back to back; the T-IDs (and, when keyed, the timestamp and flag) are
/// patched in place before each send.
#[derive(Debug, Clone)]
pub struct DeliveryTemplate {
    bytes: BytesMut,
    /// Where each part's frame starts in `bytes`.
    starts: Vec<usize>,
}

impl DeliveryTemplate {
    /// Encodes `frame`, split into parts of at most 2048 payload bytes.
    pub fn new(frame: &Frame) -> Result<DeliveryTemplate, CodecError> {
        let mut bytes = BytesMut::new();
        let mut starts = Vec::new();
        for part in gmmp_codec::split(frame)? {
            starts.push(bytes.len());
            part.encode(&mut bytes)?;
        }
        Ok(DeliveryTemplate { bytes, starts })
    }

    /// Parts the delivery is sent in (1 when it fits one frame).
    pub fn parts(&self) -> usize {
        self.starts.len()
    }

    /// Marks every part keyed (`gmmp_codec::KEYED_DELIVERY`) with
    /// `origin_timestamp`: with a T-ID that names the delivery, every send
    /// of it is the same keyed delivery, which omp-server stores once.
    pub fn keyed(&mut self, origin_timestamp: u32) -> &mut Self {
        for &start in &self.starts {
            let at = start + TIMESTAMP_OFFSET;
            self.bytes[at..at + 4].copy_from_slice(&origin_timestamp.to_be_bytes());
            self.bytes[start + RESERVED_OFFSET] = gmmp_codec::KEYED_DELIVERY;
        }
        self
    }

    /// The frame bytes with every part carrying `tid`.
    pub fn with_tid(&mut self, tid: u32) -> &[u8] {
        self.with_tids(tid, PartTids::Same)
    }

    /// The frame bytes, the first part carrying `first` and the others
    /// numbered as `form` says.
    pub fn with_tids(&mut self, first: u32, form: PartTids) -> &[u8] {
        for (i, &start) in self.starts.iter().enumerate() {
            let at = start + TID_OFFSET;
            self.bytes[at..at + 4].copy_from_slice(&form.tid_of(first, i).to_be_bytes());
        }
        &self.bytes
    }

    /// Length of all the frames in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: a frame has at least a header.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use gmmp_codec::{
        DeliveryRequest, DeviceId, FixedStr, GmmpCodec, Header, MAX_PAYLOAD_LEN, Message,
        ReportType,
    };
    use tokio_util::codec::Decoder;

    use super::*;

    fn template(payload_len: usize) -> DeliveryTemplate {
        let header = Header::new(
            FixedStr::new("auth_id", "t00000001").unwrap(),
            FixedStr::new("auth_key", "key").unwrap(),
            0,
        );
        let body = DeliveryRequest {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            gw_id: FixedStr::new("gw_id", "GW00000001").unwrap(),
            device_id: DeviceId::EMPTY,
            report_type: ReportType::COLLECT_DATA,
            media_type: 0x01,
            payload: Bytes::from(vec![b'x'; payload_len]),
        };
        DeliveryTemplate::new(&Frame::new(header, body)).unwrap()
    }

    /// (T-ID, current, total, payload length) of every frame in `bytes`.
    fn frames(bytes: &[u8]) -> Vec<(u32, u16, u16, usize)> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(frame) = GmmpCodec.decode(&mut buf).unwrap() {
            let Message::DeliveryRequest(body) = &frame.message else {
                panic!("{frame:?}");
            };
            let h = frame.header;
            out.push((h.tid, h.current_count, h.total_count, body.payload.len()));
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn a_delivery_that_fits_is_one_frame() {
        let mut t = template(100);
        assert_eq!(t.parts(), 1);
        assert_eq!(frames(t.with_tids(7, PartTids::PerPart)), [(7, 1, 1, 100)]);
    }

    #[test]
    fn parts_carry_one_tid_or_one_each() {
        let mut t = template(2 * MAX_PAYLOAD_LEN + 10);
        assert_eq!(t.parts(), 3);
        assert_eq!(
            frames(t.with_tid(41)),
            [(41, 1, 3, 2048), (41, 2, 3, 2048), (41, 3, 3, 10)]
        );
        assert_eq!(
            frames(t.with_tids(41, PartTids::PerPart)),
            [(41, 1, 3, 2048), (42, 2, 3, 2048), (43, 3, 3, 10)]
        );
        assert_eq!(PartTids::PerPart.tids_used(3), 3);
        assert_eq!(PartTids::Same.tids_used(3), 1);
    }
}
