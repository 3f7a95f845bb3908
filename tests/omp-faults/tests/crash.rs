//! `omp-faults crash`, reduced for CI: 50 SIGKILLs under load (plus the
//! final idle one) of a real OMP child process, then every acknowledged
//! delivery must be in the database exactly once, byte-exact. On
//! PostgreSQL (`--database-url`, a database of its own per test) 20.

mod common;

use common::run_faults;

/// `omp-faults crash` with `kills` kills, 8 gateways, plus `extra` flags.
fn crash(kills: &str, extra: &[&str]) -> common::Run {
    let mut args = vec![
        "crash",
        "--kills",
        kills,
        "--gateways",
        "8",
        "--in-flight",
        "2",
        "--max-acks-between-kills",
        "100",
        "--phase-timeout",
        "30s",
    ];
    args.extend_from_slice(extra);
    run_faults(&args)
}

/// `omp-faults crash` with 50 kills, 8 gateways, plus `extra` flags.
fn fifty_kills(extra: &[&str]) -> common::Run {
    crash("50", extra)
}

#[test]
fn fifty_sigkills_lose_nothing_acknowledged() {
    let run = fifty_kills(&[]);
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.num("kills"), 50);
    // Kills hit sessions with deliveries outstanding: the run really
    // exercised the "sent but not answered" case.
    assert!(run.num("unanswered") > 0, "{}", run.report);
    assert!(run.num("sessions") > 8, "{}", run.report);
}

/// The same with keyed deliveries: a send committed just before a kill is
/// sent again after the restart under the same key, and the OMP
/// acknowledges it without a second row — not even `retry_duplicates`.
#[test]
fn with_keyed_deliveries_fifty_sigkills_store_each_delivery_once() {
    let run = fifty_kills(&["--keyed"]);
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.num("retry_duplicates"), 0, "{}", run.report);
    assert!(run.num("unanswered") > 0, "{}", run.report);
}

/// Split deliveries (2‥3 parts of 2048 bytes each) whose parts all carry
/// the delivery's T-ID: kills also land between the parts of one
/// delivery, whose resend starts a new split; every acknowledged delivery
/// is one whole row, byte-exact.
#[test]
fn with_split_deliveries_under_one_tid_fifty_sigkills_lose_nothing_acknowledged() {
    let run = fifty_kills(&["--split", "same"]);
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.report["split"], "same", "{}", run.report);
}

/// The same with each part under the previous part's T-ID plus one, as
/// SK Telecom's library sends them (GO_Delivery once per part).
#[test]
fn with_split_deliveries_under_per_part_tids_fifty_sigkills_lose_nothing_acknowledged() {
    let run = fifty_kills(&["--split", "per-part"]);
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.report["split"], "per-part", "{}", run.report);
}

/// A database of its own on the PostgreSQL of `OMP_TEST_POSTGRES_URL` (or
/// a throwaway cluster); `None` when there is none and `CI` is not `true`.
fn postgres_database(test: &str) -> Option<test_support::postgres::TestDatabase> {
    tokio::runtime::Runtime::new()
        .expect("a runtime to create the database")
        .block_on(test_support::postgres::TestDatabase::create(test))
}

/// `omp-faults crash` with 20 kills, 8 gateways, the OMP on a PostgreSQL
/// database of its own, plus `extra` flags. The database (and the
/// throwaway cluster, if one was made) lives until the run has ended.
fn twenty_kills_on_postgres(test: &str, extra: &[&str]) -> Option<common::Run> {
    let database = postgres_database(test)?;
    let mut flags = vec!["--database-url", database.url.as_str()];
    flags.extend_from_slice(extra);
    let run = crash("20", &flags);
    drop(database);
    Some(run)
}

/// The plain run on PostgreSQL: PostgreSQL stays up while the OMP is
/// SIGKILLed, so each kill ends the server's connections mid-transaction;
/// every acknowledged delivery must have been committed, and read back.
#[test]
fn on_postgres_twenty_sigkills_lose_nothing_acknowledged() {
    let Some(run) = twenty_kills_on_postgres("crash_on_postgres", &[]) else {
        return;
    };
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.report["store"], "postgres", "{}", run.report);
    assert_eq!(run.num("kills"), 20);
    assert!(run.num("unanswered") > 0, "{}", run.report);
}

/// The same with keyed deliveries: a send committed on PostgreSQL just
/// before a kill is sent again after the restart under the same key, and
/// the OMP acknowledges it without a second row.
#[test]
fn on_postgres_with_keyed_deliveries_twenty_sigkills_store_each_delivery_once() {
    let Some(run) = twenty_kills_on_postgres("crash_keyed_on_postgres", &["--keyed"]) else {
        return;
    };
    run.assert_clean();
    run.assert_nothing_lost();
    assert_eq!(run.report["store"], "postgres", "{}", run.report);
    assert_eq!(run.num("retry_duplicates"), 0, "{}", run.report);
    assert!(run.num("unanswered") > 0, "{}", run.report);
}
