//! Each kind of bad input gives its typed error with the offending values.

mod common;

use bytes::Bytes;
use gmmp_codec::{
    CodecError, DeliveryRequest, FixedStr, Frame, Header, MAX_PAYLOAD_LEN, ReportType,
};

fn vector(name: &str) -> Vec<u8> {
    common::vectors()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("vector {name}"))
        .bytes
}

fn with_len(mut bytes: Vec<u8>, len: usize) -> Vec<u8> {
    bytes.resize(len, 0);
    bytes[1..3].copy_from_slice(&(len as u16).to_be_bytes());
    bytes
}

#[test]
fn short_body_names_type_length_and_minimum() {
    let bytes = with_len(vector("delivery_req"), 50 + 12);
    let err = Frame::decode_slice(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "type 0x0b body 12 bytes, needs at least 44"
    );
    assert_eq!(err.kind(), "body_too_short");
}

#[test]
fn long_fixed_body_is_refused() {
    let bytes = with_len(vector("hb_req"), 50 + 27);
    let err = Frame::decode_slice(&bytes).unwrap_err();
    assert!(matches!(
        err,
        CodecError::BodyTooLong {
            message_type: 0x0f,
            len: 27,
            max: 26
        }
    ));
}

#[test]
fn delivery_response_of_45_bytes_is_refused() {
    let bytes = with_len(vector("delivery_rsp_47"), 50 + 45);
    assert!(matches!(
        Frame::decode_slice(&bytes).unwrap_err(),
        CodecError::BodyTooShort {
            message_type: 0x0c,
            len: 45,
            min: 47
        }
    ));
}

#[test]
fn header_lengths_out_of_range_are_refused() {
    let mut bytes = vector("hb_req");
    bytes[1..3].copy_from_slice(&49u16.to_be_bytes());
    assert!(matches!(
        Frame::decode_slice(&bytes).unwrap_err(),
        CodecError::TooShort { len: 49 }
    ));
    bytes[1..3].copy_from_slice(&2143u16.to_be_bytes());
    assert!(matches!(
        Frame::decode_slice(&bytes).unwrap_err(),
        CodecError::TooLong { len: 2143 }
    ));
}

#[test]
fn unknown_type_is_refused() {
    let mut bytes = vector("hb_req");
    bytes[3] = 0x25;
    assert_eq!(
        Frame::decode_slice(&bytes).unwrap_err().to_string(),
        "unknown message type 0x25"
    );
}

#[test]
fn payload_over_2048_is_refused_on_encode_and_decode() {
    let frame = Frame::new(
        Header::new(FixedStr::EMPTY, FixedStr::EMPTY, 1),
        DeliveryRequest {
            domain_code: FixedStr::EMPTY,
            gw_id: FixedStr::EMPTY,
            device_id: FixedStr::EMPTY,
            report_type: ReportType::COLLECT_DATA,
            media_type: 1,
            payload: Bytes::from(vec![7; MAX_PAYLOAD_LEN + 1]),
        },
    );
    let err = frame.to_bytes().unwrap_err();
    assert!(matches!(
        err,
        CodecError::BodyTooLong {
            message_type: 0x0b,
            len: 2093,
            max: 2092
        }
    ));
    let mut buf = bytes::BytesMut::from(&b"keep"[..]);
    assert!(frame.encode(&mut buf).is_err());
    assert_eq!(
        &buf[..],
        b"keep",
        "a failed encode leaves the buffer as it was"
    );
    // 2048 exactly is fine.
    let mut ok = frame.clone();
    ok.message
        .set_payload(Bytes::from(vec![7; MAX_PAYLOAD_LEN]));
    assert_eq!(ok.to_bytes().unwrap().len(), gmmp_codec::MAX_FRAME_LEN);
}

#[test]
fn field_too_long_names_the_field() {
    let err = gmmp_codec::GwId::new("gw_id", "SC100102540000000").unwrap_err();
    assert_eq!(
        err.to_string(),
        "field gw_id is 17 bytes, longer than its 16-byte width"
    );
}

#[test]
fn whole_frame_with_trailing_bytes_is_a_length_mismatch() {
    let mut bytes = vector("hb_req");
    bytes.push(0);
    assert!(matches!(
        Frame::decode_slice(&bytes).unwrap_err(),
        CodecError::LengthMismatch {
            declared: 76,
            actual: 77
        }
    ));
}

#[test]
fn encryption_flag_is_kept_whatever_its_value() {
    for flag in [0u8, 1, 2, 0xff] {
        let mut bytes = vector("delivery_req");
        bytes[48] = flag;
        let frame = Frame::decode_slice(&bytes).unwrap();
        assert_eq!(frame.header.encryption_flag, flag);
        assert_eq!(frame.to_bytes().unwrap()[..], bytes[..]);
    }
}
