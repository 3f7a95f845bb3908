//! `omp-faults agent`, reduced for CI: the real agent code (this crate's
//! hidden `run-agent`) in bridge mode against a module emulator — the
//! WizFi310's, then the WIZ550S2E's — and the real omp-server, with every
//! kind of that emulator's faults, OMP stops and agent SIGKILLs.

use std::time::Duration;

use omp_faults::program::{Program, RUN_AGENT};
use omp_faults::scenario::agent::{self, emulator::ModuleKind};

/// `omp-faults agent`, shortened: lost must be 0 and every confirmed
/// delivery in exactly one class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmed_delivery_is_stored_or_reported_dropped_under_faults() {
    short_run(ModuleKind::Wizfi310, 20261121, Duration::from_secs(12)).await;
}

/// The same over a WIZ550S2E: its link down, peer closes, silent
/// reboots, a full transmit buffer and the response faults. Longer: a
/// silent reboot leaves the module in data mode, and the agent needs
/// some 5 s (an unanswered AT+NSEND, the re-sync, the wait for `AT`
/// before `+++`) to have a session again, so in 12 s most faults would
/// find no session to hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmed_delivery_over_a_wiz550s2e_is_stored_or_reported_dropped_under_faults() {
    short_run(ModuleKind::Wiz550s2e, 20261204, Duration::from_secs(20)).await;
}

async fn short_run(module: ModuleKind, seed: u64, duration: Duration) {
    let work = tempfile::tempdir().unwrap();
    let opts = agent::Options {
        module,
        seed,
        duration,
        rate: 25.0,
        fault_interval: Duration::from_millis(600),
        agent_kills: 2,
        omp_outages: 2,
        outage: (Duration::from_millis(1500), Duration::from_secs(3)),
        spool_bytes: 4096,
        drain_timeout: Duration::from_secs(60),
        ..agent::Options::new(
            Program::SelfRun {
                exe: env!("CARGO_BIN_EXE_omp-faults").into(),
                subcommand: RUN_AGENT,
            },
            work.path().to_owned(),
        )
    };
    let report = agent::run(opts).await.unwrap();
    let t = &report.tally;
    // Shown with --nocapture: what this run did.
    eprintln!(
        "{}: faults {:?}; {} sessions lost, {} re-syncs, {} torn spool records, {} duplicates across kills, {} keyed resends recognised; {t:?}; faults {:?}, drain {:?}, total {:?}",
        module.name(),
        report.faults,
        report.sessions_lost,
        report.resyncs,
        report.torn_spool_records,
        report.duplicates_across_kills,
        report.resends_recognised,
        report.fault_time,
        report.drain_time,
        report.total_time
    );
    let summary = format!("{report:#?}");
    assert!(t.lost.is_empty(), "lost deliveries: {summary}");
    assert_eq!(t.duplicated, 0, "stored twice: {summary}");
    assert!(t.balances(), "{summary}");
    assert_eq!(t.corrupt_rows, 0, "{summary}");
    assert!(report.drained && t.spooled == 0, "{summary}");
    assert!(t.produced > 0 && t.stored_once > 0, "{summary}");
    assert_eq!(t.gw_ids, 1, "one identity throughout: {summary}");
    assert!(report.agent_exits.is_empty(), "{summary}");
    assert_eq!(report.unreadable_records, 0, "{summary}");
    assert!(report.violations().is_empty(), "{summary}");
    for (kind, _) in agent::emulator::fault_kinds(module) {
        assert!(report.faults.get(kind) >= Some(&1), "no {kind}: {summary}");
    }
    assert_eq!(report.faults.get("agent-kill"), Some(&2), "{summary}");
    assert_eq!(report.faults.get("omp-stop"), Some(&2), "{summary}");
}
