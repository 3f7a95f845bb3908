//! [`run`]: turns a parsed command line into a scenario run, prints the
//! figures, and decides the exit code (non-zero when the run failed or its
//! check — rows = acknowledged, no control lost — did not hold).

use std::process::ExitCode;
use std::time::Duration;

use crate::ceiling::mqtt::{self, MqttCeilingOptions};
use crate::ceiling::sqlite::{self, SqliteCeilingOptions};
use crate::ceiling::tcp::{self, TcpCeilingOptions};
use crate::cli::{Cli, Scenario};
use crate::error::BenchError;
use crate::http::ApiClient;
use crate::scenario::api::{self, ApiOptions};
use crate::scenario::control::{self, ControlOptions};
use crate::scenario::events::{self, EventsOptions};
use crate::scenario::hostile::{self, HostileOptions};
use crate::scenario::ingest::{self, IngestOptions};
use crate::scenario::mqtt_sessions::{self, MqttSessionsOptions};
use crate::scenario::sessions::{self, SessionsOptions, WorkerPlan};
use test_support::report::Report;

/// Runs the command line's scenario and prints its figures.
pub async fn run(cli: Cli) -> ExitCode {
    if let Scenario::SessionsWorker(args) = &cli.scenario {
        let plan = WorkerPlan {
            target: cli.target,
            first_index: args.first_index,
            count: args.sessions.sessions,
            per_source: args.per_source,
            heartbeat_period: Duration::from_secs(args.sessions.heartbeat_period.max(1)),
            connect_concurrency: args.sessions.connect_concurrency,
            auth_prefix: args.sessions.auth_prefix.clone(),
        };
        return match sessions::worker_main(plan, args.max_seconds).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gmmp-bench sessions-worker: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let json = cli.json;
    match dispatch(&cli).await {
        Ok((report, check)) => {
            print(&report, json);
            match check {
                None => ExitCode::SUCCESS,
                Some(e) => {
                    eprintln!("gmmp-bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("gmmp-bench {}: {e}", scenario_name(&cli.scenario));
            ExitCode::FAILURE
        }
    }
}

fn print(report: &Report, json: bool) {
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
}

fn scenario_name(s: &Scenario) -> &'static str {
    match s {
        Scenario::Ingest(_) => "ingest",
        Scenario::Sessions(_) => "sessions",
        Scenario::Control(_) => "control",
        Scenario::Api(_) => "api",
        Scenario::SqliteCeiling(_) => "sqlite-ceiling",
        Scenario::TcpCeiling(_) => "tcp-ceiling",
        Scenario::MqttCeiling(_) => "mqtt-ceiling",
        Scenario::Hostile(_) => "hostile",
        Scenario::Events(_) => "events",
        Scenario::MqttSessions(_) => "mqtt-sessions",
        Scenario::SessionsWorker(_) => "sessions-worker",
    }
}

/// The report, and the verification failure if the run's check did not hold.
async fn dispatch(cli: &Cli) -> Result<(Report, Option<BenchError>), BenchError> {
    let duration = cli.duration();
    Ok(match &cli.scenario {
        Scenario::Ingest(a) => {
            let outcome = ingest::run(&IngestOptions {
                target: cli.target,
                gateways: cli.gateways.unwrap_or(1000),
                payload_size: a.payload_size,
                in_flight: a.in_flight,
                duration,
                max_deliveries: a.max_deliveries,
                check_db: a.check_db.clone(),
                check_table: a.check_table.clone(),
                server_pid: cli.server_pid,
                auth_prefix: a.auth_prefix.clone(),
                connect_concurrency: a.connect_concurrency,
                keyed: a.keyed,
                part_tids: a.part_tids,
            })
            .await?;
            (outcome.report, outcome.check_failure)
        }
        Scenario::Sessions(a) => {
            let report = sessions::run(&SessionsOptions {
                plan: WorkerPlan {
                    target: cli.target,
                    first_index: 0,
                    count: a.sessions,
                    per_source: 0,
                    heartbeat_period: Duration::from_secs(a.heartbeat_period.max(1)),
                    connect_concurrency: a.connect_concurrency,
                    auth_prefix: a.auth_prefix.clone(),
                },
                sessions: a.sessions,
                hold: duration,
                processes: a.processes,
                sources: a.sources,
                server_pid: cli.server_pid,
                worker_exe: None,
            })
            .await?;
            (report, None)
        }
        Scenario::Control(a) => {
            let gateways = cli.gateways.unwrap_or(100);
            control::run(&ControlOptions {
                target: cli.target,
                api: ApiClient::new(&cli.api, &cli.api_key, gateways * 2)?,
                gateways,
                duration,
                max_controls: a.max_controls,
                control_type: a.control_type,
                auth_prefix: a.auth_prefix.clone(),
                wait: Duration::from_secs(a.wait_seconds.max(1)),
                rate: a.rate.filter(|r| r.is_finite() && *r > 0.0),
            })
            .await?
        }
        Scenario::Api(a) => {
            let report = api::run(&ApiOptions {
                target: cli.target,
                api: ApiClient::new(&cli.api, &cli.api_key, a.connections)?,
                gateways: cli.gateways.unwrap_or(1000),
                prefill: a.prefill,
                db: a.db.clone(),
                table: a.table.clone(),
                connections: a.connections,
                duration,
                history_limit: a.history_limit,
                auth_prefix: a.auth_prefix.clone(),
                prefill_timeout: Duration::from_secs(a.prefill_seconds),
                server_pid: cli.server_pid,
            })
            .await?;
            (report, None)
        }
        Scenario::SqliteCeiling(a) => {
            let report = sqlite::run(&SqliteCeilingOptions {
                rows: a.rows,
                batch: a.batch,
                gateways: cli.gateways.unwrap_or(1000),
                payload_size: a.payload_size,
                rows_per_statement: a.rows_per_statement,
                duration,
                dir: a.dir.clone(),
            })
            .await?;
            (report, None)
        }
        Scenario::TcpCeiling(a) => {
            let report = tcp::run(&TcpCeilingOptions {
                connections: cli.gateways.unwrap_or(100),
                request_size: a.request_size,
                response_size: a.response_size,
                duration,
            })
            .await?;
            (report, None)
        }
        Scenario::MqttCeiling(a) => {
            let report = mqtt::run(&MqttCeilingOptions {
                broker: a.broker,
                clients: cli.gateways.unwrap_or(100),
                payload_size: a.payload_size,
                duration,
                broker_pid: cli.server_pid,
                label: a.label.clone(),
            })
            .await?;
            (report, None)
        }
        Scenario::Hostile(a) => {
            hostile::run(&HostileOptions {
                target: cli.target,
                attack: a.attack,
                attackers: a.attackers,
                attack_sources: a.attack_sources,
                gateways: cli.gateways.unwrap_or(10),
                interval: Duration::from_millis(a.interval_ms.max(1)),
                duration,
                trickle: Duration::from_millis(a.trickle_ms.max(1)),
                server_pid: cli.server_pid,
                auth_prefix: a.auth_prefix.clone(),
            })
            .await?
        }
        Scenario::MqttSessions(a) => {
            let report = mqtt_sessions::run(&MqttSessionsOptions {
                target: a.broker,
                sessions: a.sessions,
                ping_period: Duration::from_secs(a.ping_period.max(1)),
                hold: duration,
                connect_concurrency: a.connect_concurrency,
                server_pid: cli.server_pid,
            })
            .await?;
            (report, None)
        }
        Scenario::Events(a) => {
            events::run(&EventsOptions {
                target: cli.target,
                api: ApiClient::new(&cli.api, &cli.api_key, 16)?,
                gateways: cli.gateways.unwrap_or(100),
                duration,
                payload_size: a.payload_size,
                webhooks: a.webhooks,
                streams: a.streams,
                rate: a.rate,
                latency_gateways: a.latency_gateways,
                webhook_events: a.webhook_events,
                auth_prefix: a.auth_prefix.clone(),
                rounds: a.rounds,
            })
            .await?
        }
        Scenario::SessionsWorker(_) => {
            return Err(BenchError::Config {
                option: "sessions-worker",
                detail: "handled before dispatch".into(),
            });
        }
    })
}
