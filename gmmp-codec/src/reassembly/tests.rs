//! Unit tests of splitting and of the split tracker's rules.

use super::*;
use crate::fixed_str::{AuthId, FixedStr};
use crate::header::Header;
use crate::message::DeliveryRequest;

fn delivery(payload: Bytes) -> Frame {
    Frame::new(
        Header::new(FixedStr::new("auth_id", "gw").unwrap(), AuthId::EMPTY, 7),
        DeliveryRequest {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            gw_id: FixedStr::new("gw_id", "SC10010254").unwrap(),
            device_id: FixedStr::EMPTY,
            report_type: 1.into(),
            media_type: 1,
            payload,
        },
    )
}

fn part(tid: u32, current: u16, total: u16, payload: &'static [u8]) -> Part {
    Part {
        tid,
        current,
        total,
        report_type: 1,
        media_type: 1,
        payload: Bytes::from_static(payload),
    }
}

fn tracker() -> SplitTracker<&'static str> {
    SplitTracker::new(SplitLimits::default(), 1)
}

fn completed_tids(d: PartDecision) -> Vec<u32> {
    match d {
        PartDecision::Completed(s) => s.tids,
        other => panic!("expected a completed split, got {other:?}"),
    }
}

#[test]
fn split_makes_parts_under_one_tid() {
    let payload: Bytes = (0..5000u32).map(|i| i as u8).collect::<Vec<_>>().into();
    let parts = split(&delivery(payload.clone())).unwrap();
    assert_eq!(parts.len(), 3);
    let mut whole = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.header.tid, 7);
        assert_eq!(p.header.total_count, 3);
        assert_eq!(p.header.current_count, i as u16 + 1);
        let bytes = p.message.payload().unwrap();
        assert!(bytes.len() <= MAX_PAYLOAD_LEN);
        whole.extend_from_slice(bytes);
    }
    assert_eq!(whole, payload);
}

#[test]
fn small_payload_is_one_part() {
    let parts = split(&delivery(Bytes::from_static(b"abc"))).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].header.total_count, 1);
    let exact = split(&delivery(Bytes::from(vec![0; MAX_PAYLOAD_LEN]))).unwrap();
    assert_eq!(exact.len(), 1);
}

#[test]
fn same_tid_and_tid_per_part_both_complete() {
    let mut t = tracker();
    assert!(matches!(
        t.accept(&"gw", &part(7, 1, 3, b"a"), 0),
        PartDecision::Opened { ref closed, .. } if closed.is_empty()
    ));
    assert!(matches!(
        t.accept(&"gw", &part(7, 2, 3, b"b"), 0),
        PartDecision::Added { .. }
    ));
    assert_eq!(
        completed_tids(t.accept(&"gw", &part(7, 3, 3, b"c"), 0)),
        [7, 7, 7]
    );
    t.accept(&"gw", &part(8, 1, 3, b"a"), 0);
    t.accept(&"gw", &part(9, 2, 3, b"b"), 0);
    assert_eq!(
        completed_tids(t.accept(&"gw", &part(10, 3, 3, b"c"), 0)),
        [8, 9, 10]
    );
    assert_eq!(t.open_count(), 0);
}

#[test]
fn a_repeat_is_recognised_and_other_bytes_are_refused() {
    let mut t = tracker();
    t.accept(&"gw", &part(7, 1, 2, b"a"), 0);
    assert!(matches!(
        t.accept(&"gw", &part(7, 1, 2, b"a"), 0),
        PartDecision::Repeated { .. }
    ));
    assert_eq!(
        completed_tids(t.accept(&"gw", &part(7, 2, 2, b"b"), 0)),
        [7, 7]
    );
    t.accept(&"gw", &part(1, 1, 3, b"a"), 0);
    t.accept(&"gw", &part(2, 2, 3, b"b"), 0);
    assert_eq!(
        t.accept(&"gw", &part(3, 2, 3, b"X"), 0),
        PartDecision::Refused(PartRefusal::RepeatDiffers {
            current: 2,
            total: 3
        })
    );
    // The library resends under T-ID + 1; the next part follows that one.
    assert!(matches!(
        t.accept(&"gw", &part(3, 2, 3, b"b"), 0),
        PartDecision::Repeated { .. }
    ));
    assert_eq!(
        completed_tids(t.accept(&"gw", &part(4, 3, 3, b"c"), 0)),
        [1, 2, 4]
    );
}

#[test]
fn refused_parts_leave_the_split_in_progress() {
    let mut t = tracker();
    t.accept(&"gw", &part(7, 1, 2, b"a"), 0);
    assert_eq!(
        t.accept(&"gw", &part(7, 5, 2, b"junk"), 0),
        PartDecision::Refused(PartRefusal::OutOfRange {
            current: 5,
            total: 2
        })
    );
    assert_eq!(
        t.accept(&"gw", &part(7, 2, 3, b"b"), 0),
        PartDecision::Refused(PartRefusal::TotalChanged {
            expected: 2,
            got: 3
        })
    );
    assert_eq!(
        t.accept(&"other-device", &part(7, 2, 2, b"b"), 0),
        PartDecision::Refused(PartRefusal::NotExpected {
            current: 2,
            total: 2,
            tid: 7
        })
    );
    let mut other_type = part(7, 2, 2, b"b");
    other_type.report_type = 3;
    assert!(matches!(
        t.accept(&"gw", &other_type, 0),
        PartDecision::Refused(_)
    ));
    assert_eq!(
        completed_tids(t.accept(&"gw", &part(7, 2, 2, b"b"), 0)),
        [7, 7]
    );
}

#[test]
fn interleaved_splits_under_adjacent_tids_do_not_mix() {
    let mut t = tracker();
    t.accept(&"gw", &part(7, 1, 2, b"A1"), 0);
    t.accept(&"gw", &part(8, 1, 2, b"B1"), 0);
    // T-ID 8 is B's own and A's + 1: B's own wins.
    assert_eq!(
        completed_tids(t.accept(&"gw", &part(8, 2, 2, b"B2"), 0)),
        [8, 8]
    );
    assert_eq!(
        completed_tids(t.accept(&"gw", &part(7, 2, 2, b"A2"), 0)),
        [7, 7]
    );
}

#[test]
fn a_sender_that_restarts_its_tids_closes_its_old_split_instead_of_feeding_it() {
    // Part 1 of 3 under T-ID 7, then the sender reboots and sends a new
    // delivery from T-ID 7 again, in either T-ID form.
    for per_part in [false, true] {
        let mut t = tracker();
        t.accept(&"gw", &part(7, 1, 3, b"old"), 0);
        let PartDecision::Opened { closed, .. } = t.accept(&"gw", &part(7, 1, 3, b"new1"), 1)
        else {
            panic!("part 1 opens a split");
        };
        assert_eq!(closed.len(), 1, "the old split is closed, its part kept");
        assert_eq!(closed[0].tids, [7]);
        let tid = |n: u32| if per_part { 7 + n } else { 7 };
        let second = t.accept(&"gw", &part(tid(1), 2, 3, b"new2"), 2);
        assert!(matches!(second, PartDecision::Added { .. }));
        let third = t.accept(&"gw", &part(tid(2), 3, 3, b"new3"), 3);
        assert_eq!(completed_tids(third), [7, tid(1), tid(2)]);
        assert_eq!(t.open_count(), 0);
    }
}

#[test]
fn limits_hold_against_a_hostile_peer() {
    let limits = SplitLimits {
        max_parts: 4,
        max_bytes: 10,
        max_open_per_source: 2,
        expiry_ms: 5_000,
    };
    let mut t = SplitTracker::new(limits, 1);
    assert_eq!(
        t.accept(&"a", &part(1, 1, 5, b"123456"), 0),
        PartDecision::Refused(PartRefusal::TooManyParts { total: 5, max: 4 })
    );
    t.accept(&"a", &part(1, 1, 3, b"123456"), 0);
    assert_eq!(
        t.accept(&"a", &part(1, 2, 3, b"123456"), 0),
        PartDecision::Refused(PartRefusal::TooLarge { bytes: 12, max: 10 })
    );
    t.accept(&"a", &part(20, 1, 2, b"x"), 1);
    let PartDecision::Opened { closed, .. } = t.accept(&"a", &part(30, 1, 2, b"y"), 2) else {
        panic!("a third open split closes the oldest");
    };
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].tids, [1]);
    assert_eq!(t.open_count(), 2);
    assert!(t.expire(5_000).is_empty());
    let expired = t.expire(5_002);
    assert_eq!(expired.len(), 2);
    assert_eq!(t.open_count(), 0);
}

#[test]
fn restored_splits_continue_and_ids_stay_above_them() {
    let mut t = tracker();
    t.accept(&"gw", &part(7, 1, 2, b"a"), 0);
    let held = t.open_splits(&"gw").to_vec();
    let mut after_restart = tracker();
    for s in held {
        after_restart.restore("gw", s);
    }
    assert_eq!(
        completed_tids(after_restart.accept(&"gw", &part(8, 2, 2, b"b"), 0)),
        [7, 8]
    );
    let PartDecision::Opened { id, .. } = after_restart.accept(&"gw", &part(9, 1, 2, b"c"), 0)
    else {
        panic!("part 1 opens a split");
    };
    assert!(id > 1);
}
