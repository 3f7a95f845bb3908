//! `omp-faults fd-limit`, reduced for CI: the OMP at its open-file limit
//! (accept hits EMFILE), and behind its connection cap.

mod common;

use common::run_faults;

#[test]
fn at_the_fd_limit_the_omp_keeps_serving_and_recovers() {
    let run = run_faults(&[
        "fd-limit",
        "--open-files",
        "96",
        "--hold",
        "1s",
        "--phase-timeout",
        "30s",
    ]);
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.report["limit_reached"], true, "{}", run.report);
    assert!(run.num("acked_during_limit") > 0, "{}", run.report);
    assert!(run.report["recover_ms"].is_number(), "{}", run.report);
    // Descriptors are given back once the idle connections close.
    assert!(run.num("server_fds_after") < run.num("server_fds_peak"));
}

#[test]
fn behind_the_connection_cap_the_omp_keeps_serving_and_recovers() {
    let run = run_faults(&[
        "fd-limit",
        "--open-files",
        "96",
        "--max-connections",
        "24",
        "--idle",
        "60",
        "--hold",
        "1s",
        "--phase-timeout",
        "30s",
    ]);
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.report["limit_reached"], false, "{}", run.report);
    assert!(run.num("acked_during_limit") > 0, "{}", run.report);
    assert!(run.report["recover_ms"].is_number(), "{}", run.report);
}
