//! The spool's unit tests: round trips, reopen, torn tails, bounds.

use std::fs;

use super::record::crc32;
use super::*;

fn delivery(text: &str) -> SpooledDelivery {
    SpooledDelivery {
        device: None,
        report_type: 1,
        media_type: 1,
        payload: Bytes::copy_from_slice(text.as_bytes()),
        spooled_at: 0,
    }
}

fn limits() -> SpoolLimits {
    SpoolLimits {
        max_bytes: 1024 * 1024,
        segment_bytes: 4096,
        when_full: FullPolicy::DropOldest,
    }
}

fn texts(spool: &Spool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = None;
    while let Some(seq) = spool.next_after(cur) {
        let d = spool.read(seq).unwrap();
        out.push(String::from_utf8(d.payload.to_vec()).unwrap());
        cur = Some(seq);
    }
    out
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn a_record_written_by_the_table_crc_still_verifies() {
    // Bytes of one delivery record (seq 7, GW, "hi") as the earlier
    // hand-written table CRC wrote them.
    let golden = [
        0x00, 0x00, 0x00, 0x13, 0x6b, 0xbf, 0x31, 0xd2, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x07, 0x02, 0x6a, 0xfd, 0x86, 0xc0, 0x01, 0x01, 0x00, 0x68, 0x69,
    ];
    assert_eq!(
        parse_record(&golden),
        Some((KIND_DELIVERY, 7, 10, golden.len()))
    );
}

#[test]
fn deliveries_come_back_in_order_and_removed_ones_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
    let a = spool.append(&delivery("a")).unwrap().seq;
    spool.append(&delivery("b")).unwrap();
    spool.append(&delivery("c")).unwrap();
    spool.remove(a).unwrap();
    assert_eq!(texts(&spool), ["b", "c"]);
    assert_eq!(spool.len(), 2);
}

#[test]
fn device_and_types_survive_the_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
    let d = SpooledDelivery {
        device: Some("sensor1".into()),
        report_type: 3,
        media_type: 0x65,
        payload: Bytes::from_static(b"{\"t\":1}"),
        spooled_at: 1_795_000_000,
    };
    let seq = spool.append(&d).unwrap().seq;
    assert_eq!(spool.read(seq).unwrap(), d);
}

#[test]
fn the_spool_time_is_stamped_once_and_kept_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let before = crate::status::unix_now() as u32;
    let seq = {
        let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
        spool.append(&delivery("a")).unwrap().seq
    };
    let (spool, _) = Spool::open(dir.path(), limits()).unwrap();
    let at = spool.read(seq).unwrap().spooled_at;
    assert!(at >= before && at <= crate::status::unix_now() as u32);
    assert_eq!(spool.read(seq).unwrap().spooled_at, at, "read again, same");
}

#[test]
fn format_01_records_are_still_read_without_a_spool_time() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
        // What the previous version wrote: 01, types, name, payload.
        let mut body = vec![0x01, 3, 0x65, 7];
        body.extend_from_slice(b"sensor1old data");
        spool.write_record(KIND_DELIVERY, 0, &body).unwrap();
    }
    let (mut spool, report) = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(report.pending, 1);
    let d = spool.read(0).unwrap();
    assert_eq!(
        d,
        SpooledDelivery {
            device: Some("sensor1".into()),
            report_type: 3,
            media_type: 0x65,
            payload: Bytes::from_static(b"old data"),
            spooled_at: 0,
        }
    );
    assert_eq!(spool.append(&delivery("new")).unwrap().seq, 1);
}

#[test]
fn pending_deliveries_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
        for t in ["a", "b", "c", "d"] {
            spool.append(&delivery(t)).unwrap();
        }
        spool.remove(2).unwrap();
    }
    let (mut spool, report) = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(report.pending, 3);
    assert!(report.truncated.is_empty());
    assert_eq!(texts(&spool), ["a", "c", "d"]);
    // New sequence numbers continue after the old ones.
    assert_eq!(spool.append(&delivery("e")).unwrap().seq, 5);
}

#[test]
fn a_torn_tail_is_dropped_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
        spool.append(&delivery("first")).unwrap();
        spool.append(&delivery("second")).unwrap();
    }
    let seg = dir.path().join(format!("{:020}.seg", 1));
    let full = fs::read(&seg).unwrap();
    // Cut the second record in half, as a SIGKILL mid-write would.
    fs::write(&seg, &full[..full.len() - 5]).unwrap();
    let (mut spool, report) = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(texts(&spool), ["first"]);
    assert_eq!(report.truncated.len(), 1);
    // The file was cut back, so new records follow a clean record.
    spool.append(&delivery("third")).unwrap();
    drop(spool);
    let (spool, report) = Spool::open(dir.path(), limits()).unwrap();
    assert!(report.truncated.is_empty());
    assert_eq!(texts(&spool), ["first", "third"]);
}

#[test]
fn a_corrupted_record_is_detected_by_its_crc() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
        spool.append(&delivery("first")).unwrap();
        spool.append(&delivery("second")).unwrap();
    }
    let seg = dir.path().join(format!("{:020}.seg", 1));
    let mut full = fs::read(&seg).unwrap();
    let last = full.len() - 1;
    full[last] ^= 0xFF;
    fs::write(&seg, &full).unwrap();
    let (spool, report) = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(texts(&spool), ["first"]);
    assert_eq!(report.truncated.len(), 1);
}

#[test]
fn drop_oldest_makes_room_when_full() {
    let dir = tempfile::tempdir().unwrap();
    let one = delivery("0123456789").spooled_size();
    let lim = SpoolLimits {
        max_bytes: one * 3,
        ..limits()
    };
    let (mut spool, _) = Spool::open(dir.path(), lim).unwrap();
    for t in ["0123456789", "1123456789", "2123456789"] {
        assert!(spool.append(&delivery(t)).unwrap().dropped.is_empty());
    }
    let next = delivery("3123456789");
    assert_eq!(spool.room_for(&next, |_| false), [1], "the plan");
    let outcome = spool.append(&next).unwrap();
    assert_eq!(outcome.dropped, [1], "what append does on its own");
    assert_eq!(texts(&spool), ["1123456789", "2123456789", "3123456789"]);
    assert!(spool.pending_bytes() <= lim.max_bytes);
    // A larger one needs two gone: the oldest not spared first, then
    // spared ones when that is not enough.
    let big = delivery(big_text());
    assert!(big.spooled_size() > one && big.spooled_size() <= 2 * one);
    assert_eq!(spool.room_for(&big, |_| false), [2, 3]);
    assert_eq!(spool.room_for(&big, |seq| seq == 2), [3, 4]);
    assert_eq!(spool.room_for(&big, |_| true), [2, 3]);
    for seq in spool.room_for(&big, |seq| seq == 2) {
        spool.remove(seq).unwrap();
    }
    assert!(
        spool.append(&big).unwrap().dropped.is_empty(),
        "room was made"
    );
    assert_eq!(texts(&spool), ["1123456789", big_text()], "seq 2 spared");
    assert_eq!(
        spool.room_for(&delivery("x".repeat(4 * one as usize).as_str()), |_| false),
        Vec::<u64>::new(),
        "too large for the spool: nothing dropped, the append fails"
    );
}

fn big_text() -> &'static str {
    "4123456789-twice-as-long-as-the-others"
}

#[test]
fn reject_new_refuses_when_full_and_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let one = delivery("0123456789").spooled_size();
    let lim = SpoolLimits {
        max_bytes: one * 2,
        when_full: FullPolicy::RejectNew,
        ..limits()
    };
    let (mut spool, _) = Spool::open(dir.path(), lim).unwrap();
    spool.append(&delivery("0123456789")).unwrap();
    spool.append(&delivery("1123456789")).unwrap();
    let err = spool.append(&delivery("2123456789")).unwrap_err();
    assert!(matches!(err, SpoolError::Full { .. }), "{err}");
    assert_eq!(texts(&spool), ["0123456789", "1123456789"]);
}

#[test]
fn acknowledged_segments_are_deleted_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let lim = SpoolLimits {
        segment_bytes: 64,
        ..limits()
    };
    let (mut spool, _) = Spool::open(dir.path(), lim).unwrap();
    let seqs: Vec<u64> = (0..10)
        .map(|i| {
            spool
                .append(&delivery(&format!(
                    "payload-{i:02}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                )))
                .unwrap()
                .seq
        })
        .collect();
    assert!(spool.segment_count() >= 5);
    for s in &seqs {
        spool.remove(*s).unwrap();
    }
    assert!(spool.is_empty());
    assert_eq!(spool.segment_count(), 1, "only the tail segment is left");
    drop(spool);
    let (spool, report) = Spool::open(dir.path(), lim).unwrap();
    assert_eq!(report.pending, 0);
    assert!(spool.is_empty());
}

#[test]
fn a_done_record_in_a_later_segment_still_counts_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let lim = SpoolLimits {
        segment_bytes: 64,
        ..limits()
    };
    {
        let (mut spool, _) = Spool::open(dir.path(), lim).unwrap();
        for i in 0..6 {
            spool
                .append(&delivery(&format!(
                    "record-{i}-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
                )))
                .unwrap();
        }
        // Remove the newest first: the oldest segments must stay.
        spool.remove(6).unwrap();
        spool.remove(2).unwrap();
    }
    let (spool, _) = Spool::open(dir.path(), lim).unwrap();
    let left: Vec<u64> =
        std::iter::successors(spool.next_after(None), |s| spool.next_after(Some(*s))).collect();
    assert_eq!(left, [1, 3, 4, 5]);
}
