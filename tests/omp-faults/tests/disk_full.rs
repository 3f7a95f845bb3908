//! `omp-faults disk-full`, reduced for CI.
//!
//! The promise checked in CI: while the disk is full, deliveries are
//! answered with an error rc, never a false STATUS_OK (every acknowledged
//! delivery is in the database, byte-exact), the OMP stays up and stops
//! cleanly; and once space returns, deliveries are stored and acknowledged
//! again without a restart.
//!
//! The fsize method runs everywhere; the tmpfs method needs CAP_SYS_ADMIN
//! and says so and returns when it cannot mount.

mod common;

use common::{Run, run_faults};

const RESUMPTION_BUG: &str = "the OMP did not resume when space returned";

fn disk_full(method: &str) -> Run {
    run_faults(&[
        "disk-full",
        "--method",
        method,
        "--gateways",
        "4",
        "--before",
        "50",
        "--full-errors",
        "20",
        "--hold",
        "500ms",
        "--after",
        "50",
        "--phase-timeout",
        "10s",
        // The known resumption failure would keep a directory per run.
        "--keep",
        "never",
    ])
}

/// No false STATUS_OK, error answers seen, no other violation than the
/// known resumption failure.
fn assert_no_false_ok(run: &Run) {
    assert!(
        run.code == 0 || run.code == 1,
        "{}\n{}",
        run.report,
        run.stderr
    );
    run.assert_nothing_lost();
    assert!(run.num("errors_while_full") >= 20, "{}", run.report);
    assert_eq!(run.report["clean_stop"], "exit status: 0", "{}", run.report);
    for line in run.stderr.lines().filter(|l| l.contains("VIOLATION")) {
        assert!(
            line.contains(RESUMPTION_BUG),
            "unexpected violation: {line}"
        );
    }
}

fn tmpfs_unavailable(run: &Run) -> bool {
    run.code == 2 && run.stderr.contains("cannot make a size-limited filesystem")
}

#[test]
fn full_disk_by_file_size_limit_gets_error_answers_never_false_ok() {
    let run = disk_full("fsize");
    assert_eq!(run.report["method"], "fsize");
    assert_no_false_ok(&run);
}

#[test]
fn full_tmpfs_gets_error_answers_never_false_ok() {
    let run = disk_full("tmpfs");
    if tmpfs_unavailable(&run) {
        eprintln!(
            "skipped: no tmpfs mount here (needs CAP_SYS_ADMIN): {}",
            run.stderr
        );
        return;
    }
    assert_eq!(run.report["method"], "tmpfs");
    assert_eq!(run.num("free_bytes_when_full"), 0, "{}", run.report);
    assert_no_false_ok(&run);
}

#[test]
fn deliveries_resume_when_the_file_size_limit_is_lifted() {
    let run = disk_full("fsize");
    run.assert_clean();
    run.assert_nothing_lost();
    assert!(run.report["resume_ms"].is_number(), "{}", run.report);
}

#[test]
fn deliveries_resume_when_tmpfs_space_returns() {
    let run = disk_full("tmpfs");
    if tmpfs_unavailable(&run) {
        eprintln!(
            "skipped: no tmpfs mount here (needs CAP_SYS_ADMIN): {}",
            run.stderr
        );
        return;
    }
    run.assert_clean();
    run.assert_nothing_lost();
    assert!(run.report["resume_ms"].is_number(), "{}", run.report);
}
