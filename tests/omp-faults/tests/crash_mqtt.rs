//! `omp-faults crash-mqtt` at the size of the promise: 20 SIGKILLs (plus
//! the final idle one) of a real OMP child process during a 1,000-client
//! QoS 1 flood; every PUBACKed message must be stored, stored twice only
//! when a kill took its PUBACK and the client published it again, and
//! the database must pass `integrity_check`.

mod common;

use common::run_faults;

#[test]
fn twenty_sigkills_during_a_thousand_client_qos1_flood_lose_no_pubacked_message() {
    let run = run_faults(&[
        "crash-mqtt",
        "--kills",
        "20",
        "--clients",
        "1000",
        "--max-acks-between-kills",
        "2000",
        "--phase-timeout",
        "60s",
    ]);
    run.assert_clean();
    assert_eq!(run.num("kills"), 20);
    for key in ["lost", "duplicated", "foreign"] {
        assert_eq!(run.num(key), 0, "{key}: {}\n{}", run.report, run.stderr);
    }
    assert_eq!(run.report["integrity"], "ok", "{}", run.report);
    assert!(run.num("acknowledged") > 0, "{}", run.report);
    // Kills hit publishes in flight: the run exercised the resend.
    assert!(run.num("unanswered") > 0, "{}", run.report);
    assert!(
        !run.stderr.contains("the server panicked"),
        "{}",
        run.stderr
    );
}
