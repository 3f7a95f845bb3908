//! Heartbeat (0x0F/0x10): echo the domain and GW ID. The session resets
//! its silence timer on every frame, so nothing else is needed here.

use gmmp_codec::{HeartbeatRequest, HeartbeatResponse, Message};

/// Handles 0x0F for the authenticated GW.
pub fn answer(req: &HeartbeatRequest) -> Message {
    HeartbeatResponse {
        domain_code: req.domain_code,
        gw_id: req.gw_id,
    }
    .into()
}
