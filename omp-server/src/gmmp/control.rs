//! Hooks for the control family the GW starts: long sentence (0x11) and
//! notification (0x17), and control responses (0x0E) from the GW.
//!
//! The control task (OMP-initiated control requests) replaces
//! [`NoControl`] with its own [`ControlHooks`]; until then long sentences
//! and notifications are answered rc 0x06 not found (there is no open
//! control they could belong to) and control responses are logged.

use futures::future::BoxFuture;
use gmmp_codec::{
    ControlResponse, Header, LongSentenceRequest, LongSentenceResponse, NotificationRequest,
    NotificationResponse, ResultCode,
};

/// What the session asks the control part.
pub trait ControlHooks: Send + Sync + 'static {
    /// Answers a long sentence request of the authenticated GW `gw_id`.
    fn long_sentence<'a>(
        &'a self,
        gw_id: &'a str,
        header: &'a Header,
        request: &'a LongSentenceRequest,
    ) -> BoxFuture<'a, LongSentenceResponse>;

    /// Answers a notification (control result) of the GW `gw_id`.
    fn notification<'a>(
        &'a self,
        gw_id: &'a str,
        header: &'a Header,
        request: &'a NotificationRequest,
    ) -> BoxFuture<'a, NotificationResponse>;

    /// Takes a control response (0x0E) from the GW `gw_id`.
    fn control_response(&self, gw_id: &str, header: &Header, response: &ControlResponse);
}

/// No control part yet: no control is ever open.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoControl;

impl ControlHooks for NoControl {
    fn long_sentence<'a>(
        &'a self,
        gw_id: &'a str,
        header: &'a Header,
        request: &'a LongSentenceRequest,
    ) -> BoxFuture<'a, LongSentenceResponse> {
        tracing::info!(gw_id, tid = header.tid, control_type = %request.control_type.name(),
            "long sentence for no open control; answering not found");
        Box::pin(std::future::ready(LongSentenceResponse {
            domain_code: request.domain_code,
            gw_id: request.gw_id,
            device_id: request.device_id,
            control_type: request.control_type,
            result_code: ResultCode::NOT_FOUND,
            payload: bytes::Bytes::new(),
        }))
    }

    fn notification<'a>(
        &'a self,
        gw_id: &'a str,
        header: &'a Header,
        request: &'a NotificationRequest,
    ) -> BoxFuture<'a, NotificationResponse> {
        tracing::info!(gw_id, tid = header.tid, control_type = %request.control_type.name(),
            "notification for no open control; answering not found");
        Box::pin(std::future::ready(NotificationResponse {
            domain_code: request.domain_code,
            gw_id: request.gw_id,
            device_id: request.device_id,
            control_type: request.control_type,
            result_code: ResultCode::NOT_FOUND,
        }))
    }

    fn control_response(&self, gw_id: &str, header: &Header, response: &ControlResponse) {
        tracing::info!(gw_id, tid = header.tid, control_type = %response.control_type.name(),
            rc = %response.result_code, "control response for no open control; ignored");
    }
}
