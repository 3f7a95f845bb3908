//! Heartbeat (0x0F/0x10): keeps an Always-On session alive.
//!
//! ```text
//! 0x0F req  domain_code(10) gw_id(16)   26
//! 0x10 rsp  domain_code(10) gw_id(16)   26
//! ```

use deku::prelude::*;

use crate::fixed_str::{DomainCode, GwId};
use crate::message::body::fixed_body;

/// 0x0F: the GW is alive.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct HeartbeatRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
}
fixed_body!(HeartbeatRequest, HeartbeatRequest, 26, ids(gw));

/// 0x10: the OMP heard it.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct HeartbeatResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
}
fixed_body!(HeartbeatResponse, HeartbeatResponse, 26, ids(gw));
