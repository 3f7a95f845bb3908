//! Fuzz target: any bytes through the stream decoder, the whole-packet
//! decoder and the `$dp` decoder. Oracles: no panic; the buffer never
//! grows past one allowed packet beyond the input; every decoded packet
//! re-encodes to bytes that decode to the same packet.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use mqtt_codec::{MqttCodec, Packet, onenet};
use tokio_util::codec::Decoder;

/// Small enough that the fuzzer reaches the limit, large enough for every
/// packet of the corpus.
const MAX_PACKET: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let _ = Packet::from_bytes(Bytes::copy_from_slice(data));
    let _ = onenet::decode_dp(data);

    let mut buf = BytesMut::from(data);
    let mut codec = MqttCodec::with_max_packet_size(MAX_PACKET);
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(packet)) => {
                let encoded = packet.to_bytes().expect("a decoded packet re-encodes");
                let again = Packet::from_bytes(encoded).expect("a re-encoded packet decodes");
                assert_eq!(again, packet);
                if let Packet::Publish(p) = &packet {
                    let _ = onenet::decode_dp(&p.payload);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    // Growth is bounded by the largest allowed packet (Vec-style doubling
    // at most), never by a length the input claims.
    assert!(buf.capacity() <= 2 * data.len().max(MAX_PACKET));
});
