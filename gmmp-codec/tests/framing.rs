//! The stream codec: frames split at every byte boundary, several frames in
//! one read, a bad length in the middle of a stream.

mod common;

use bytes::BytesMut;
use futures::StreamExt;
use gmmp_codec::{CodecError, Frame, GmmpCodec};
use tokio_util::codec::{Decoder, FramedRead};

fn all_vector_bytes() -> (Vec<u8>, usize) {
    let vectors = common::vectors();
    let mut stream = Vec::new();
    for v in &vectors {
        stream.extend_from_slice(&v.bytes);
    }
    (stream, vectors.len())
}

#[test]
fn a_frame_split_at_every_boundary_decodes_once() {
    for v in common::vectors() {
        for cut in 0..=v.bytes.len() {
            let mut buf = BytesMut::new();
            let mut codec = GmmpCodec;
            buf.extend_from_slice(&v.bytes[..cut]);
            let first = codec.decode(&mut buf).expect("no error on a prefix");
            buf.extend_from_slice(&v.bytes[cut..]);
            let frame = match first {
                Some(f) => f,
                None => codec.decode(&mut buf).unwrap().expect("whole frame"),
            };
            assert_eq!(frame, Frame::decode_slice(&v.bytes).unwrap(), "{}", v.name);
            assert!(buf.is_empty());
        }
    }
}

#[test]
fn byte_by_byte_stream_of_all_vectors() {
    let (stream, count) = all_vector_bytes();
    let mut buf = BytesMut::new();
    let mut codec = GmmpCodec;
    let mut frames = 0;
    for b in stream {
        buf.extend_from_slice(&[b]);
        while let Some(_f) = codec.decode(&mut buf).unwrap() {
            frames += 1;
        }
    }
    assert_eq!(frames, count);
}

#[test]
fn several_frames_in_one_read() {
    let (stream, count) = all_vector_bytes();
    let mut buf = BytesMut::from(&stream[..]);
    let mut frames = Vec::new();
    while let Some(f) = GmmpCodec.decode(&mut buf).unwrap() {
        frames.push(f);
    }
    assert_eq!(frames.len(), count);
    assert!(buf.is_empty());
}

#[tokio::test]
async fn bad_length_mid_stream_yields_the_good_frames_then_an_error() {
    let vectors = common::vectors();
    let mut stream = Vec::new();
    stream.extend_from_slice(&vectors[0].bytes);
    stream.extend_from_slice(&vectors[1].bytes);
    let mut bad = vectors[2].bytes.clone();
    bad[1..3].copy_from_slice(&9000u16.to_be_bytes());
    stream.extend_from_slice(&bad);
    stream.extend_from_slice(&vectors[3].bytes);

    let mut framed = FramedRead::new(&stream[..], GmmpCodec);
    assert!(framed.next().await.unwrap().is_ok());
    assert!(framed.next().await.unwrap().is_ok());
    match framed.next().await.unwrap() {
        Err(CodecError::TooLong { len: 9000 }) => {}
        other => panic!("expected TooLong, got {other:?}"),
    }
}

#[tokio::test]
async fn truncated_stream_end_is_an_error_not_a_frame() {
    let v = &common::vectors()[0];
    let cut = &v.bytes[..v.bytes.len() - 3];
    let mut framed = FramedRead::new(cut, GmmpCodec);
    let item = framed.next().await.expect("an item at EOF");
    assert!(item.is_err(), "bytes left at EOF are reported");
}
