//! Properties over arbitrary packets and arbitrary bytes: encode → decode
//! is the identity; no input makes the decoder panic or buffer more than
//! one allowed packet; splitting a stream anywhere gives the same packets.

mod common;

use bytes::{Bytes, BytesMut};
use mqtt_codec::{MqttCodec, Packet};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

use common::arb;

/// Decodes everything `buf` holds, stopping at the first error.
fn drain(codec: &mut MqttCodec, buf: &mut BytesMut, out: &mut Vec<Packet>) -> bool {
    loop {
        match codec.decode(buf) {
            Ok(Some(p)) => out.push(p),
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(packet in arb::packet()) {
        let bytes = packet.to_bytes().unwrap();
        prop_assert_eq!(bytes.len(), packet.encoded_len().unwrap());
        prop_assert_eq!(&Packet::from_bytes(bytes.clone()).unwrap(), &packet);
        let mut buf = BytesMut::from(&bytes[..]);
        prop_assert_eq!(MqttCodec::new().decode(&mut buf).unwrap(), Some(packet));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Packet::from_bytes(Bytes::from(data.clone()));
        let mut codec = MqttCodec::with_max_packet_size(4096);
        let mut buf = BytesMut::from(&data[..]);
        let mut out = Vec::new();
        drain(&mut codec, &mut buf, &mut out);
        prop_assert!(buf.capacity() <= 2 * data.len().max(4096));
        for p in out {
            // Whatever decodes re-encodes and decodes the same.
            prop_assert_eq!(Packet::from_bytes(p.to_bytes().unwrap()).unwrap(), p);
        }
    }

    #[test]
    fn mutated_packets_never_panic(
        packet in arb::packet(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = packet.to_bytes().unwrap().to_vec();
        for (at, xor) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
        }
        if let Ok(p) = Packet::from_bytes(Bytes::from(bytes)) {
            prop_assert_eq!(Packet::from_bytes(p.to_bytes().unwrap()).unwrap(), p);
        }
    }

    #[test]
    fn any_split_gives_the_same_packets(
        packets in prop::collection::vec(arb::packet(), 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream = BytesMut::new();
        let mut codec = MqttCodec::new();
        for p in &packets {
            codec.encode(p, &mut stream).unwrap();
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.push(stream.len());
        points.sort_unstable();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut from = 0;
        for to in points {
            buf.extend_from_slice(&stream[from..to]);
            from = to;
            prop_assert!(drain(&mut codec, &mut buf, &mut out));
        }
        prop_assert_eq!(out, packets);
        prop_assert!(buf.is_empty());
    }
}

#[test]
fn every_split_point_of_the_vectors() {
    let stream: Vec<u8> = common::hex_vectors()
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    let mut whole = Vec::new();
    drain(
        &mut MqttCodec::new(),
        &mut BytesMut::from(&stream[..]),
        &mut whole,
    );
    assert_eq!(whole.len(), 27);
    for cut in 0..=stream.len() {
        let mut codec = MqttCodec::new();
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut out = Vec::new();
        assert!(drain(&mut codec, &mut buf, &mut out));
        buf.extend_from_slice(&stream[cut..]);
        assert!(drain(&mut codec, &mut buf, &mut out));
        assert_eq!(out, whole, "cut at {cut}");
    }
}
