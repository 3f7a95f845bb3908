//! The checker on hand-made runs: one of each allowed case and of each
//! broken promise, classified exactly.

use super::*;
use crate::scenario::crash_controls::ledger::{PostAttempt, PostOutcome};

const GW: &str = "GW00000000000000";

fn key(seq: u64) -> ControlKey {
    ControlKey { gateway: 0, seq }
}

fn timeline(steps: &[(&str, i64)]) -> Vec<(String, i64)> {
    steps.iter().map(|(s, t)| (s.to_string(), *t)).collect()
}

fn row(id: i64, seq: u64, steps: &[(&str, i64)], tid: u32) -> DbControl {
    let timeline = timeline(steps);
    let (state, end) = timeline.last().cloned().unwrap();
    let success = state == "SUCCESS";
    DbControl {
        id,
        gw_id: GW.into(),
        device_id: String::new(),
        control_type: i64::from(super::super::CONTROL_TYPE),
        data: Some(key(seq).data()),
        tid: Some(i64::from(tid)),
        state,
        result_code: success.then_some(0),
        result_data: success.then(|| key(seq).data()),
        created_at: timeline[0].1,
        completed_at: Some(end),
        idempotency_key: Some(key(seq).idempotency_key()),
        timeline,
    }
}

/// A record that saw every prefix of `row`'s timeline, in order.
fn record(row: &DbControl, seq: u64) -> ControlRecord {
    let mut r = ControlRecord::new(key(seq));
    r.id = Some(row.id);
    r.attempts.push(PostAttempt {
        started_ms: row.created_at,
        outcome: PostOutcome::Accepted(row.id),
    });
    for n in 1..=row.timeline.len() {
        r.observations.push(observed(&row.timeline[..n]));
    }
    r
}

fn observed(steps: &[(String, i64)]) -> Observation {
    Observation {
        state: steps.last().unwrap().0.clone(),
        timeline: steps
            .iter()
            .map(|(s, t)| Step {
                state: s.clone(),
                at: api_time(*t),
            })
            .collect(),
    }
}

fn arrival(seq: u64, tid: u32, at_ms: i64, answers: &[u8]) -> Arrival {
    Arrival {
        key: key(seq),
        tid,
        session: 1,
        at_ms,
        after_ack: false,
        notifications_sent: 1,
        answers: answers.to_vec(),
    }
}

fn gateway(arrivals: Vec<Arrival>) -> GatewayRecord {
    GatewayRecord {
        index: 0,
        gw_id: Some(GW.into()),
        sessions: 2,
        arrivals,
        ..GatewayRecord::default()
    }
}

fn run(
    records: &[ControlRecord],
    gateways: &[GatewayRecord],
    kills_ms: &[i64],
    rows: &[DbControl],
) -> Verdict {
    let facts = Facts {
        records,
        gateways,
        kills: &kills_ms
            .iter()
            .map(|&t| Kill {
                sent_ms: t,
                reaped_ms: t,
            })
            .collect::<Vec<_>>(),
        completion_timeout_ms: 1000,
        resend_notifications: false,
    };
    check(&facts, rows, "ok".into())
}

fn kinds(v: &Verdict) -> Vec<String> {
    v.problems.lines()
}

#[test]
fn a_requeued_success_and_an_allowed_timeout_are_clean() {
    // Control 1: SENT, killed at 150 before its 0x0E, requeued at the
    // restart, executed twice (at-least-once), SUCCESS.
    let ok = row(
        1,
        0,
        &[
            ("QUEUED", 100),
            ("SENT", 101),
            ("QUEUED", 160),
            ("SENT", 170),
            ("PROGRESS", 172),
            ("SUCCESS", 173),
        ],
        100_001,
    );
    // Control 2: PROGRESS when the kill hit at 150, its 0x17 lost: TIMEOUT
    // one completion timeout later.
    let timed_out = row(
        2,
        1,
        &[
            ("QUEUED", 100),
            ("SENT", 140),
            ("PROGRESS", 145),
            ("TIMEOUT", 1145),
        ],
        100_000,
    );
    let records = [record(&ok, 0), record(&timed_out, 1)];
    let gateways = [gateway(vec![
        arrival(1, 100_000, 141, &[]),
        arrival(0, 100_005, 102, &[]),
        arrival(0, 100_001, 171, &[0]),
    ])];
    let v = run(&records, &gateways, &[150], &[ok, timed_out]);
    assert_eq!(kinds(&v), Vec::<String>::new());
    assert_eq!((v.succeeded, v.timed_out), (1, 1));
    assert_eq!((v.requeues, v.controls_requeued, v.resends), (1, 1, 1));
    assert_eq!((v.arrivals, v.duplicate_arrivals), (3, 1));
    assert_eq!(v.notifications_unanswered, 2);
    assert_eq!((v.sent_at_kill, v.progress_at_kill), (1, 1));
    assert!(v.violations().is_empty());
}

#[test]
fn a_timeout_after_an_acknowledged_result_is_a_lost_success() {
    let r = row(
        1,
        0,
        &[
            ("QUEUED", 100),
            ("SENT", 101),
            ("PROGRESS", 102),
            ("TIMEOUT", 1102),
        ],
        100_000,
    );
    let records = [record(&r, 0)];
    let gateways = [gateway(vec![arrival(0, 100_000, 101, &[0])])];
    let v = run(&records, &gateways, &[103], &[r]);
    assert_eq!(v.problems.count("TIMEOUTs that are not allowed"), 1);
    assert_eq!(
        v.problems
            .count("acknowledged results lost (0x18 rc 0, control not SUCCESS)"),
        1
    );
    assert_eq!(v.timed_out, 0);
}

#[test]
fn a_timeout_without_a_kill_or_too_early_is_not_allowed() {
    let steps = [
        ("QUEUED", 100),
        ("SENT", 101),
        ("PROGRESS", 102),
        ("TIMEOUT", 500),
    ];
    let r = row(1, 0, &steps, 100_000);
    let records = [record(&r, 0)];
    let gateways = [gateway(vec![arrival(0, 100_000, 101, &[])])];
    let no_kill = run(&records, &gateways, &[], std::slice::from_ref(&r));
    assert!(
        kinds(&no_kill)[0].contains("no kill between"),
        "{:?}",
        kinds(&no_kill)
    );
    let early = run(&records, &gateways, &[200], &[r]);
    assert!(kinds(&early)[0].contains("before control_completion_timeout"));
}

#[test]
fn a_control_answered_202_but_not_stored_is_lost() {
    let r = row(7, 0, &[("QUEUED", 100)], 100_000);
    let records = [record(&r, 0)];
    let v = run(&records, &[gateway(vec![])], &[], &[]);
    assert_eq!(
        v.problems
            .count("controls answered 202 that are not stored (lost)"),
        1
    );
}

#[test]
fn a_shown_state_that_was_rewritten_is_caught() {
    let stored = row(
        1,
        0,
        &[
            ("QUEUED", 100),
            ("SENT", 101),
            ("QUEUED", 160),
            ("SENT", 170),
            ("PROGRESS", 171),
            ("SUCCESS", 172),
        ],
        100_001,
    );
    let mut rec = record(&stored, 0);
    // The API had shown PROGRESS after the first SENT: a committed
    // PROGRESS that the restart undid.
    rec.observations.insert(
        2,
        observed(&timeline(&[
            ("QUEUED", 100),
            ("SENT", 101),
            ("PROGRESS", 102),
        ])),
    );
    let gateways = [gateway(vec![
        arrival(0, 100_000, 101, &[]),
        arrival(0, 100_001, 170, &[0]),
    ])];
    let v = run(&[rec], &gateways, &[150], &[stored]);
    assert_eq!(
        v.problems.count(
            "API answers not a prefix of the stored timeline (a shown state was lost or rewritten)"
        ),
        1
    );
    assert_eq!(
        v.problems
            .count("API answers that do not extend the answer before them (a state went back)"),
        1
    );
}

#[test]
fn execution_after_success_and_unexplained_requeues_are_caught() {
    let r = row(
        1,
        0,
        &[
            ("QUEUED", 100),
            ("SENT", 101),
            ("QUEUED", 120),
            ("SENT", 121),
            ("PROGRESS", 122),
            ("SUCCESS", 123),
        ],
        100_001,
    );
    let records = [record(&r, 0)];
    let mut late = arrival(0, 100_009, 400, &[]);
    late.after_ack = true;
    let gateways = [gateway(vec![arrival(0, 100_001, 121, &[0]), late])];
    // The only kill is long after the requeue.
    let v = run(&records, &gateways, &[300], &[r]);
    for kind in [
        "SENT → QUEUED with no kill or session end in between",
        "controls executed again after their SUCCESS",
        "controls executed again after their result was acknowledged",
    ] {
        assert_eq!(v.problems.count(kind), 1, "{kind}: {:?}", kinds(&v));
    }
}

#[test]
fn replays_and_retries_name_one_control() {
    let r = row(
        3,
        0,
        &[
            ("QUEUED", 100),
            ("SENT", 101),
            ("PROGRESS", 102),
            ("SUCCESS", 103),
        ],
        100_000,
    );
    let mut rec = record(&r, 0);
    // The first POST's answer died after its commit; the retry found it.
    rec.attempts.insert(
        0,
        PostAttempt {
            started_ms: 99,
            outcome: PostOutcome::Unanswered("connection reset".into()),
        },
    );
    rec.attempts[1].started_ms = 300;
    rec.replays = vec![3, 4];
    let gateways = [gateway(vec![arrival(0, 100_000, 101, &[0])])];
    let v = run(&[rec], &gateways, &[], &[r]);
    assert_eq!((v.posts_retried, v.retry_found_existing), (1, 1));
    assert_eq!(v.replays, 2);
    assert_eq!(
        v.problems.count("replayed POSTs answering another control"),
        1
    );
}
