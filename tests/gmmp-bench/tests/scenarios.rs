//! Every scenario run small and short against test doubles: the scripted
//! GMMP responder (for the OMP's GMMP side), a fake HTTP API, a minimal
//! MQTT broker. Assertions are on counts and consistency, never on time.

mod support;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gmmp_bench::ceiling::mqtt::{self, MqttCeilingOptions};
use gmmp_bench::ceiling::sqlite::{self, ScratchDir, SqliteCeilingOptions};
use gmmp_bench::ceiling::tcp::{self, TcpCeilingOptions};
use gmmp_bench::http::ApiClient;
use gmmp_bench::scenario::api::{self, ApiOptions};
use gmmp_bench::scenario::control::{self, ControlOptions};
use gmmp_bench::scenario::ingest::{self, IngestOptions};
use gmmp_bench::scenario::sessions::{self, SessionsOptions, WorkerPlan};
use serde_json::Value;
use test_support::gmmp_client::PartTids;
use test_support::scripted_omp::{ScriptedOmp, ScriptedOmpConfig};

/// Generous guard against a hang; never a performance assertion.
const GUARD: Duration = Duration::from_secs(60);

fn u64_of(report: &test_support::report::Report, key: &str) -> u64 {
    report
        .get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{key} missing or not a count in {report}"))
}

fn ingest_options(target: std::net::SocketAddr) -> IngestOptions {
    IngestOptions {
        target,
        gateways: 5,
        payload_size: 100,
        in_flight: 1,
        duration: Duration::from_millis(300),
        max_deliveries: None,
        check_db: None,
        check_table: "deliveries".into(),
        server_pid: Some(std::process::id()),
        auth_prefix: "t".into(),
        connect_concurrency: 4,
        keyed: false,
        part_tids: PartTids::Same,
    }
}

#[tokio::test]
async fn ingest_counts_what_the_responder_acknowledged() {
    let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
        .await
        .unwrap();
    let outcome = tokio::time::timeout(GUARD, ingest::run(&ingest_options(responder.addr)))
        .await
        .unwrap()
        .unwrap();
    let r = &outcome.report;
    assert_eq!(u64_of(r, "registered"), 5);
    assert_eq!(outcome.gw_ids.len(), 5);
    assert!(outcome.gw_ids.iter().all(|g| g.starts_with("GW")));
    let acked = responder.counters.deliveries_acked.load(Ordering::Relaxed);
    assert!(acked > 0);
    assert_eq!(outcome.acknowledged, acked);
    assert_eq!(u64_of(r, "sent"), acked);
    assert_eq!(u64_of(r, "session_errors"), 0);
    assert_eq!(r.get("result_codes").unwrap(), &format!("0x00:{acked}"));
    assert!(u64_of(r, "server_peak_rss_kib") > 0);
    assert!(outcome.check_failure.is_none());
}

#[tokio::test]
async fn ingest_with_no_gateway_registered_fails_and_names_the_fix() {
    // A port nothing listens on: every registration fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let result = tokio::time::timeout(GUARD, ingest::run(&ingest_options(closed)))
        .await
        .unwrap();
    let Err(e) = result else {
        panic!("a run with no gateway registered must fail");
    };
    let text = e.to_string();
    assert!(text.contains(&closed.to_string()), "{text}");
    assert!(text.contains("--provisioning open"), "{text}");
    assert!(text.contains("31002"), "{text}");
    assert!(text.contains("connect"), "the first error is kept: {text}");
}

#[tokio::test]
async fn ingest_with_several_in_flight_and_a_count_bound_stops_at_the_count() {
    let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
        .await
        .unwrap();
    let mut opts = ingest_options(responder.addr);
    opts.in_flight = 4;
    opts.max_deliveries = Some(333);
    opts.duration = Duration::from_secs(30);
    let outcome = tokio::time::timeout(GUARD, ingest::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.acknowledged, 333);
    assert_eq!(
        responder.counters.deliveries_acked.load(Ordering::Relaxed),
        333
    );
}

#[tokio::test]
async fn ingest_counts_back_offs_apart_from_acknowledgements() {
    let config = ScriptedOmpConfig {
        backoff_every: Some(3),
    };
    let responder = ScriptedOmp::start(config, None).await.unwrap();
    let mut opts = ingest_options(responder.addr);
    opts.max_deliveries = Some(30);
    opts.duration = Duration::from_secs(30);
    let outcome = tokio::time::timeout(GUARD, ingest::run(&opts))
        .await
        .unwrap()
        .unwrap();
    let r = &outcome.report;
    assert_eq!(u64_of(r, "sent"), 30);
    assert_eq!(u64_of(r, "backoffs"), 10);
    assert_eq!(outcome.acknowledged, 20);
    assert_eq!(r.get("result_codes").unwrap(), "0x00:20,0x0f:10");
}

#[tokio::test]
async fn ingest_counts_a_split_delivery_once_whatever_its_part_tids() {
    for form in [PartTids::Same, PartTids::PerPart] {
        let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
            .await
            .unwrap();
        let mut opts = ingest_options(responder.addr);
        opts.payload_size = 5000;
        opts.in_flight = 2;
        opts.max_deliveries = Some(20);
        opts.duration = Duration::from_secs(30);
        opts.part_tids = form;
        let outcome = tokio::time::timeout(GUARD, ingest::run(&opts))
            .await
            .unwrap()
            .unwrap();
        let r = &outcome.report;
        assert_eq!(outcome.acknowledged, 20, "{form:?}: {r}");
        assert_eq!(u64_of(r, "parts_per_delivery"), 3);
        assert_eq!(
            responder.counters.deliveries_acked.load(Ordering::Relaxed),
            60,
            "every part answered"
        );
        assert_eq!(r.get("result_codes").unwrap(), "0x00:60");
        assert_eq!(u64_of(r, "session_errors"), 0, "{r}");
    }
}

#[tokio::test]
async fn keyed_split_deliveries_are_refused() {
    let mut opts = ingest_options("127.0.0.1:9".parse().unwrap());
    opts.keyed = true;
    opts.payload_size = 3000;
    let e = ingest::run(&opts).await.unwrap_err();
    assert!(e.to_string().contains("--keyed"), "{e}");
}

/// A deliveries table with `rows` rows, in a scratch dir.
async fn database_with(rows: usize) -> (ScratchDir, PathBuf) {
    use sqlx::{ConnectOptions, sqlite::SqliteConnectOptions};
    let dir = ScratchDir::new(None).unwrap();
    let path = dir.path().join("omp.db");
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(sqlite::SCHEMA)
        .execute(&mut conn)
        .await
        .unwrap();
    for i in 0..rows {
        sqlx::query(
            "INSERT INTO deliveries (gw_id, report_type, media_type, tid, origin_timestamp, \
             received_at, encryption_flag, device_id, payload) \
             VALUES ('GW1', 1, 1, ?, 0, 0, 0, '', x'00')",
        )
        .bind(i as i64)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    (dir, path)
}

#[tokio::test]
async fn ingest_check_db_reports_a_mismatch_when_rows_are_missing() {
    // The responder acknowledges but stores nothing: a lying OMP.
    let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
        .await
        .unwrap();
    let (_dir, path) = database_with(7).await;
    let mut opts = ingest_options(responder.addr);
    opts.max_deliveries = Some(10);
    opts.check_db = Some(path);
    let outcome = tokio::time::timeout(GUARD, ingest::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.report.get("check").unwrap(), "mismatch");
    assert_eq!(u64_of(&outcome.report, "rows_before"), 7);
    let err = outcome.check_failure.unwrap().to_string();
    assert!(
        err.contains("10 deliveries acknowledged but 0 new rows"),
        "{err}"
    );
}

#[tokio::test]
async fn ingest_check_db_passes_when_rows_equal_acknowledgements() {
    let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
        .await
        .unwrap();
    let (_dir, path) = database_with(3).await;
    let mut opts = ingest_options(responder.addr);
    opts.max_deliveries = Some(0);
    opts.check_db = Some(path);
    let outcome = ingest::run(&opts).await.unwrap();
    assert_eq!(outcome.report.get("check").unwrap(), "ok");
    assert!(outcome.check_failure.is_none());
}

fn sessions_options(target: std::net::SocketAddr, sessions: usize) -> SessionsOptions {
    SessionsOptions {
        plan: WorkerPlan {
            target,
            first_index: 0,
            count: sessions,
            per_source: 0,
            heartbeat_period: Duration::from_secs(1),
            connect_concurrency: 8,
            auth_prefix: "s".into(),
        },
        sessions,
        hold: Duration::from_millis(1500),
        processes: Some(1),
        sources: Some(0),
        server_pid: Some(std::process::id()),
        worker_exe: None,
    }
}

#[tokio::test]
async fn sessions_are_opened_held_and_heartbeat() {
    let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
        .await
        .unwrap();
    let report = tokio::time::timeout(GUARD, sessions::run(&sessions_options(responder.addr, 20)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u64_of(&report, "sessions_opened"), 20);
    assert_eq!(u64_of(&report, "sessions_held"), 20);
    assert_eq!(u64_of(&report, "open_failures"), 0);
    let beats = u64_of(&report, "heartbeats");
    assert!(beats >= 20, "every session beats at least once: {report}");
    assert_eq!(responder.counters.heartbeats.load(Ordering::Relaxed), beats);
    assert!(report.get("server_rss_per_session_bytes").is_some());
}

#[tokio::test]
async fn sessions_spread_over_source_addresses() {
    let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
        .await
        .unwrap();
    let mut opts = sessions_options(responder.addr, 12);
    opts.sources = Some(3);
    let report = tokio::time::timeout(GUARD, sessions::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u64_of(&report, "source_addresses"), 3);
    assert_eq!(u64_of(&report, "sessions_held"), 12);
}

#[tokio::test]
async fn sessions_split_over_worker_processes() {
    let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
        .await
        .unwrap();
    let mut opts = sessions_options(responder.addr, 9);
    opts.processes = Some(2);
    opts.worker_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_gmmp-bench")));
    let report = tokio::time::timeout(GUARD, sessions::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u64_of(&report, "processes"), 2);
    assert_eq!(u64_of(&report, "sessions_opened"), 9);
    assert_eq!(u64_of(&report, "sessions_held"), 9);
    assert_eq!(responder.counters.registrations.load(Ordering::Relaxed), 9);
}

fn control_options(omp: &support::FakeOmp) -> ControlOptions {
    ControlOptions {
        target: omp.gmmp.addr,
        api: ApiClient::new(&format!("http://{}", omp.http), "k", 8).unwrap(),
        gateways: 3,
        duration: Duration::from_secs(30),
        max_controls: Some(30),
        control_type: 0x80,
        auth_prefix: "c".into(),
        wait: Duration::from_secs(10),
        rate: None,
    }
}

#[tokio::test]
async fn control_round_trips_are_counted_and_verified() {
    let omp = support::start_fake_omp(ScriptedOmpConfig::default()).await;
    let (report, verdict) = tokio::time::timeout(GUARD, control::run(&control_options(&omp)))
        .await
        .unwrap()
        .unwrap();
    assert!(verdict.is_none(), "{report}");
    assert_eq!(u64_of(&report, "controls_posted"), 30, "{report}");
    assert_eq!(u64_of(&report, "controls_succeeded"), 30);
    assert_eq!(u64_of(&report, "lost"), 0);
    assert_eq!(u64_of(&report, "duplicated"), 0);
    assert_eq!(report.get("check").unwrap(), "ok");
}

#[tokio::test]
async fn paced_controls_are_offered_at_the_rate_and_verified_the_same() {
    let omp = support::start_fake_omp(ScriptedOmpConfig::default()).await;
    let mut opts = control_options(&omp);
    opts.rate = Some(200.0);
    opts.max_controls = Some(12);
    let (report, verdict) = tokio::time::timeout(GUARD, control::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert!(verdict.is_none(), "{report}");
    assert_eq!(report.get("offered_rate").unwrap(), 200.0);
    assert_eq!(u64_of(&report, "controls_posted"), 12, "{report}");
    assert_eq!(u64_of(&report, "controls_succeeded"), 12);
}

#[tokio::test]
async fn control_detects_a_duplicated_0x0d() {
    let omp = support::start_fake_omp(ScriptedOmpConfig::default()).await;
    *omp.state.pushes_per_post.lock().unwrap() = 2;
    let mut opts = control_options(&omp);
    opts.max_controls = Some(4);
    let (report, verdict) = tokio::time::timeout(GUARD, control::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u64_of(&report, "duplicated"), 4);
    assert!(verdict.unwrap().to_string().contains("4 duplicated"));
}

#[tokio::test]
async fn control_counts_controls_that_never_arrive_as_lost() {
    let omp = support::start_fake_omp(ScriptedOmpConfig::default()).await;
    *omp.state.pushes_per_post.lock().unwrap() = 0;
    let mut opts = control_options(&omp);
    opts.max_controls = Some(2);
    opts.gateways = 2;
    opts.wait = Duration::from_secs(1);
    let (report, verdict) = tokio::time::timeout(GUARD, control::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u64_of(&report, "lost"), 2);
    assert!(verdict.is_some());
}

#[tokio::test]
async fn api_prefills_over_gmmp_then_reads() {
    let omp = support::start_fake_omp(ScriptedOmpConfig::default()).await;
    let opts = ApiOptions {
        target: omp.gmmp.addr,
        api: ApiClient::new(&format!("http://{}", omp.http), "k", 4).unwrap(),
        gateways: 4,
        prefill: 40,
        db: None,
        table: "deliveries".into(),
        connections: 4,
        duration: Duration::from_millis(300),
        history_limit: 10,
        auth_prefix: "a".into(),
        prefill_timeout: Duration::from_secs(30),
        server_pid: None,
    };
    let report = tokio::time::timeout(GUARD, api::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u64_of(&report, "prefilled"), 40);
    assert_eq!(
        omp.gmmp.counters.deliveries_acked.load(Ordering::Relaxed),
        40
    );
    assert!(u64_of(&report, "latest_ok") > 0);
    assert!(u64_of(&report, "history_ok") > 0);
    assert_eq!(report.get("latest_not_ok").unwrap(), "none");
}

#[tokio::test]
async fn sqlite_ceiling_commits_every_row_both_ways() {
    let report = sqlite::run(&SqliteCeilingOptions {
        rows: 2500,
        batch: 1000,
        gateways: 10,
        payload_size: 100,
        rows_per_statement: 100,
        duration: Duration::from_secs(60),
        dir: None,
    })
    .await
    .unwrap();
    assert_eq!(u64_of(&report, "per_row_rows"), 2500);
    assert_eq!(u64_of(&report, "multi_row_rows"), 2500);
    assert!(report.get("rows_per_sec").and_then(Value::as_f64).unwrap() > 0.0);
}

#[tokio::test]
async fn tcp_ceiling_makes_round_trips() {
    let report = tcp::run(&TcpCeilingOptions {
        connections: 4,
        request_size: 194,
        response_size: 93,
        duration: Duration::from_millis(200),
    })
    .await
    .unwrap();
    assert!(u64_of(&report, "round_trips") > 0);
    assert!(report.get("first_error").is_none(), "{report}");
}

#[tokio::test]
async fn mqtt_ceiling_waits_for_each_puback() {
    let broker = support::start_fake_broker().await;
    let report = tokio::time::timeout(
        GUARD,
        mqtt::run(&MqttCeilingOptions {
            broker,
            clients: 3,
            payload_size: 100,
            duration: Duration::from_millis(300),
            // The fake broker runs in this process.
            broker_pid: Some(std::process::id()),
            label: "fake".into(),
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(u64_of(&report, "acknowledged") > 0, "{report}");
    assert_eq!(u64_of(&report, "client_failures"), 0, "{report}");
    assert_eq!(report.get("broker").unwrap(), "fake");
    assert!(
        report.get("broker_cpu_us_per_message").is_some(),
        "{report}"
    );
}

/// An HTTP server that knows no route (an OMP before its HTTP API).
async fn empty_http() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new()).await;
    });
    addr
}

#[tokio::test]
async fn api_stops_after_one_round_when_the_server_has_no_deliveries_route() {
    let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
        .await
        .unwrap();
    let http = empty_http().await;
    let opts = ApiOptions {
        target: responder.addr,
        api: ApiClient::new(&format!("http://{http}"), "k", 2).unwrap(),
        gateways: 3,
        prefill: 1_000_000,
        db: None,
        table: "deliveries".into(),
        connections: 2,
        duration: Duration::from_millis(100),
        history_limit: 10,
        auth_prefix: "n".into(),
        prefill_timeout: Duration::from_secs(30),
        server_pid: None,
    };
    let err = tokio::time::timeout(GUARD, api::run(&opts))
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("status 404"), "{err}");
    assert_eq!(
        responder.counters.deliveries_acked.load(Ordering::Relaxed),
        3
    );
}

#[tokio::test]
async fn control_gives_up_on_a_server_without_the_route() {
    let responder = ScriptedOmp::start(ScriptedOmpConfig::default(), None)
        .await
        .unwrap();
    let http = empty_http().await;
    let opts = ControlOptions {
        target: responder.addr,
        api: ApiClient::new(&format!("http://{http}"), "k", 2).unwrap(),
        gateways: 2,
        duration: Duration::from_secs(30),
        max_controls: None,
        control_type: 0x80,
        auth_prefix: "g".into(),
        wait: Duration::from_secs(1),
        rate: None,
    };
    let (report, verdict) = tokio::time::timeout(GUARD, control::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u64_of(&report, "controls_posted"), 0);
    assert_eq!(u64_of(&report, "post_errors"), 10);
    assert!(verdict.is_some());
    let first = report.get("first_error").unwrap().as_str().unwrap();
    assert!(first.contains("status 404"), "{first}");
}
