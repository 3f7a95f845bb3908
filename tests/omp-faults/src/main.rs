//! `omp-faults`: parse the command line, run one fault test, print its
//! figures; exit 0 (all promises held), 1 (a violation), 2 (the run
//! failed).

use std::process::ExitCode;

use clap::Parser;
use omp_faults::cli::{Cli, Command, Common};
use omp_faults::program::{self, Program};
use omp_faults::scenario::crash::{self, CrashOptions};
use omp_faults::scenario::crash_controls::{self, CrashControlsOptions};
use omp_faults::scenario::crash_mqtt::{self, CrashMqttOptions};
use omp_faults::scenario::crash_webhooks::{self, CrashWebhooksOptions};
use omp_faults::scenario::disk_full::{self, DiskFullOptions};
use omp_faults::scenario::fd_limit::{self, FdLimitOptions};
use omp_faults::scenario::{Outcome, agent};
use omp_faults::{FaultError, run_agent, serve};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("omp-faults: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::RunAgent(args) = &cli.command {
        return match runtime.block_on(run_agent::run_agent(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("omp-faults run-agent: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Serve(args) = &cli.command {
        return match runtime.block_on(serve::serve(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("omp-faults serve: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(run(&cli.command)) {
        Ok(outcome) => {
            if cli.json {
                println!("{}", outcome.report.to_json());
            } else {
                println!("{}", outcome.report);
            }
            for v in &outcome.violations {
                eprintln!("omp-faults: VIOLATION: {v}");
            }
            if let Some(dir) = &outcome.kept_dir {
                eprintln!("omp-faults: working directory kept: {}", dir.display());
            }
            if outcome.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("omp-faults: {e}");
            ExitCode::from(2)
        }
    }
}

fn program(common: &Common) -> Result<Program, FaultError> {
    Program::choose(common.server_bin.clone(), program::SERVE)
}

async fn run(command: &Command) -> Result<Outcome, FaultError> {
    match command {
        Command::Crash {
            kills,
            gateways,
            in_flight,
            seed,
            max_acks_between_kills,
            early_kill_percent,
            keyed,
            split,
            database_url,
            common,
        } => {
            crash::run(&CrashOptions {
                program: program(common)?,
                kills: *kills,
                gateways: *gateways,
                in_flight: *in_flight,
                seed: *seed,
                max_acks_between_kills: *max_acks_between_kills,
                early_kill_percent: *early_kill_percent,
                keyed: *keyed,
                split: *split,
                database_url: database_url.clone(),
                phase_timeout: common.phase_timeout,
                keep: common.keep,
            })
            .await
        }
        Command::CrashControls {
            kills,
            gateways,
            depth,
            seed,
            max_events_between_kills,
            early_kill_percent,
            completion_timeout,
            resend_notifications,
            common,
        } => {
            crash_controls::run(&CrashControlsOptions {
                program: program(common)?,
                kills: *kills,
                gateways: *gateways,
                depth: *depth,
                seed: *seed,
                max_events_between_kills: *max_events_between_kills,
                early_kill_percent: *early_kill_percent,
                completion_timeout: *completion_timeout,
                resend_notifications: *resend_notifications,
                phase_timeout: common.phase_timeout,
                keep: common.keep,
            })
            .await
        }
        Command::CrashMqtt {
            kills,
            clients,
            seed,
            max_acks_between_kills,
            common,
        } => {
            crash_mqtt::run(&CrashMqttOptions {
                program: program(common)?,
                kills: *kills,
                clients: *clients,
                seed: *seed,
                max_acks_between_kills: *max_acks_between_kills,
                phase_timeout: common.phase_timeout,
                keep: common.keep,
            })
            .await
        }
        Command::CrashWebhooks {
            kills,
            gateways,
            deliveries,
            seed,
            max_posts_between_kills,
            receiver_delay,
            common,
        } => {
            crash_webhooks::run(&CrashWebhooksOptions {
                program: program(common)?,
                kills: *kills,
                gateways: *gateways,
                deliveries: *deliveries,
                seed: *seed,
                max_posts_between_kills: *max_posts_between_kills,
                receiver_delay: *receiver_delay,
                phase_timeout: common.phase_timeout,
                keep: common.keep,
            })
            .await
        }
        Command::DiskFull {
            method,
            size_mib,
            gateways,
            before,
            full_errors,
            hold,
            after,
            common,
        } => {
            disk_full::run(&DiskFullOptions {
                program: program(common)?,
                method: *method,
                size_mib: *size_mib,
                gateways: *gateways,
                before_acks: *before,
                full_errors: *full_errors,
                hold: *hold,
                after_acks: *after,
                phase_timeout: common.phase_timeout,
                keep: common.keep,
            })
            .await
        }
        Command::FdLimit {
            open_files,
            max_connections,
            idle,
            flood,
            gateways,
            hold,
            probe_timeout,
            common,
        } => {
            fd_limit::run(&FdLimitOptions {
                program: program(common)?,
                open_files: *open_files,
                max_connections: *max_connections,
                idle: *idle,
                flood: *flood,
                gateways: *gateways,
                hold: *hold,
                probe_timeout: *probe_timeout,
                phase_timeout: common.phase_timeout,
                keep: common.keep,
            })
            .await
        }
        Command::Agent(args) => agent::run_from_args(args).await,
        Command::Serve(_) | Command::RunAgent(_) => Err(FaultError::Config {
            option: "serve",
            detail: "handled before the runs".into(),
        }),
    }
}
