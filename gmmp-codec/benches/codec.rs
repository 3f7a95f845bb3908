//! Decode and encode cost of typical frames: a heartbeat request, a
//! delivery with a 100-byte payload, and a full 2048-byte delivery.
//!
//! `cargo bench -p gmmp-codec` — results are in the crate README.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gmmp_codec::{
    DeliveryRequest, FixedStr, Frame, GmmpCodec, Header, HeartbeatRequest, ReportType,
};
use tokio_util::codec::{Decoder, Encoder};

fn header(tid: u32) -> Header {
    Header::new(
        FixedStr::new("auth_id", "0008dc1e3222").unwrap(),
        FixedStr::new("auth_key", "SP10033827key").unwrap(),
        tid,
    )
    .with_encryption_flag(2)
}

fn heartbeat() -> Frame {
    Frame::new(
        header(55),
        HeartbeatRequest {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            gw_id: FixedStr::new("gw_id", "SC10010254").unwrap(),
        },
    )
}

fn delivery(payload_len: usize) -> Frame {
    Frame::new(
        header(129),
        DeliveryRequest {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            gw_id: FixedStr::new("gw_id", "SC10010254").unwrap(),
            device_id: FixedStr::EMPTY,
            report_type: ReportType::COLLECT_DATA,
            media_type: 1,
            payload: Bytes::from((0..payload_len).map(|i| i as u8).collect::<Vec<_>>()),
        },
    )
}

fn bench_frame(c: &mut Criterion, name: &str, frame: Frame) {
    let encoded = frame.to_bytes().unwrap();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(encoded.len() as u64));

    // Decode as the server does: bytes arrive in the read buffer, the codec
    // splits one frame off and parses it. Refilling the buffer is a memcpy
    // of the frame into already-reserved space.
    let mut buf = BytesMut::with_capacity(8 * 1024);
    group.bench_function("decode", |b| {
        b.iter(|| {
            buf.extend_from_slice(&encoded);
            let frame = GmmpCodec.decode(black_box(&mut buf)).unwrap().unwrap();
            black_box(frame)
        })
    });

    let mut out = BytesMut::with_capacity(8 * 1024);
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            GmmpCodec.encode(black_box(&frame), &mut out).unwrap();
            black_box(out.len())
        })
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_frame(c, "heartbeat_request", heartbeat());
    bench_frame(c, "delivery_100B", delivery(100));
    bench_frame(c, "delivery_2048B", delivery(2048));
}

criterion_group!(benches, codec);
criterion_main!(benches);
