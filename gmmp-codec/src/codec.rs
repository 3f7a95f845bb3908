//! [`GmmpCodec`]: GMMP framing for `tokio_util::codec`.
//!
//! Decoding waits for the first bytes of the header, checks the version and
//! `message_length` (≥ 50, ≤ 2142) before anything else, and only then
//! reserves room for the rest of the frame — so a hostile length can never
//! make it allocate more than one legal frame. "Not enough bytes yet" is
//! `Ok(None)`; a bad frame is an error, after which the connection should
//! be closed (the stream cannot be re-synchronised: GMMP has no frame
//! marker).

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::CodecError;
use crate::frame::{Frame, check_prefix};

/// The GMMP frame codec. Stateless: one per connection, or shared.
#[derive(Debug, Clone, Copy, Default)]
pub struct GmmpCodec;

impl GmmpCodec {
    /// A new codec.
    pub fn new() -> Self {
        GmmpCodec
    }
}

impl Decoder for GmmpCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        let Some(prefix) = check_prefix(src)? else {
            return Ok(None);
        };
        let len = prefix.message_length;
        if src.len() < len {
            // Bounded by MAX_FRAME_LEN: check_prefix refused anything longer.
            src.reserve(len - src.len());
            return Ok(None);
        }
        let frame = src.split_to(len).freeze();
        Frame::decode(frame).map(Some)
    }
}

impl Encoder<Frame> for GmmpCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.encode(dst)
    }
}

impl Encoder<&Frame> for GmmpCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.encode(dst)
    }
}
