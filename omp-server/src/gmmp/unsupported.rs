//! Requests the OMP does not serve (FTP info, remote access, multimedia,
//! LOB, and a control request sent by a GW): answered with their own
//! response type and rc 0x0D not implemented — never silence.

use gmmp_codec::{Message, ResultCode};

/// The rc 0x0D answer to `request`.
pub fn answer(request: &Message) -> Option<Message> {
    tracing::info!(message_type = ?request.message_type(), "request type not served; answering not implemented");
    request.response_with_result_code(ResultCode::NOT_IMPLEMENTED)
}
