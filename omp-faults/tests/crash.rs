//! `omp-faults crash`, reduced for CI: 50 SIGKILLs under load (plus the
//! final idle one) of a real OMP child process, then every acknowledged
//! delivery must be in the database exactly once, byte-exact.

mod common;

use common::run_faults;

#[test]
fn fifty_sigkills_lose_nothing_acknowledged() {
    let run = run_faults(&[
        "crash",
        "--kills",
        "50",
        "--gateways",
        "8",
        "--in-flight",
        "2",
        "--max-acks-between-kills",
        "100",
        "--phase-timeout",
        "30s",
    ]);
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.num("kills"), 50);
    // Kills hit sessions with deliveries outstanding: the run really
    // exercised the "sent but not answered" case.
    assert!(run.num("unanswered") > 0, "{}", run.report);
    assert!(run.num("sessions") > 8, "{}", run.report);
}
