//! `api`: read throughput and latency of the HTTP API over a pre-filled
//! database.
//!
//! The database is filled over GMMP by the `ingest` loop itself (same
//! gateways, 100-byte payloads) up to `--prefill` deliveries — fewer when
//! `--db` shows rows already there — and the GW IDs the OMP assigned are
//! kept. Then `--connections` concurrent clients request, for a random
//! gateway each time:
//! 1. `GET /api/v1/gateways/{gw_id}/deliveries/latest` for `--duration`;
//! 2. `GET /api/v1/gateways/{gw_id}/deliveries?limit=N` (one history page)
//!    for `--duration`.
//!
//! Only 200 answers count as served; anything else is counted by status.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::db;
use crate::error::BenchError;
use crate::http::ApiClient;
use crate::latency::Latency;
use crate::scenario::ingest::{self, IngestOptions};
use test_support::gmmp_client::delivery::PartTids;
use test_support::report::Report;

/// What `api` needs.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// The OMP's GMMP listener (for the pre-fill).
    pub target: std::net::SocketAddr,
    /// The API.
    pub api: ApiClient,
    /// Gateways that pre-fill, and whose data is read.
    pub gateways: usize,
    /// Deliveries wanted in the database.
    pub prefill: u64,
    /// The OMP's SQLite file, to count what is there.
    pub db: Option<PathBuf>,
    /// Table in it.
    pub table: String,
    /// Concurrent requests.
    pub connections: usize,
    /// Time per endpoint.
    pub duration: Duration,
    /// History page size.
    pub history_limit: u32,
    /// Auth ID prefix.
    pub auth_prefix: String,
    /// Bound on the pre-fill.
    pub prefill_timeout: Duration,
    /// The OMP's PID.
    pub server_pid: Option<u32>,
}

#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    by_status: BTreeMap<String, u64>,
    latency: Latency,
    first_error: Option<String>,
}

/// Runs the scenario.
pub async fn run(opts: &ApiOptions) -> Result<Report, BenchError> {
    let existing = match &opts.db {
        Some(path) => db::count_rows(path, &opts.table).await?,
        None => 0,
    };
    let needed = opts
        .prefill
        .saturating_sub(u64::try_from(existing).unwrap_or(0));
    let fill_options = IngestOptions {
        target: opts.target,
        gateways: opts.gateways,
        payload_size: 100,
        in_flight: 1,
        duration: opts.prefill_timeout,
        max_deliveries: Some(needed.min(opts.gateways as u64)),
        check_db: None,
        check_table: opts.table.clone(),
        server_pid: None,
        auth_prefix: opts.auth_prefix.clone(),
        connect_concurrency: 200,
        keyed: false,
        part_tids: PartTids::Same,
    };
    // A first round (about one delivery per gateway), then a probe of the
    // endpoint, so a server without the route fails in seconds rather than
    // after a million deliveries.
    let first = ingest::run(&fill_options).await?;
    let Some(probe_gw) = first.gw_ids.first() else {
        return Err(BenchError::Config {
            option: "--gateways",
            detail: format!(
                "no gateway registered, so there is nothing to read ({})",
                first
                    .report
                    .get("first_error")
                    .map_or("no error reported".to_string(), |e| e.to_string())
            ),
        });
    };
    let probe = format!("/api/v1/gateways/{probe_gw}/deliveries/latest");
    let status = opts.api.get_status(&probe).await?;
    if status != 200 && (first.acknowledged > 0 || existing > 0) {
        return Err(BenchError::Http {
            method: "GET",
            url: format!("{}{probe}", opts.api.base()),
            detail: format!("status {status}: the HTTP API does not serve deliveries (yet)"),
        });
    }
    let rest = ingest::run(&IngestOptions {
        max_deliveries: Some(needed.saturating_sub(first.acknowledged)),
        duration: if needed > first.acknowledged {
            opts.prefill_timeout
        } else {
            Duration::ZERO
        },
        ..fill_options
    })
    .await?;
    let prefilled = first.acknowledged + rest.acknowledged;
    let fill = rest;

    let mut report = Report::new("api");
    report
        .set("gateways", fill.gw_ids.len())
        .set("rows_before_prefill", existing)
        .set("prefilled", prefilled);
    if let Some(v) = fill.report.get("deliveries_per_sec") {
        report.set("prefill_deliveries_per_sec", v.clone());
    }
    if let Some(path) = &opts.db {
        report.set("rows", db::count_rows(path, &opts.table).await?);
    }
    report.set("connections", opts.connections);

    let limit = opts.history_limit;
    let latest = measure(opts, &fill.gw_ids, |gw| {
        format!("/api/v1/gateways/{gw}/deliveries/latest")
    })
    .await;
    let history = measure(opts, &fill.gw_ids, move |gw| {
        format!("/api/v1/gateways/{gw}/deliveries?limit={limit}")
    })
    .await;
    for (prefix, (tally, elapsed)) in [("latest_", latest), ("history_", history)] {
        report.set_f64(
            format!("{prefix}requests_per_sec"),
            tally.ok as f64 / elapsed.as_secs_f64().max(1e-9),
            1,
        );
        tally.latency.add_to(&mut report, prefix);
        report.set(format!("{prefix}ok"), tally.ok);
        let others: Vec<String> = tally
            .by_status
            .iter()
            .map(|(s, n)| format!("{s}:{n}"))
            .collect();
        report.set(
            format!("{prefix}not_ok"),
            if others.is_empty() {
                "none".to_string()
            } else {
                others.join(",")
            },
        );
        if let Some(e) = tally.first_error {
            report.set(format!("{prefix}first_error"), e);
        }
    }
    if let Some(pid) = opts.server_pid {
        let m = crate::rss::read(pid)?;
        report
            .set("server_rss_kib", m.rss_kib)
            .set("server_vmhwm_kib", m.hwm_kib);
    }
    Ok(report)
}

/// `connections` clients request `path(gw)` for random gateways until the
/// duration has passed.
async fn measure(
    opts: &ApiOptions,
    gw_ids: &[String],
    path: impl Fn(&str) -> String + Clone + Send + 'static,
) -> (Tally, Duration) {
    let start = Instant::now();
    let deadline = start + opts.duration;
    let gw_ids: std::sync::Arc<[String]> = gw_ids.into();
    let mut tasks = Vec::new();
    for worker in 0..opts.connections.max(1) {
        let api = opts.api.clone();
        let gw_ids = gw_ids.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = Tally::default();
            let mut rng = fastrand::Rng::with_seed(worker as u64 + 1);
            while Instant::now() < deadline {
                let gw = &gw_ids[rng.usize(..gw_ids.len())];
                let sent = Instant::now();
                match api.get_status(&path(gw)).await {
                    Ok(200) => {
                        t.latency.record(sent.elapsed());
                        t.ok += 1;
                    }
                    Ok(status) => *t.by_status.entry(status.to_string()).or_default() += 1,
                    Err(e) => {
                        *t.by_status.entry("error".into()).or_default() += 1;
                        t.first_error.get_or_insert_with(|| e.to_string());
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            t
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        let Ok(t) = task.await else { continue };
        total.ok += t.ok;
        total.latency.merge(&t.latency);
        for (s, n) in t.by_status {
            *total.by_status.entry(s).or_default() += n;
        }
        if total.first_error.is_none() {
            total.first_error = t.first_error;
        }
    }
    (total, start.elapsed())
}
