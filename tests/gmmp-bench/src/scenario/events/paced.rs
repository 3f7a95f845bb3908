//! Deliveries at a fixed offered rate, each carrying its send time
//! ([`stamp`]): the load of the latency phase. Gateway `i` of `n` sends
//! every `n / rate` seconds, its slots offset by `i / rate`, and waits
//! for each answer (as GMMP clients do).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gmmp_codec::{Message, ResultCode};

use super::stream::stamp;
use crate::error::BenchError;
use crate::scenario::register_fleet;
use test_support::gmmp_client::Gateway;

/// How long a gateway waits for one answer before giving up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What the paced gateways sent and were answered.
#[derive(Debug, Default)]
pub struct PacedTally {
    /// Deliveries sent.
    pub sent: u64,
    /// Answered rc 0 (committed, so an event is due for each).
    pub acknowledged: u64,
    /// Answered another rc.
    pub refused: u64,
    /// Gateways whose session failed.
    pub session_errors: u64,
    /// The first of those failures.
    pub first_error: Option<String>,
}

impl PacedTally {
    fn add(&mut self, other: PacedTally) {
        self.sent += other.sent;
        self.acknowledged += other.acknowledged;
        self.refused += other.refused;
        self.session_errors += other.session_errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Registers `gateways` (auth IDs `prefix` + index) and sends `rate`
/// stamped deliveries a second over them for `duration`.
pub async fn run(
    target: SocketAddr,
    prefix: &str,
    gateways: usize,
    rate: f64,
    duration: Duration,
    epoch: Instant,
) -> Result<PacedTally, BenchError> {
    let fleet = register_fleet(target, prefix, 0, gateways, 100, |_| None).await;
    fleet.check_any_registered(target)?;
    let n = fleet.gateways.len();
    let period = Duration::from_secs_f64(n as f64 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let deadline = start + duration;
    let tasks: Vec<_> = fleet
        .gateways
        .into_iter()
        .enumerate()
        .map(|(i, gw)| {
            let first = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::spawn(send_paced(gw, first, period, deadline, epoch))
        })
        .collect();
    let mut total = PacedTally::default();
    for task in tasks {
        match task.await {
            Ok(tally) => total.add(tally),
            Err(e) => {
                total.session_errors += 1;
                total.first_error.get_or_insert(e.to_string());
            }
        }
    }
    Ok(total)
}

async fn send_paced(
    mut gw: Gateway,
    first: tokio::time::Instant,
    period: Duration,
    deadline: tokio::time::Instant,
    epoch: Instant,
) -> PacedTally {
    let mut tally = PacedTally::default();
    let mut next = first;
    while next < deadline {
        tokio::time::sleep_until(next).await;
        next += period;
        let result = async {
            let mut template = gw.delivery_template(Bytes::copy_from_slice(&stamp(epoch)))?;
            let tid = gw.take_tid();
            gw.feed_raw(template.with_tid(tid)).await?;
            gw.flush().await?;
            loop {
                let answer = gw.recv_within(ANSWER_TIMEOUT, "waiting for a 0x0C").await?;
                if let Message::DeliveryResponse(r) = &answer.message
                    && answer.header.tid == tid
                {
                    return Ok::<_, BenchError>(r.result_code);
                }
            }
        }
        .await;
        tally.sent += 1;
        match result {
            Ok(ResultCode::OK) => tally.acknowledged += 1,
            Ok(_) => tally.refused += 1,
            Err(e) => {
                tally.session_errors += 1;
                tally.first_error = Some(e.to_string());
                return tally;
            }
        }
    }
    tally
}
