//! Decoding and encoding allocate nothing per frame: the payload is a slice
//! of the read buffer, and encoding writes into the caller's buffer.
//!
//! A counting global allocator sees every allocation of this test binary,
//! including the test harness's own on its other threads (output capture,
//! result channel) at any moment. So it counts only on a thread that is
//! inside [`count_allocations`], and only that thread's allocations.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use gmmp_codec::{Frame, GmmpCodec};
use tokio_util::codec::{Decoder, Encoder};

thread_local! {
    /// Whether this thread is in a measured section.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    /// Allocations this thread made in its current measured section.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts an allocation if this thread is measuring. `try_with`, because
/// the allocator also runs while a thread's locals are being torn down;
/// both locals are const-initialised `Cell`s, so reading them never
/// allocates.
fn note_allocation() {
    let measuring = MEASURING.try_with(Cell::get).unwrap_or(false);
    if measuring {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Ends a measured section, also when the measured code panics.
struct Measuring;

impl Drop for Measuring {
    fn drop(&mut self) {
        MEASURING.set(false);
    }
}

/// Runs `f` and returns how many allocations this thread made in it.
fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCATIONS.set(0);
    MEASURING.set(true);
    let measuring = Measuring;
    let result = f();
    drop(measuring);
    (result, ALLOCATIONS.get())
}

fn delivery_bytes() -> Vec<u8> {
    common::vectors()
        .into_iter()
        .find(|v| v.name == "delivery_req")
        .unwrap()
        .bytes
}

#[test]
fn decoding_a_stream_of_deliveries_allocates_at_most_once() {
    let one = delivery_bytes();
    let mut buf = BytesMut::with_capacity(one.len() * 1000);
    for _ in 0..1000 {
        buf.extend_from_slice(&one);
    }
    let (frames, allocations) = count_allocations(|| {
        let mut frames = 0;
        while let Some(frame) = GmmpCodec.decode(&mut buf).unwrap() {
            std::hint::black_box(&frame);
            frames += 1;
        }
        frames
    });
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
    let frame = Frame::decode_slice(&delivery_bytes()).unwrap();
    let mut out = BytesMut::with_capacity(frame.encoded_len() * 1000);
    let ((), allocations) = count_allocations(|| {
        for _ in 0..1000 {
            GmmpCodec.encode(&frame, &mut out).unwrap();
        }
    });
    assert_eq!(allocations, 0);
    assert_eq!(out.len(), frame.encoded_len() * 1000);
}

/// The counter is not blind: a measured allocation is seen.
#[test]
fn a_measured_allocation_is_counted() {
    let (boxed, allocations) = count_allocations(|| std::hint::black_box(Box::new(7_u64)));
    assert_eq!(*boxed, 7);
    assert_eq!(allocations, 1);
}
