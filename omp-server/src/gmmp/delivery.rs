//! Delivery (0x0B/0x0C): store, then answer.
//!
//! The row goes to the group-commit writer and the session waits for the
//! commit before answering STATUS_OK, so every acknowledged delivery is on
//! disk. A full writer queue is answered rc 0x0F with the configured
//! back-off (47-byte response) and nothing is stored, and so is a
//! delivery of a gateway that holds its share of the writer queue
//! already (`store::writer::Shares`); a failed commit is
//! answered rc 0x0C. T-IDs are echoed and never used to de-duplicate
//! (real modules repeat them, docs/gmmp.md §7) — except in a *keyed* delivery,
//! this project's extension (`gmmp_codec::KEYED_DELIVERY` in the header's
//! reserved byte): its sender re-sends it under the same device, T-ID and
//! origin_timestamp until it sees STATUS_OK, so the writer acknowledges a
//! resend of one it stored without storing it twice. That closes the one
//! gap of at-least-once: a STATUS_OK lost after the commit.
//!
//! Split deliveries (total_count > 1) go to the writer part by part, each
//! answered only once committed (see `store::writer::parts` and the
//! README's "Split deliveries"): rc 0x00 for a part stored, held already
//! (a repeat) or completing its delivery; rc 0x03 for a part no split
//! expects, rc 0x0A for one that contradicts the split in progress —
//! both change nothing, so the split can still complete.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use gmmp_codec::{DeliveryRequest, DeliveryResponse, Header, Message, PartRefusal, ResultCode};

use crate::directory::GatewayEntry;
use crate::gmmp::log_budget::LogBudget;
use crate::state::Shared;
use crate::store::deliveries::DeliveryRow;
use crate::store::now_millis;
use crate::store::splits::PartRow;
use crate::store::writer::{Committed, PartOutcome, SubmitError};

/// Refused split parts logged per second (the rest are counted).
static REFUSED_PART_LOG: LogBudget = LogBudget::new(10);
/// Back-off answers logged per second (the rest are counted).
static BACKOFF_LOG: LogBudget = LogBudget::new(1);

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
    peer: SocketAddr,
    entry: &GatewayEntry,
    header: &Header,
    req: &DeliveryRequest,
) -> Message {
    let device_id = req.device_id.as_str().unwrap_or_default();
    if !req.device_id.is_empty() && !entry.devices.contains(device_id) {
        tracing::warn!(gw_id = %entry.gw_id, device_id = %req.device_id, tid = header.tid,
            "delivery from a device not registered under this GW");
        return respond(req, ResultCode::NOT_FOUND, None);
    }
    if header.total_count != 1 || header.current_count != 1 {
        return deliver_part(state, peer, entry, header, req).await;
    }
    let row = DeliveryRow {
        gw_id: entry.gw_id.clone(),
        device_id: device_id.to_owned(),
        report_type: req.report_type.0,
        media_type: req.media_type,
        tid: header.tid,
        origin_timestamp: header.origin_timestamp,
        received_at: now_millis(),
        encryption_flag: header.encryption_flag,
        payload: req.payload.clone(),
        keyed: header.is_keyed(),
    };
    let committed = match state.writer.submit(row) {
        Ok(committed) => committed,
        Err(e) => return not_queued(state, entry, header, req, e),
    };
    match committed.await {
        Ok(Ok(outcome)) => {
            count_committed(state, outcome);
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

/// One part of a split delivery: committed, recognised or refused by the
/// writer, which owns the open splits.
async fn deliver_part(
    state: &Shared,
    peer: SocketAddr,
    entry: &GatewayEntry,
    header: &Header,
    req: &DeliveryRequest,
) -> Message {
    let part = PartRow {
        gw_id: entry.gw_id.clone(),
        device_id: req.device_id.as_str().unwrap_or_default().to_owned(),
        report_type: req.report_type.0,
        media_type: req.media_type,
        tid: header.tid,
        current: header.current_count,
        total: header.total_count,
        origin_timestamp: header.origin_timestamp,
        received_at: now_millis(),
        encryption_flag: header.encryption_flag,
        payload: req.payload.clone(),
        keyed: header.is_keyed(),
        peer: peer.to_string(),
    };
    let outcome = match state.writer.submit_part(part) {
        Ok(outcome) => outcome,
        Err(e) => return not_queued(state, entry, header, req, e),
    };
    match outcome.await {
        Ok(Ok(PartOutcome::Stored | PartOutcome::Repeated)) => respond(req, ResultCode::OK, None),
        Ok(Ok(PartOutcome::Completed(outcome))) => {
            count_committed(state, outcome);
            respond(req, ResultCode::OK, None)
        }
        Ok(Ok(PartOutcome::Refused(why))) => {
            let rc = refusal_code(&why);
            match REFUSED_PART_LOG.take() {
                Some(left_out) => tracing::warn!(%peer, gw_id = %entry.gw_id,
                    device_id = %req.device_id, tid = header.tid, current = header.current_count,
                    total = header.total_count, bytes = req.payload.len(), reason = %why,
                    rc = %rc, left_out, "split delivery part refused"),
                None => tracing::debug!(%peer, gw_id = %entry.gw_id, reason = %why,
                    "split delivery part refused"),
            }
            respond(req, rc, None)
        }
        Ok(Err(e)) => {
            tracing::error!(gw_id = %entry.gw_id, tid = header.tid, error = %e,
                "split delivery part not stored");
            respond(req, ResultCode::INTERNAL_SERVER_ERROR, None)
        }
        Err(_) => {
            tracing::error!(gw_id = %entry.gw_id, tid = header.tid,
                "writer dropped the split delivery part");
            respond(req, ResultCode::INTERNAL_SERVER_ERROR, None)
        }
    }
}

/// rc 0x0A for a part that contradicts a split in progress, else 0x03.
fn refusal_code(why: &PartRefusal) -> ResultCode {
    if why.contradicts() {
        ResultCode::CONFLICT
    } else {
        ResultCode::BAD_REQUEST
    }
}

fn count_committed(state: &Shared, outcome: Committed) {
    let counter = match outcome {
        Committed::Stored => &state.metrics.deliveries_ok,
        Committed::AlreadyStored => &state.metrics.deliveries_already_stored,
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The answer when the writer did not take the delivery.
fn not_queued(
    state: &Shared,
    entry: &GatewayEntry,
    header: &Header,
    req: &DeliveryRequest,
    error: SubmitError,
) -> Message {
    match error {
        SubmitError::Full | SubmitError::OverShare => {
            let m = &state.metrics;
            m.deliveries_backoff.fetch_add(1, Ordering::Relaxed);
            let over_share = error == SubmitError::OverShare;
            if over_share {
                m.deliveries_over_share.fetch_add(1, Ordering::Relaxed);
            }
            // A flooding gateway meets this on every delivery.
            match BACKOFF_LOG.take() {
                Some(left_out) => tracing::warn!(gw_id = %entry.gw_id, tid = header.tid,
                    over_share, backoff_seconds = state.config.backoff_seconds, left_out,
                    "writer saturated or gateway over its share of the writer queue; asking for back-off"),
                None => tracing::debug!(gw_id = %entry.gw_id, tid = header.tid, over_share,
                    "asking for back-off"),
            }
            respond(
                req,
                ResultCode::SERVICE_UNAVAILABLE,
                Some(state.config.backoff_seconds),
            )
        }
        SubmitError::Closed => {
            tracing::error!(gw_id = %entry.gw_id, tid = header.tid, "writer stopped; delivery not stored");
            respond(req, ResultCode::INTERNAL_SERVER_ERROR, None)
        }
    }
}
