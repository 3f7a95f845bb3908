//! `omp-faults crash-controls`, reduced for CI: 20 SIGKILLs (plus the
//! final idle one) of a real OMP child process while controls are POSTed
//! and executed by WizFi310-like gateways; then every control answered
//! 202 must be stored once, end final by the queue's rules, show no lost
//! or undone state, and run again only when it was requeued from SENT.

mod common;

use common::run_faults;

/// `omp-faults crash-controls` with 20 kills, 8 gateways, plus `extra`.
fn twenty_kills(extra: &[&str]) -> common::Run {
    let mut args = vec![
        "crash-controls",
        "--kills",
        "20",
        "--gateways",
        "8",
        "--depth",
        "3",
        "--max-events-between-kills",
        "40",
        "--phase-timeout",
        "30s",
    ];
    args.extend_from_slice(extra);
    run_faults(&args)
}

#[test]
fn twenty_sigkills_undo_no_control_state() {
    let run = twenty_kills(&[]);
    run.assert_clean();
    assert_eq!(run.num("kills"), 20);
    for key in ["problems", "violations", "stored_unanswered"] {
        assert_eq!(run.num(key), 0, "{key}: {}\n{}", run.report, run.stderr);
    }
    assert_eq!(run.report["integrity"], "ok", "{}", run.report);
    let posted = run.num("controls_posted");
    assert!(posted > 0, "{}", run.report);
    assert_eq!(run.num("rows"), posted, "{}", run.report);
    // Every control ended SUCCESS or in an allowed TIMEOUT.
    assert_eq!(
        run.num("succeeded") + run.num("timed_out"),
        posted,
        "{}",
        run.report
    );
    // Every TIMEOUT is a control that was PROGRESS at a kill.
    assert!(
        run.num("timed_out") <= run.num("progress_at_kill"),
        "{}",
        run.report
    );
    // Kills hit the API and sessions: POSTs lost their answer and were
    // retried under the same Idempotency-Key, and gateways came back.
    assert!(run.num("posts_unanswered") > 0, "{}", run.report);
    assert!(run.num("sessions") > 8, "{}", run.report);
    assert!(
        !run.stderr.contains("the server panicked"),
        "{}",
        run.stderr
    );
}

/// Gateways that send an unanswered 0x17 again after reconnecting (the
/// WizFi310 does not; other clients may): a repeat is acknowledged again,
/// never taken as the result of another control.
#[test]
fn repeated_notifications_never_complete_another_control() {
    let run = twenty_kills(&["--resend-notifications", "--seed", "9"]);
    run.assert_clean();
    for key in ["problems", "violations", "stored_unanswered"] {
        assert_eq!(run.num(key), 0, "{key}: {}\n{}", run.report, run.stderr);
    }
    assert_eq!(run.report["integrity"], "ok", "{}", run.report);
    assert!(run.num("resends") > 0, "{}", run.report);
}
