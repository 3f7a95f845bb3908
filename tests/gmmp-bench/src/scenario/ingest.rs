//! `ingest`: N gateways register, then deliver as fast as the OMP
//! acknowledges.
//!
//! Each gateway keeps up to K deliveries in flight (K = 1 is what GMMP
//! clients do: send, wait for the 0x0C, send the next) until `--duration`
//! has passed or `--max-deliveries` have been sent, then waits for the
//! answers still due. Latency is send → 0x0C, whatever its rc. A 0x0C with
//! rc 0x0F (back-off) is counted and obeyed: the gateway sends nothing for
//! `backoff_time` seconds (cut short by the end of the run). Only rc 0 is
//! "acknowledged"; the rate is acknowledged deliveries over the time from
//! the first send to the last answer.
//!
//! With `--check-db` the OMP's table is counted before and after: the new
//! rows must equal the acknowledged deliveries (nothing else may write to
//! it meanwhile). The OMP acknowledges after commit, so when the last 0x0C
//! is in, every row is there.
//!
//! A payload over 2048 bytes is sent as a split delivery: its parts back
//! to back (as WIZnet's `GW_Delivery` sends them on an Always-On
//! session), under one T-ID or one each (`--part-tids`). The OMP answers
//! every part; the delivery is acknowledged when every part got rc 0 (the
//! last part's rc 0 comes after the whole row is committed). Latency runs
//! to the last part's answer; `result_codes` counts every answer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use gmmp_codec::{Message, ResultCode};

use crate::db;
use crate::error::BenchError;
use crate::latency::Latency;
use crate::rss::RssSampler;
use crate::scenario::{Fleet, register_fleet};
use test_support::gmmp_client::{Gateway, PartTids, payload_of};
use test_support::report::Report;

/// How long a gateway waits for one answer before giving up on its session.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What `ingest` needs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The OMP's GMMP listener.
    pub target: SocketAddr,
    /// Simulated gateways.
    pub gateways: usize,
    /// Payload bytes per delivery.
    pub payload_size: usize,
    /// Deliveries in flight per gateway.
    pub in_flight: usize,
    /// How long to send.
    pub duration: Duration,
    /// Total deliveries to send at most.
    pub max_deliveries: Option<u64>,
    /// The OMP's SQLite file to check.
    pub check_db: Option<PathBuf>,
    /// Table to count.
    pub check_table: String,
    /// The OMP's PID for memory figures.
    pub server_pid: Option<u32>,
    /// Auth ID prefix.
    pub auth_prefix: String,
    /// Registrations in flight at once.
    pub connect_concurrency: usize,
    /// Send keyed deliveries: T-ID from the gateway's counter,
    /// `origin_timestamp` the current second, so each is its own key.
    pub keyed: bool,
    /// T-IDs of a split delivery's parts (payloads over 2048 bytes).
    pub part_tids: PartTids,
}

/// What `ingest` measured.
#[derive(Debug)]
pub struct IngestOutcome {
    /// The figures.
    pub report: Report,
    /// Deliveries answered with rc 0.
    pub acknowledged: u64,
    /// The GW IDs the OMP assigned, in gateway order.
    pub gw_ids: Vec<String>,
    /// Set when the database check found a mismatch.
    pub check_failure: Option<BenchError>,
}

/// What one gateway counted.
#[derive(Debug)]
struct GatewayTally {
    sent: u64,
    acknowledged: u64,
    codes: [u64; 256],
    latency: Latency,
    error: Option<BenchError>,
}

impl GatewayTally {
    fn new() -> Self {
        GatewayTally {
            sent: 0,
            acknowledged: 0,
            codes: [0; 256],
            latency: Latency::new(),
            error: None,
        }
    }
}

/// Runs the scenario.
pub async fn run(opts: &IngestOptions) -> Result<IngestOutcome, BenchError> {
    if opts.in_flight == 0 {
        return Err(BenchError::Config {
            option: "--in-flight",
            detail: "must be at least 1".into(),
        });
    }
    if opts.keyed && opts.payload_size > gmmp_codec::MAX_PAYLOAD_LEN {
        return Err(BenchError::Config {
            option: "--keyed",
            detail: format!(
                "a keyed delivery is one frame; --payload-size {} would split it",
                opts.payload_size
            ),
        });
    }
    let rows_before = match &opts.check_db {
        Some(path) => Some(db::count_rows(path, &opts.check_table).await?),
        None => None,
    };
    let sampler = match opts.server_pid {
        Some(pid) => Some(RssSampler::start(pid, Duration::from_millis(100))?),
        None => None,
    };

    let fleet = register_fleet(
        opts.target,
        &opts.auth_prefix,
        0,
        opts.gateways,
        opts.connect_concurrency,
        |_| None,
    )
    .await;
    fleet.check_any_registered(opts.target)?;
    let Fleet {
        gateways,
        errors: register_errors,
        failed: register_failed,
        elapsed: register_elapsed,
    } = fleet;
    let gw_ids: Vec<String> = gateways.iter().map(Gateway::gw_id).collect();

    let budget = Arc::new(AtomicI64::new(
        opts.max_deliveries
            .map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX)),
    ));
    let start = Instant::now();
    let deadline = start + opts.duration;
    let payload = payload_of(opts.payload_size);
    let mut tasks = Vec::with_capacity(gateways.len());
    for gw in gateways {
        let budget = budget.clone();
        let payload = payload.clone();
        let sending = Sending {
            in_flight: opts.in_flight,
            keyed: opts.keyed,
            part_tids: opts.part_tids,
            deadline,
        };
        tasks.push(tokio::spawn(async move {
            let mut tally = GatewayTally::new();
            if let Err(e) = deliver(gw, payload, sending, &budget, &mut tally).await {
                tally.error = Some(e);
            }
            tally
        }));
    }
    let mut total = GatewayTally::new();
    let mut session_errors = 0u64;
    let mut first_error = register_errors.first().cloned();
    for task in tasks {
        let Ok(t) = task.await else {
            session_errors += 1;
            continue;
        };
        total.sent += t.sent;
        total.acknowledged += t.acknowledged;
        for (sum, n) in total.codes.iter_mut().zip(t.codes.iter()) {
            *sum += n;
        }
        total.latency.merge(&t.latency);
        if let Some(e) = t.error {
            session_errors += 1;
            first_error.get_or_insert_with(|| e.to_string());
        }
    }
    let elapsed = start.elapsed();

    let mut report = Report::new("ingest");
    report
        .set("gateways", opts.gateways)
        .set("registered", gw_ids.len())
        .set("registration_failures", register_failed)
        .set_f64("registration_secs", register_elapsed.as_secs_f64(), 3)
        .set("payload_bytes", opts.payload_size)
        .set(
            "parts_per_delivery",
            opts.payload_size
                .div_ceil(gmmp_codec::MAX_PAYLOAD_LEN)
                .max(1),
        )
        .set("part_tids", opts.part_tids.name())
        .set("in_flight", opts.in_flight)
        .set("keyed", opts.keyed)
        .set("sent", total.sent)
        .set("acknowledged", total.acknowledged)
        .set_f64("elapsed_secs", elapsed.as_secs_f64(), 3)
        .set_f64(
            "deliveries_per_sec",
            total.acknowledged as f64 / elapsed.as_secs_f64().max(1e-9),
            1,
        );
    total.latency.add_to(&mut report, "");
    report.set("result_codes", codes_text(&total.codes));
    report.set(
        "backoffs",
        total.codes[ResultCode::SERVICE_UNAVAILABLE.0 as usize],
    );
    report.set("session_errors", session_errors);
    if let Some(e) = first_error {
        report.set("first_error", e);
    }
    if let Some(sampler) = sampler {
        sampler.finish(&mut report).await;
    }

    let mut check_failure = None;
    if let (Some(path), Some(before)) = (&opts.check_db, rows_before) {
        let after = db::count_rows(path, &opts.check_table).await?;
        let rows = after - before;
        let equal = i64::try_from(total.acknowledged).is_ok_and(|a| a == rows);
        report
            .set("rows_before", before)
            .set("rows_after", after)
            .set("rows_new", rows)
            .set("check", if equal { "ok" } else { "mismatch" });
        if !equal {
            check_failure = Some(BenchError::RowMismatch {
                acknowledged: total.acknowledged,
                rows,
                table: opts.check_table.clone(),
                before,
                after,
            });
        }
    }
    Ok(IngestOutcome {
        report,
        acknowledged: total.acknowledged,
        gw_ids,
        check_failure,
    })
}

/// How one gateway sends.
#[derive(Debug, Clone, Copy)]
struct Sending {
    in_flight: usize,
    keyed: bool,
    part_tids: PartTids,
    deadline: Instant,
}

/// A delivery sent and not yet answered in full.
#[derive(Debug)]
struct Pending {
    /// T-IDs of the part answers still due, in order.
    due: VecDeque<u32>,
    sent_at: Instant,
    /// A part was answered with an rc other than 0.
    refused: bool,
}

/// One gateway's delivery loop.
async fn deliver(
    mut gw: Gateway,
    payload: bytes::Bytes,
    sending_opts: Sending,
    budget: &AtomicI64,
    tally: &mut GatewayTally,
) -> Result<(), BenchError> {
    let Sending {
        in_flight,
        keyed,
        part_tids,
        deadline,
    } = sending_opts;
    let mut template = gw.delivery_template(payload)?;
    let parts = template.parts();
    let mut pending: VecDeque<Pending> = VecDeque::with_capacity(in_flight);
    let mut paused_until: Option<Instant> = None;
    let mut sending = true;
    loop {
        if let Some(until) = paused_until.take() {
            // Back-off: nothing new until `until` (or the end of the run).
            let until = until.min(deadline);
            if pending.is_empty() {
                tokio::time::sleep_until(until.into()).await;
            } else {
                paused_until = Some(until).filter(|u| *u > Instant::now());
            }
        }
        if sending && Instant::now() >= deadline {
            sending = false;
        }
        if sending && paused_until.is_none() {
            let mut queued = false;
            while pending.len() < in_flight {
                if budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
                    sending = false;
                    break;
                }
                let first = gw.take_tids(part_tids.tids_used(parts));
                pending.push_back(Pending {
                    due: (0..parts).map(|i| part_tids.tid_of(first, i)).collect(),
                    sent_at: Instant::now(),
                    refused: false,
                });
                if keyed {
                    template.keyed(test_support::gmmp_client::unix_now());
                }
                gw.feed_raw(template.with_tids(first, part_tids)).await?;
                tally.sent += 1;
                queued = true;
            }
            if queued {
                gw.flush().await?;
            }
        }
        if pending.is_empty() {
            if sending || paused_until.is_some() {
                continue;
            }
            return Ok(());
        }
        let frame = gw
            .recv_within(ANSWER_TIMEOUT, "waiting for a 0x0C delivery response")
            .await?;
        let Message::DeliveryResponse(response) = &frame.message else {
            // The OMP may push a control or answer something else; a
            // delivery-only gateway ignores it, as a WizFi310 with no
            // handler would.
            continue;
        };
        let tid = frame.header.tid;
        let Some(at) = pending.iter().position(|p| p.due.front() == Some(&tid)) else {
            return Err(BenchError::Protocol {
                auth_id: gw.name().to_string(),
                detail: format!(
                    "0x0C with T-ID {tid}, which no pending delivery's next part carries"
                ),
            });
        };
        let delivery = &mut pending[at];
        delivery.due.pop_front();
        let rc = response.result_code;
        tally.codes[rc.0 as usize] += 1;
        if !rc.is_ok() {
            delivery.refused = true;
        }
        if rc == ResultCode::SERVICE_UNAVAILABLE {
            let secs = u64::from(response.backoff_time.unwrap_or(0));
            paused_until = Some(Instant::now() + Duration::from_secs(secs));
        }
        if delivery.due.is_empty() {
            if let Some(done) = pending.remove(at) {
                tally.latency.record(done.sent_at.elapsed());
                if !done.refused {
                    tally.acknowledged += 1;
                }
            }
        }
    }
}

/// `0x00:123,0x0f:4`: every result code seen with its count.
pub fn codes_text(codes: &[u64; 256]) -> String {
    let parts: Vec<String> = codes
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(rc, n)| format!("0x{rc:02x}:{n}"))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(",")
    }
}
