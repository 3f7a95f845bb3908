//! The control family on a GW's session: control responses (0x0E),
//! notifications (0x17 → 0x18) and long sentences (0x11 → 0x12). Each is
//! handed to the control dispatcher ([`crate::control`]), which matches it
//! with a control in flight; these functions turn its answer into GMMP.

use gmmp_codec::{
    ControlResponse, Header, LongSentenceRequest, LongSentenceResponse, NotificationRequest,
    NotificationResponse, ResultCode,
};

use crate::control::{ControlHandle, ControlRef, LongSentence};

fn about(gw_id: &str, header: &Header, device_id: &gmmp_codec::DeviceId, ct: u8) -> ControlRef {
    ControlRef {
        gw_id: gw_id.to_owned(),
        tid: header.tid,
        device_id: device_id.as_str().unwrap_or_default().to_owned(),
        control_type: ct,
    }
}

/// Takes a control response (0x0E) of the authenticated GW `gw_id`.
pub async fn response(
    control: &ControlHandle,
    gw_id: &str,
    header: &Header,
    rsp: &ControlResponse,
) {
    let about = about(gw_id, header, &rsp.device_id, rsp.control_type.0);
    control.response(about, rsp.result_code).await;
}

/// Answers a notification (0x17): rc 0x00 once its result is committed,
/// 0x06 when it matches no control in flight.
pub async fn notification(
    control: &ControlHandle,
    gw_id: &str,
    header: &Header,
    req: &NotificationRequest,
) -> NotificationResponse {
    let about = about(gw_id, header, &req.device_id, req.control_type.0);
    let result_code = control
        .notification(about, req.result_code, req.payload.clone())
        .await;
    NotificationResponse {
        domain_code: req.domain_code,
        gw_id: req.gw_id,
        device_id: req.device_id,
        control_type: req.control_type,
        result_code,
    }
}

/// Answers a long sentence request (0x11) with the data of the control in
/// flight it names (the caller splits data over 2048 bytes into parts).
pub async fn long_sentence(
    control: &ControlHandle,
    gw_id: &str,
    header: &Header,
    req: &LongSentenceRequest,
) -> LongSentenceResponse {
    let about = about(gw_id, header, &req.device_id, req.control_type.0);
    let (result_code, payload) = match control.long_sentence(about).await {
        LongSentence::Data(data) => (ResultCode::OK, data),
        LongSentence::NotFound => (ResultCode::NOT_FOUND, bytes::Bytes::new()),
        LongSentence::Failed => (ResultCode::INTERNAL_SERVER_ERROR, bytes::Bytes::new()),
    };
    LongSentenceResponse {
        domain_code: req.domain_code,
        gw_id: req.gw_id,
        device_id: req.device_id,
        control_type: req.control_type,
        result_code,
        payload,
    }
}
