//! `omp-faults crash-webhooks`, reduced for CI: 15 SIGKILLs (plus the
//! final idle one) of a real OMP child process while a webhook works
//! through a backlog of delivery events; every stored event must reach
//! the receiver, in order, repeated only within what the kills left
//! uncommitted.

mod common;

use common::run_faults;

#[test]
fn fifteen_sigkills_mid_backlog_lose_and_reorder_no_webhook_event() {
    let run = run_faults(&[
        "crash-webhooks",
        "--kills",
        "15",
        "--gateways",
        "4",
        "--deliveries",
        "300",
        "--max-posts-between-kills",
        "60",
        "--phase-timeout",
        "60s",
    ]);
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.num("kills"), 15);
    for key in ["webhook_missing", "webhook_phantom", "webhook_skipped"] {
        assert_eq!(run.num(key), 0, "{key}: {}\n{}", run.report, run.stderr);
    }
    let events = run.num("delivery_events");
    assert!(events >= 4 * 300, "{}", run.report);
    assert!(run.num("webhook_posts") >= events, "{}", run.report);
    // The bound itself is the scenario's (a violation above it); some
    // kills must have hit with a cursor uncommitted.
    assert!(run.num("webhook_repeats") > 0, "{}", run.report);
}
