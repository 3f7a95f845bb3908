//! Fuzz target: any bytes through the stream decoder and the whole-frame
//! decoder. Oracles: no panic; the buffer never grows past one legal frame
//! beyond the input; every decoded frame re-encodes, and the re-encoded
//! bytes decode to the same frame (with the version normalised to 0x21).

#![no_main]

use bytes::{Bytes, BytesMut};
use gmmp_codec::{Frame, GmmpCodec, MAX_FRAME_LEN};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let _ = Frame::decode(Bytes::copy_from_slice(data));

    let mut buf = BytesMut::from(data);
    let mut codec = GmmpCodec;
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => {
                let encoded = frame.to_bytes().expect("a decoded frame re-encodes");
                let again = Frame::decode(encoded).expect("a re-encoded frame decodes");
                let mut expected = frame.clone();
                expected.header.version = gmmp_codec::VERSION;
                assert_eq!(again, expected);
                let _ = frame.trace().to_string();
            }
            Ok(None) | Err(_) => break,
        }
    }
    // Growth is bounded by the largest legal frame (Vec-style doubling at
    // most), never by a length the input claims.
    assert!(buf.capacity() <= 2 * data.len().max(MAX_FRAME_LEN));
});
