//! Decoding and encoding allocate nothing per frame: the payload is a slice
//! of the read buffer, and encoding writes into the caller's buffer.
//!
//! A counting global allocator sees every allocation of this test binary,
//! so the test runs its measured sections on one thread, one at a time.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use gmmp_codec::{Frame, GmmpCodec};
use tokio_util::codec::{Decoder, Encoder};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn delivery_bytes() -> Vec<u8> {
    common::vectors()
        .into_iter()
        .find(|v| v.name == "delivery_req")
        .unwrap()
        .bytes
}

#[test]
fn decoding_a_stream_of_deliveries_allocates_at_most_once() {
    let _guard = SERIAL.lock().unwrap();
    let one = delivery_bytes();
    let mut buf = BytesMut::with_capacity(one.len() * 1000);
    for _ in 0..1000 {
        buf.extend_from_slice(&one);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut frames = 0;
    while let Some(frame) = GmmpCodec.decode(&mut buf).unwrap() {
        std::hint::black_box(&frame);
        frames += 1;
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(frames, 1000);
    // The first split turns the buffer into a shared one (one small
    // allocation); every frame after that is a reference-counted slice.
    assert!(
        allocations <= 1,
        "{allocations} allocations for 1000 frames"
    );
}

#[test]
fn encoding_into_a_reserved_buffer_allocates_nothing() {
    let _guard = SERIAL.lock().unwrap();
    let frame = Frame::decode_slice(&delivery_bytes()).unwrap();
    let mut out = BytesMut::with_capacity(frame.encoded_len() * 1000);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        GmmpCodec.encode(&frame, &mut out).unwrap();
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocations, 0);
    assert_eq!(out.len(), frame.encoded_len() * 1000);
}
