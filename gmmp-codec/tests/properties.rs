//! Property tests: encode → decode is the identity for every message type,
//! and no input makes the decoder panic.

mod common;

use bytes::{Bytes, BytesMut};
use gmmp_codec::{Frame, GmmpCodec, HEADER_LEN, MessageType, VERSION};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// A body length this type allows.
fn body_len_strategy(t: MessageType) -> BoxedStrategy<usize> {
    let fixed = t.fixed_body_len();
    match t {
        MessageType::DeliveryResponse => prop_oneof![Just(43usize), Just(47usize)].boxed(),
        t if t.has_payload() => (fixed..=t.max_body_len()).boxed(),
        _ => Just(fixed).boxed(),
    }
}

/// Raw bytes of a well-formed frame of any type: a header whose length and
/// type are right, with every other byte random, and a random body of a
/// length the type allows.
fn valid_frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::sample::select(MessageType::ALL.to_vec())
        .prop_flat_map(|t| (Just(t), body_len_strategy(t)))
        .prop_flat_map(|(t, body_len)| {
            (
                Just(t),
                proptest::collection::vec(any::<u8>(), HEADER_LEN),
                proptest::collection::vec(any::<u8>(), body_len),
            )
        })
        .prop_map(|(t, mut header, body)| {
            let len = (HEADER_LEN + body.len()) as u16;
            header[0] = VERSION;
            header[1..3].copy_from_slice(&len.to_be_bytes());
            header[3] = t as u8;
            header.extend_from_slice(&body);
            header
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// decode → encode gives the same bytes, and decoding those gives the
    /// same frame: encode ∘ decode and decode ∘ encode are identities.
    #[test]
    fn every_type_round_trips(bytes in valid_frame_bytes()) {
        let frame = Frame::decode(Bytes::from(bytes.clone())).expect("a valid frame decodes");
        let encoded = frame.to_bytes().expect("a decoded frame encodes");
        prop_assert_eq!(&encoded[..], &bytes[..]);
        let again = Frame::decode(encoded).expect("re-decodes");
        prop_assert_eq!(again, frame);
    }

    /// Any byte string gives frames or an error from the stream decoder,
    /// never a panic, and never a buffer beyond one legal frame.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut codec = GmmpCodec;
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
        // Growth is bounded by the largest legal frame, never by a length
        // the input claims.
        prop_assert!(buf.capacity() <= 2 * bytes.len().max(gmmp_codec::MAX_FRAME_LEN));
        let _ = Frame::decode(Bytes::from(bytes));
    }

    /// A valid header with any length field and any type byte, followed by
    /// any bytes: decodes or errors, never panics.
    #[test]
    fn random_lengths_in_header_never_panic(
        len in any::<u16>(),
        message_type in any::<u8>(),
        version in 0x1Fu8..=0x30,
        tail in proptest::collection::vec(any::<u8>(), 0..2300),
    ) {
        let mut bytes = vec![0u8; HEADER_LEN];
        bytes[0] = version;
        bytes[1..3].copy_from_slice(&len.to_be_bytes());
        bytes[3] = message_type;
        bytes.extend_from_slice(&tail);
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = GmmpCodec.decode(&mut buf);
        prop_assert!(buf.capacity() <= 2 * bytes.len().max(gmmp_codec::MAX_FRAME_LEN));
        let _ = GmmpCodec.decode_eof(&mut buf);
        let _ = Frame::decode(Bytes::from(bytes));
    }

    /// Every vector with a random length written into its header.
    #[test]
    fn vectors_with_random_lengths_never_panic(index in any::<prop::sample::Index>(), len in any::<u16>()) {
        let vectors = common::vectors();
        let mut bytes = vectors[index.index(vectors.len())].bytes.clone();
        bytes[1..3].copy_from_slice(&len.to_be_bytes());
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = GmmpCodec.decode(&mut buf);
        let _ = Frame::decode(Bytes::from(bytes));
    }
}

#[test]
fn every_truncation_of_every_vector_waits_or_errors() {
    for v in common::vectors() {
        for cut in 0..v.bytes.len() {
            let prefix = &v.bytes[..cut];
            let mut buf = BytesMut::from(prefix);
            // The stream decoder waits for more.
            assert!(
                matches!(GmmpCodec.decode(&mut buf), Ok(None)),
                "{} cut at {cut}",
                v.name
            );
            // As a whole frame it is refused.
            assert!(
                Frame::decode_slice(prefix).is_err(),
                "{} cut at {cut}",
                v.name
            );
        }
    }
}

#[test]
fn every_version_in_range_is_accepted_and_0x21_is_sent() {
    let v = &common::vectors()[0];
    for version in 0x00..=0xFFu8 {
        let mut bytes = v.bytes.clone();
        bytes[0] = version;
        let result = Frame::decode_slice(&bytes);
        if (0x20..=0x2F).contains(&version) {
            let frame = result.expect("accepted version");
            assert_eq!(frame.header.version, version);
            assert_eq!(frame.to_bytes().unwrap()[0], 0x21);
        } else {
            assert!(matches!(
                result,
                Err(gmmp_codec::CodecError::BadVersion { version: v }) if v == version
            ));
        }
    }
}
