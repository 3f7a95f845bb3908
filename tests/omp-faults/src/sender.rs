//! A simulated gateway that keeps delivering through server deaths.
//!
//! It registers (as the WizFi310 does on every connect), then sends
//! numbered deliveries ([`crate::payload`]), up to `in_flight`
//! unanswered at once, and records every attempt in its
//! [`GatewayLedger`]. Its T-ID counter outlives each session, as the
//! client library's global one does: the gateway goes on living while
//! the server dies. Retry policy, as a careful GMMP client's:
//! - rc 0: acknowledged; never sent again.
//! - another rc: the OMP said "not stored"; sent again after
//!   `error_pause` (after `backoff_time` for rc 0x0F).
//! - the session dies before the answer (SIGKILL, reset, timeout): the
//!   delivery may or may not be stored; it is sent again on the next
//!   session, in order, so the checker must allow one stored copy per
//!   such attempt.
//!
//! With `keyed`, each delivery goes out keyed (`gmmp_codec::KEYED_DELIVERY`):
//! T-ID = sequence number modulo 90 000, `origin_timestamp` fixed for the
//! run, so every send of one sequence number is the same keyed delivery and
//! the OMP must store it once even when an answer died with the server.
//!
//! With `split`, every delivery is a [`Size::Split`] payload sent as 2 or 3
//! parts back to back, their T-IDs numbered as the [`PartTids`] says. The
//! OMP answers each part; the delivery is acknowledged when all its parts
//! were answered rc 0 (the last part's answer follows the commit of the
//! whole row). A part answered with another rc fails the delivery (its
//! later parts' answers are read and ignored); a session that dies leaves
//! it unanswered. Either way it is sent again whole, from part 1, under
//! new T-IDs: a new split for the OMP, the old one left incomplete.
//!
//! Two tokens steer it: `produce` cancelled = start no new sequence
//! numbers, finish (acknowledge) those begun, then stop; `abort` cancelled
//! = stop now.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gmmp_codec::{Message, ResultCode};
use test_support::gmmp_client::ClientError;
use test_support::gmmp_client::{self, Gateway, PartTids, auth_id_for};
use tokio_util::sync::CancellationToken;

use crate::ledger::{Counters, GatewayLedger};
use crate::payload::{self, PayloadId, Size};

/// The manufacture ID the fault gateways register with.
pub const MANUFACTURE_ID: &str = "omp-faults";
/// Longest back-off obeyed (the OMP's default is 5 s).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How one gateway behaves.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// Gateway index (auth ID = prefix + index; the payloads' `g=`).
    pub index: u32,
    /// Auth ID prefix (≤ 8 bytes).
    pub auth_prefix: String,
    /// The OMP's GMMP address.
    pub target: SocketAddr,
    /// Deliveries sent before waiting for an answer.
    pub in_flight: usize,
    /// Sequence numbers to send at most (`None`: until `produce` stops).
    pub max_seqs: Option<u64>,
    /// Longest wait for one answer (registration or delivery).
    pub answer_timeout: Duration,
    /// Pause between failed connects.
    pub reconnect_pause: Duration,
    /// Pause before re-sending a delivery answered with an error rc.
    pub error_pause: Duration,
    /// Pause after each acknowledgement (`None`: as fast as answered).
    pub pace: Option<Duration>,
    /// Send keyed deliveries with this `origin_timestamp` (`None`: plain).
    pub keyed: Option<u32>,
    /// Send split deliveries whose parts number their T-IDs this way
    /// (`None`: single frames). Not together with `keyed`.
    pub split: Option<PartTids>,
}

/// Keyed T-IDs: the sequence number modulo this (gw-agent's range).
const KEYED_TIDS: u64 = 90_000;

/// The tokens and counters a fleet of senders shares.
#[derive(Debug, Clone)]
pub struct Steering {
    /// Cancelled: begin no new deliveries.
    pub produce: CancellationToken,
    /// Cancelled: stop at once.
    pub abort: CancellationToken,
    /// Live totals.
    pub counters: Arc<Counters>,
}

impl Steering {
    /// Fresh tokens and zero counters.
    pub fn new() -> Self {
        Steering {
            produce: CancellationToken::new(),
            abort: CancellationToken::new(),
            counters: Arc::new(Counters::default()),
        }
    }
}

impl Default for Steering {
    fn default() -> Self {
        Steering::new()
    }
}

/// Work not yet acknowledged, and where the T-IDs go on.
struct Queue {
    /// Sequence numbers to send again, oldest first.
    retry: VecDeque<u64>,
    next_seq: u64,
    next_tid: u32,
}

/// Runs one gateway until it has nothing left to send or is aborted;
/// returns what it recorded.
pub async fn run(opts: SenderOptions, steering: Steering) -> GatewayLedger {
    let mut ledger = GatewayLedger::new(opts.index);
    let mut queue = Queue {
        retry: VecDeque::new(),
        next_seq: 0,
        next_tid: 1,
    };
    let auth_id = auth_id_for(&opts.auth_prefix, opts.index as usize);
    let counters = &steering.counters;
    loop {
        if steering.abort.is_cancelled() || finished(&opts, &steering, &queue) {
            break;
        }
        let connected = tokio::select! {
            () = steering.abort.cancelled() => break,
            r = connect(&opts, &auth_id) => r,
        };
        let mut gw = match connected {
            Ok(gw) => gw,
            Err(e) => {
                ledger.connect_failures += 1;
                counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                ledger.last_error = Some(e.to_string());
                tokio::select! {
                    () = steering.abort.cancelled() => break,
                    () = tokio::time::sleep(opts.reconnect_pause) => continue,
                }
            }
        };
        ledger.sessions += 1;
        counters.sessions.fetch_add(1, Ordering::Relaxed);
        ledger.gw_ids.insert(gw.gw_id());
        gw.continue_tids_from(queue.next_tid);
        let ended = session(&opts, &steering, &mut gw, &mut ledger, &mut queue).await;
        queue.next_tid = gw.next_tid();
        if let Err(e) = ended {
            ledger.last_error = Some(e.to_string());
        }
    }
    ledger
}

fn finished(opts: &SenderOptions, steering: &Steering, queue: &Queue) -> bool {
    let no_new =
        steering.produce.is_cancelled() || opts.max_seqs.is_some_and(|max| queue.next_seq >= max);
    no_new && queue.retry.is_empty()
}

async fn connect(opts: &SenderOptions, auth_id: &str) -> Result<Gateway, ClientError> {
    let stream = gmmp_client::connect(opts.target, None).await?;
    Gateway::register(stream, auth_id, MANUFACTURE_ID, opts.answer_timeout).await
}

/// A delivery written to the session and not answered in full.
struct Outstanding {
    seq: u64,
    /// T-IDs of the answers still due, one per part, in order.
    due: VecDeque<u32>,
    /// A part was answered with an rc other than 0.
    failed: bool,
}

/// One registered session: send and collect answers until the work is
/// done (Ok) or the session fails (Err; the unanswered ones are queued
/// again).
async fn session(
    opts: &SenderOptions,
    steering: &Steering,
    gw: &mut Gateway,
    ledger: &mut GatewayLedger,
    queue: &mut Queue,
) -> Result<(), ClientError> {
    let counters = &steering.counters;
    let size = if opts.split.is_some() {
        Size::Split
    } else {
        Size::Single
    };
    let part_tids = opts.split.unwrap_or_default();
    let mut window: VecDeque<Outstanding> = VecDeque::with_capacity(opts.in_flight);
    let result = 'session: loop {
        while window.len() < opts.in_flight.max(1) {
            let seq = match queue.retry.pop_front() {
                Some(seq) => seq,
                None if !finished(opts, steering, queue) => {
                    let seq = queue.next_seq;
                    queue.next_seq += 1;
                    seq
                }
                None => break,
            };
            let id = PayloadId {
                gateway: opts.index,
                seq,
            };
            let mut template = gw.delivery_template(payload::build(id, size))?;
            let parts = template.parts();
            let first = match opts.keyed {
                Some(at) => {
                    template.keyed(at);
                    (seq % KEYED_TIDS) as u32
                }
                None => gw.take_tids(part_tids.tids_used(parts)),
            };
            ledger.record(seq).attempts += 1;
            counters.attempts.fetch_add(1, Ordering::Relaxed);
            window.push_back(Outstanding {
                seq,
                due: (0..parts).map(|i| part_tids.tid_of(first, i)).collect(),
                failed: false,
            });
            if let Err(e) = gw.feed_raw(template.with_tids(first, part_tids)).await {
                break 'session Err(e);
            }
        }
        if window.is_empty() {
            break Ok(());
        }
        if let Err(e) = gw.flush().await {
            break Err(e);
        }
        let frame = tokio::select! {
            () = steering.abort.cancelled() => break Ok(()),
            f = gw.recv_within(opts.answer_timeout, "waiting for a delivery response") => f,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => break Err(e),
        };
        let Message::DeliveryResponse(answer) = &frame.message else {
            // Nothing else is expected; a push from the OMP is not ours to judge here.
            continue;
        };
        let Some(oldest) = window.front_mut() else {
            break Err(gw.unexpected("no answer (none outstanding)", &frame.message));
        };
        let tid = oldest.due.front().copied().unwrap_or_default();
        if frame.header.tid != tid {
            break Err(ClientError::Protocol {
                auth_id: gw.name().to_string(),
                detail: format!(
                    "answer for T-ID {} while T-ID {tid} was the oldest outstanding",
                    frame.header.tid
                ),
            });
        }
        oldest.due.pop_front();
        let rc = answer.result_code;
        counters.by_rc[rc.0 as usize].fetch_add(1, Ordering::Relaxed);
        let seq = oldest.seq;
        let first_failure = rc != ResultCode::OK && !oldest.failed;
        oldest.failed |= rc != ResultCode::OK;
        let (done, failed) = (oldest.due.is_empty(), oldest.failed);
        if done {
            window.pop_front();
        }
        let record = ledger.record(seq);
        if done && !failed {
            record.acked = true;
            counters.acked.fetch_add(1, Ordering::Relaxed);
            if let Some(pace) = opts.pace {
                tokio::select! {
                    () = steering.abort.cancelled() => break Ok(()),
                    () = tokio::time::sleep(pace) => {}
                }
            }
            continue;
        }
        if !first_failure {
            // A part before the last answered rc 0, or a later part of a
            // delivery that failed already.
            continue;
        }
        record.error_rcs += 1;
        counters.error_rcs.fetch_add(1, Ordering::Relaxed);
        queue.retry.push_back(seq);
        let pause = match answer.backoff_time {
            Some(secs) if rc == ResultCode::SERVICE_UNAVAILABLE => {
                Duration::from_secs(u64::from(secs)).min(MAX_BACKOFF)
            }
            _ => opts.error_pause,
        };
        tokio::select! {
            () = steering.abort.cancelled() => break Ok(()),
            () = tokio::time::sleep(pause) => {}
        }
    };
    // Whatever is still outstanding died with the session: send it again
    // first, in the original order. A delivery that failed already is
    // queued for its retry.
    for outstanding in window.drain(..).rev() {
        if outstanding.failed {
            continue;
        }
        ledger.record(outstanding.seq).unanswered += 1;
        counters.unanswered.fetch_add(1, Ordering::Relaxed);
        queue.retry.push_front(outstanding.seq);
    }
    result
}
