//! Delivery (0x0B/0x0C): store, then answer.
//!
//! The row goes to the group-commit writer and the session waits for the
//! commit before answering STATUS_OK, so every acknowledged delivery is on
//! disk. A full writer queue is answered rc 0x0F with the configured
//! back-off (47-byte response) and nothing is stored; a failed commit is
//! answered rc 0x0C. T-IDs are echoed and never used to de-duplicate
//! (real modules repeat them, docs/gmmp.md §7) — except in a *keyed* delivery,
//! this project's extension (`gmmp_codec::KEYED_DELIVERY` in the header's
//! reserved byte): its sender re-sends it under the same device, T-ID and
//! origin_timestamp until it sees STATUS_OK, so the writer acknowledges a
//! resend of one it stored without storing it twice. That closes the one
//! gap of at-least-once: a STATUS_OK lost after the commit.
//!
//! Split deliveries (total_count > 1) are reassembled per session; each
//! part is answered, the parts before the last with rc 0x00 once held in
//! memory, the last one after the whole payload is committed as one row.

use std::time::Instant;

use gmmp_codec::{
    DeliveryRequest, DeliveryResponse, Header, Message, Reassembler, ReassemblyLimits, ResultCode,
};

use crate::directory::GatewayEntry;
use crate::state::Shared;
use crate::store::deliveries::DeliveryRow;
use crate::store::now_millis;
use crate::store::writer::{Committed, SubmitError};

/// Most split messages one connection may hold half-received.
const MAX_INCOMPLETE_PER_SESSION: usize = 4;

fn respond(req: &DeliveryRequest, rc: ResultCode, backoff_time: Option<u32>) -> Message {
    DeliveryResponse {
        domain_code: req.domain_code,
        gw_id: req.gw_id,
        device_id: req.device_id,
        result_code: rc,
        backoff_time,
    }
    .into()
}

/// Handles 0x0B for the authenticated GW.
pub async fn deliver(
    state: &Shared,
    entry: &GatewayEntry,
    header: &Header,
    req: &DeliveryRequest,
    reassembler: &mut Option<Box<Reassembler>>,
) -> Message {
    let device_id = req.device_id.as_str().unwrap_or_default();
    if !req.device_id.is_empty() && !entry.devices.contains(device_id) {
        tracing::warn!(gw_id = %entry.gw_id, device_id = %req.device_id, tid = header.tid,
            "delivery from a device not registered under this GW");
        return respond(req, ResultCode::NOT_FOUND, None);
    }
    let payload = if header.total_count == 1 && header.current_count == 1 {
        req.payload.clone()
    } else {
        let limits = ReassemblyLimits {
            max_message_bytes: state.config.max_connection_buffer,
            max_incomplete: MAX_INCOMPLETE_PER_SESSION,
            ..ReassemblyLimits::default()
        };
        let r = reassembler.get_or_insert_with(|| Box::new(Reassembler::new(limits)));
        let pushed = r.push(
            header.auth_id,
            header.tid,
            header.current_count,
            header.total_count,
            req.payload.clone(),
            Instant::now(),
        );
        match pushed {
            Ok(Some(whole)) => whole,
            Ok(None) => return respond(req, ResultCode::OK, None),
            Err(e) => {
                tracing::warn!(gw_id = %entry.gw_id, tid = header.tid, error = %e,
                    "split delivery part refused");
                return respond(req, ResultCode::BAD_REQUEST, None);
            }
        }
    };
    let row = DeliveryRow {
        gw_id: entry.gw_id.clone(),
        device_id: device_id.to_owned(),
        report_type: req.report_type.0,
        media_type: req.media_type,
        tid: header.tid,
        origin_timestamp: header.origin_timestamp,
        received_at: now_millis(),
        encryption_flag: header.encryption_flag,
        payload,
        keyed: header.is_keyed(),
    };
    let committed = match state.writer.submit(row) {
        Ok(committed) => committed,
        Err(SubmitError::Full) => {
            state
                .metrics
                .deliveries_backoff
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(gw_id = %entry.gw_id, tid = header.tid,
                backoff_seconds = state.config.backoff_seconds, "writer saturated; asking for back-off");
            return respond(
                req,
                ResultCode::SERVICE_UNAVAILABLE,
                Some(state.config.backoff_seconds),
            );
        }
        Err(SubmitError::Closed) => {
            tracing::error!(gw_id = %entry.gw_id, tid = header.tid, "writer stopped; delivery not stored");
            return respond(req, ResultCode::INTERNAL_SERVER_ERROR, None);
        }
    };
    match committed.await {
        Ok(Ok(outcome)) => {
            let counter = match outcome {
                Committed::Stored => &state.metrics.deliveries_ok,
                Committed::AlreadyStored => &state.metrics.deliveries_already_stored,
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            respond(req, ResultCode::OK, None)
        }
        Ok(Err(e)) => {
            tracing::error!(gw_id = %entry.gw_id, tid = header.tid, error = %e, "delivery not stored");
            respond(req, ResultCode::INTERNAL_SERVER_ERROR, None)
        }
        Err(_) => {
            tracing::error!(gw_id = %entry.gw_id, tid = header.tid, "writer dropped the delivery");
            respond(req, ResultCode::INTERNAL_SERVER_ERROR, None)
        }
    }
}
