//! A simulated gateway that answers controls as the WizFi310 does, through
//! server deaths.
//!
//! It registers (on every connect, as the module does), then waits for
//! 0x0D control requests. Each is answered at once with a 0x0E rc 0 and a
//! 0x17 notification rc 0, both with the 0x0D's T-ID, control type and
//! device — the module's behaviour (docs/wizfi310.md §4), except that the
//! 0x17's body echoes the control data instead of being empty, so that the
//! checker can tell whose result the OMP stored. Every 0x0D is recorded
//! as an [`Arrival`] with the fate of its 0x17 (answered by a 0x18 with
//! which rc, or lost with the session).
//!
//! The WizFi310 never sends a notification again. With
//! `resend_notifications` this gateway does what a more careful client
//! would: a 0x17 whose 0x18 never came is sent again, unchanged (same
//! T-ID, same body), right after the next registration.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use gmmp_codec::{
    ControlResponse, ControlType, DeviceId, DomainCode, Frame, Message, NotificationRequest,
    ResultCode,
};
use test_support::gmmp_client::ClientError;
use test_support::gmmp_client::{self, Gateway, auth_id_for};
use tokio::sync::watch;

use super::key::ControlKey;
use super::ledger::{Arrival, GatewayRecord, Shared, now_ms};
use crate::sender::MANUFACTURE_ID;

/// How one gateway behaves.
#[derive(Debug, Clone)]
pub struct ResponderOptions {
    /// Gateway index (auth ID = prefix + index; the controls' `g=`).
    pub index: u32,
    /// Auth ID prefix (≤ 8 bytes).
    pub auth_prefix: String,
    /// The OMP's GMMP address.
    pub target: SocketAddr,
    /// Longest wait for the registration answer.
    pub answer_timeout: Duration,
    /// Pause between failed connects.
    pub reconnect_pause: Duration,
    /// Send a 0x17 again on the next session when its 0x18 never came.
    pub resend_notifications: bool,
}

/// What the gateway keeps across its sessions.
struct Memory {
    record: GatewayRecord,
    /// Controls whose 0x17 was answered rc 0: their result is stored.
    acknowledged: HashSet<ControlKey>,
    /// Arrivals whose 0x17 is to be sent again (re-send mode).
    pending: Vec<usize>,
    domain: DomainCode,
}

/// Runs one gateway until `abort`; publishes its GW ID on `gw_id` at each
/// registration; returns what it recorded.
pub async fn run(
    opts: ResponderOptions,
    shared: Shared,
    gw_id: watch::Sender<Option<String>>,
) -> GatewayRecord {
    let domain = match DomainCode::new("domain_code", gmmp_client::DOMAIN) {
        Ok(d) => d,
        Err(e) => {
            return GatewayRecord {
                index: opts.index,
                last_error: Some(e.to_string()),
                ..GatewayRecord::default()
            };
        }
    };
    let mut memory = Memory {
        record: GatewayRecord {
            index: opts.index,
            ..GatewayRecord::default()
        },
        acknowledged: HashSet::new(),
        pending: Vec::new(),
        domain,
    };
    let auth_id = auth_id_for(&opts.auth_prefix, opts.index as usize);
    let counters = &shared.counters;
    let registered = &shared.registered_at[opts.index as usize];
    loop {
        let connected = tokio::select! {
            () = shared.abort.cancelled() => break,
            r = connect(&opts, &auth_id) => r,
        };
        let mut gw = match connected {
            Ok(gw) => gw,
            Err(e) => {
                memory.record.connect_failures += 1;
                counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                memory.record.last_error = Some(e.to_string());
                tokio::select! {
                    () = shared.abort.cancelled() => break,
                    () = tokio::time::sleep(opts.reconnect_pause) => continue,
                }
            }
        };
        memory.record.sessions += 1;
        memory.record.gw_id = Some(gw.gw_id());
        counters.sessions.fetch_add(1, Ordering::Relaxed);
        gw_id.send_replace(Some(gw.gw_id()));
        registered.store(now_ms(), Ordering::Relaxed);
        let mut outstanding = HashMap::new();
        let ended = session(&opts, &shared, &mut gw, &mut memory, &mut outstanding).await;
        registered.store(0, Ordering::Relaxed);
        memory.record.session_ends.push(now_ms());
        if let Err(e) = ended {
            memory.record.last_error = Some(e.to_string());
        }
        if opts.resend_notifications {
            let mut left: Vec<usize> = outstanding.into_values().collect();
            left.sort_unstable();
            memory.pending.extend(left);
        }
    }
    memory.record
}

async fn connect(opts: &ResponderOptions, auth_id: &str) -> Result<Gateway, ClientError> {
    let stream = gmmp_client::connect(opts.target, None).await?;
    Gateway::register(stream, auth_id, MANUFACTURE_ID, opts.answer_timeout).await
}

/// One registered session: answer 0x0Ds, collect 0x18s, until the session
/// fails (Err) or `abort` (Ok). `outstanding` (T-ID → arrival) is left
/// with the 0x17s not answered.
async fn session(
    opts: &ResponderOptions,
    shared: &Shared,
    gw: &mut Gateway,
    memory: &mut Memory,
    outstanding: &mut HashMap<u32, usize>,
) -> Result<(), ClientError> {
    let counters = &shared.counters;
    let session_no = memory.record.sessions;
    for at in std::mem::take(&mut memory.pending) {
        let a = &mut memory.record.arrivals[at];
        let frame = notification(gw, memory.domain, a.tid, a.key.data().into());
        a.notifications_sent += 1;
        outstanding.insert(a.tid, at);
        gw.feed(&frame).await?;
    }
    gw.flush().await?;
    loop {
        let frame = tokio::select! {
            () = shared.abort.cancelled() => return Ok(()),
            f = gw.recv("waiting for controls") => f?,
        };
        match &frame.message {
            Message::ControlRequest(control) => {
                let tid = frame.header.tid;
                let key = ControlKey::from_data(&control.payload).filter(|k| {
                    k.gateway == opts.index
                        && control.device_id == DeviceId::EMPTY
                        && control.control_type.0 == super::CONTROL_TYPE
                });
                let Some(key) = key else {
                    memory.record.foreign_controls.push(format!(
                        "T-ID {tid}, device {:?}, control type 0x{:02x}, data {:?}",
                        control.device_id.to_string(),
                        control.control_type.0,
                        String::from_utf8_lossy(&control.payload)
                    ));
                    continue;
                };
                counters.arrivals.fetch_add(1, Ordering::Relaxed);
                memory.record.arrivals.push(Arrival {
                    key,
                    tid,
                    session: session_no,
                    at_ms: now_ms(),
                    after_ack: memory.acknowledged.contains(&key),
                    notifications_sent: 1,
                    answers: Vec::new(),
                });
                outstanding.insert(tid, memory.record.arrivals.len() - 1);
                let response = Frame::new(
                    gw.header(tid),
                    ControlResponse {
                        domain_code: memory.domain,
                        gw_id: gw.identity().gw_id,
                        device_id: DeviceId::EMPTY,
                        control_type: ControlType(super::CONTROL_TYPE),
                        result_code: ResultCode::OK,
                    },
                );
                let echo = notification(gw, memory.domain, tid, control.payload.clone());
                gw.feed(&response).await?;
                gw.feed(&echo).await?;
                gw.flush().await?;
            }
            Message::NotificationResponse(answer) => {
                counters.answers.fetch_add(1, Ordering::Relaxed);
                let Some(at) = outstanding.remove(&frame.header.tid) else {
                    memory.record.stray_answers += 1;
                    continue;
                };
                let a = &mut memory.record.arrivals[at];
                a.answers.push(answer.result_code.0);
                if answer.result_code == ResultCode::OK {
                    memory.acknowledged.insert(a.key);
                }
            }
            // Nothing else is expected; nothing else is ours to judge.
            _ => {}
        }
    }
}

/// The 0x17 for the control with T-ID `tid`: rc 0, `body` echoed. The
/// control type is the run's ([`super::CONTROL_TYPE`]).
fn notification(gw: &Gateway, domain: DomainCode, tid: u32, body: Bytes) -> Frame {
    Frame::new(
        gw.header(tid),
        NotificationRequest {
            domain_code: domain,
            gw_id: gw.identity().gw_id,
            device_id: DeviceId::EMPTY,
            control_type: ControlType(super::CONTROL_TYPE),
            result_code: ResultCode::OK,
            payload: body,
        },
    )
}
