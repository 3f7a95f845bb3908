//! Agent faults (RELIABILITY.md §6): the `gw-agent` binary in bridge mode
//! against the WizFi310 emulator and the real omp-server, under the
//! emulator's fault injection, OMP stops and agent SIGKILLs; at the end
//! every delivery the agent confirmed must be stored by the OMP or
//! reported dropped by the spool's policy.
//!
//! ```sh
//! cargo build -p gw-agent && cargo run -p gw-agent --example fault_run
//! # longer, release build
//! cargo build --release -p gw-agent --examples
//! target/release/examples/fault_run --duration 30m --agent-kills 40 --omp-outages 40 --seed 7
//! ```
//!
//! The agent binary defaults to `gw-agent` beside this example's directory
//! (`target/<profile>/gw-agent`): build it first. The exit status is 1
//! when a delivery was lost or stored twice (the agent sends keyed
//! deliveries, which the OMP stores once), a row was corrupt, the
//! accounting did not balance or the spool did not drain.
//!
//! # Layout
//!
//! - `harness.rs`: the run, with `harness/processes.rs` (the OMP and the
//!   agent process), `harness/faults.rs` (the fault loops) and
//!   `harness/traffic.rs` (producer, drain, collection).
//! - `ledger.rs`: the accounting (payload naming, classes, balance).

// Loaded by path, as `tests/agent_faults.rs` does, so that its sub-modules
// resolve the same way in both.
#[path = "harness.rs"]
mod harness;
mod ledger;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Fault run of gw-agent (bridge mode, spool) against the emulator and omp-server.
#[derive(Debug, Parser)]
struct Args {
    /// The gw-agent binary [default: target/<profile>/gw-agent].
    #[arg(long)]
    agent_bin: Option<PathBuf>,
    /// Keep the run's files here (OMP database, agent state and log)
    /// instead of a temporary directory.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Seed of the fault schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time faults are injected while deliveries are produced.
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Deliveries per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Payload bytes per delivery (at least 21).
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// Mean time between emulator faults.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    fault_interval: Duration,
    /// SIGKILLs of the agent.
    #[arg(long, default_value_t = 5)]
    agent_kills: usize,
    /// OMP stops.
    #[arg(long, default_value_t = 5)]
    omp_outages: usize,
    /// Shortest OMP outage.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    outage_min: Duration,
    /// Longest OMP outage.
    #[arg(long, default_value = "8s", value_parser = humantime::parse_duration)]
    outage_max: Duration,
    /// The agent's spool.max_bytes (small, so that outages fill it).
    #[arg(long, default_value_t = 8192)]
    spool_bytes: u64,
    /// The agent's delivery.max_in_flight.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// The agent's periods.response_timeout.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    response_timeout: Duration,
    /// Pace the emulator's pty at 115200 bit/s.
    #[arg(long)]
    pace: bool,
    /// Longest wait for the agent's spool to drain after the faults.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    drain_timeout: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fault_run: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let agent_bin = match args.agent_bin {
        Some(bin) => bin,
        None => default_agent_bin()?,
    };
    if !agent_bin.is_file() {
        return Err(format!(
            "no agent binary at {} (cargo build -p gw-agent, or --agent-bin)",
            agent_bin.display()
        )
        .into());
    }
    let temp;
    let work_dir = match args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            dir
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    let opts = harness::Options {
        seed: args.seed,
        duration: args.duration,
        rate: args.rate,
        payload: args.payload.max(ledger::MIN_PAYLOAD),
        fault_interval: args.fault_interval,
        agent_kills: args.agent_kills,
        omp_outages: args.omp_outages,
        outage: (args.outage_min, args.outage_max.max(args.outage_min)),
        spool_bytes: args.spool_bytes,
        in_flight: args.in_flight,
        response_timeout: args.response_timeout,
        pace: args.pace,
        drain_timeout: args.drain_timeout,
        ..harness::Options::new(agent_bin, work_dir.clone())
    };
    println!(
        "fault run: seed {} for {:?}, {} deliveries/s of {} B, emulator fault every {:?} (mean), \
         {} agent kills, {} OMP outages of {:?}..{:?}, spool {} B, {} in flight, response timeout {:?}{}",
        opts.seed,
        opts.duration,
        opts.rate,
        opts.payload,
        opts.fault_interval,
        opts.agent_kills,
        opts.omp_outages,
        opts.outage.0,
        opts.outage.1,
        opts.spool_bytes,
        opts.in_flight,
        opts.response_timeout,
        if opts.pace { ", paced pty" } else { "" }
    );
    let report = harness::run(opts).await?;
    print(&report);
    let t = &report.tally;
    let ok = t.lost.is_empty()
        && t.duplicated == 0
        && t.corrupt_rows == 0
        && t.balances()
        && report.drained
        && t.spooled == 0;
    println!("  verdict: {}", if ok { "PASS" } else { "FAIL" });
    Ok(ok)
}

fn print(report: &harness::Report) {
    let faults: Vec<String> = report
        .faults
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let total: u64 = report.faults.values().sum();
    println!("  faults injected: {total} ({})", faults.join(", "));
    println!(
        "  agent: {} sessions lost and re-established, {} torn spool records cut at start-up, {} unplanned exits{}",
        report.sessions_lost,
        report.torn_spool_records,
        report.agent_exits.len(),
        if report.agent_exits.is_empty() {
            String::new()
        } else {
            format!(" ({})", report.agent_exits.join("; "))
        }
    );
    let t = &report.tally;
    println!(
        "  produced (confirmed by the agent) {}: stored once {}, duplicated {} ({} extra rows, {} with one T-ID), \
         dropped by policy {} (+{} dropped but stored), set aside {}, left in the spool {}, lost {}",
        t.produced,
        t.stored_once,
        t.duplicated,
        t.extra_rows,
        t.duplicated_same_tid,
        t.dropped,
        t.dropped_but_stored,
        t.rejected,
        t.spooled,
        t.lost.len()
    );
    for d in t.duplicates.iter().take(10) {
        let copies: Vec<String> = d
            .copies
            .iter()
            .map(|(tid, at)| format!("T-ID {tid} at {at}"))
            .collect();
        println!("  duplicate {}: {}", d.seq, copies.join(", "));
    }
    println!(
        "  OMP: {} keyed resends acknowledged without a second row",
        report.resends_recognised
    );
    if t.duplicated > 0 {
        println!(
            "  duplicates with an agent SIGKILL between their copies: {} of {}",
            report.duplicates_across_kills, t.duplicated
        );
    }
    if !t.lost.is_empty() {
        let shown: Vec<String> = t.lost.iter().take(20).map(u64::to_string).collect();
        println!("  LOST: {}", shown.join(" "));
    }
    println!(
        "  also: {} unconfirmed (agent killed before answering; {} stored anyway), {} refused, \
         {} rows under {} GW ID(s), {} corrupt or foreign rows, {} stored out of order, \
         {} unreadable report lines; accounting balances: {}",
        t.unconfirmed,
        t.unconfirmed_stored,
        t.refused,
        t.rows,
        t.gw_ids,
        t.corrupt_rows,
        t.out_of_order,
        report.unreadable_records,
        t.balances()
    );
    println!(
        "  time: faults {:.1} s, drain {:.1} s{}, total {:.1} s",
        report.fault_time.as_secs_f64(),
        report.drain_time.as_secs_f64(),
        if report.drained { "" } else { " (NOT drained)" },
        report.total_time.as_secs_f64()
    );
}

/// `target/<profile>/gw-agent`, beside `target/<profile>/examples/`.
fn default_agent_bin() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or("cannot find the target directory from this example's path")?;
    Ok(profile_dir.join(format!("gw-agent{}", std::env::consts::EXE_SUFFIX)))
}
