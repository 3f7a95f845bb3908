//! Control (0x0D/0x0E), long sentence (0x11/0x12) and notification
//! (0x17/0x18): the OMP asks a GW to act, and the GW reports the result.
//!
//! ```text
//! 0x0D req  domain_code(10) gw_id(16) device_id(16) ct(1) payload…          43 + n
//! 0x0E rsp  domain_code(10) gw_id(16) device_id(16) ct(1) rc(1)             44
//! 0x11 req  domain_code(10) gw_id(16) device_id(16) ct(1)                   43
//! 0x12 rsp  domain_code(10) gw_id(16) device_id(16) ct(1) rc(1) payload…    44 + n
//! 0x17 req  domain_code(10) gw_id(16) device_id(16) ct(1) rc(1) payload…    44 + n
//! 0x18 rsp  domain_code(10) gw_id(16) device_id(16) ct(1) rc(1)             44
//! ```
//!
//! The control goes OMP → GW with the OMP's T-ID; the GW answers 0x0E at
//! once, acts, then sends 0x17 with the same T-ID (usually: docs/gmmp.md §7).
//! Control data too large for one request is fetched with 0x11/0x12.

use bytes::Bytes;
use deku::prelude::*;

use crate::codes::{ControlType, ResultCode};
use crate::fixed_str::{DeviceId, DomainCode, GwId};
use crate::message::body::{fixed_body, payload_body};

/// 0x0D: the OMP asks a GW (or one of its devices) to act.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct ControlRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// What to do.
    pub control_type: ControlType,
    /// Control data, 0..=2048 bytes (time sync: u32 Unix seconds, …).
    #[deku(skip, default = "Bytes::new()")]
    pub payload: Bytes,
}
payload_body!(ControlRequest, ControlRequest, 43, ids(gw, device));

/// 0x0E: the GW accepted (rc 0) or refused the control.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct ControlResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// The control's type, echoed.
    pub control_type: ControlType,
    /// Accepted or not.
    pub result_code: ResultCode,
}
fixed_body!(ControlResponse, ControlResponse, 44, ids(gw, device));

/// 0x11: a GW fetches the data of a control too large for 0x0D.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct LongSentenceRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// The control's type.
    pub control_type: ControlType,
}
fixed_body!(
    LongSentenceRequest,
    LongSentenceRequest,
    43,
    ids(gw, device)
);

/// 0x12: the control data.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct LongSentenceResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// The control's type.
    pub control_type: ControlType,
    /// Found or not.
    pub result_code: ResultCode,
    /// The control data (or one part of it).
    #[deku(skip, default = "Bytes::new()")]
    pub payload: Bytes,
}
payload_body!(
    LongSentenceResponse,
    LongSentenceResponse,
    44,
    ids(gw, device)
);

/// 0x17: the result of a control, sent by the GW after acting on it.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct NotificationRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// The control's type.
    pub control_type: ControlType,
    /// The control's outcome.
    pub result_code: ResultCode,
    /// Result data (status check: report state, operation state; …).
    #[deku(skip, default = "Bytes::new()")]
    pub payload: Bytes,
}
payload_body!(
    NotificationRequest,
    NotificationRequest,
    44,
    ids(gw, device)
);

/// 0x18: the OMP received the result.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct NotificationResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// The control's type.
    pub control_type: ControlType,
    /// Whether the OMP matched the notification to a control.
    pub result_code: ResultCode,
}
fixed_body!(
    NotificationResponse,
    NotificationResponse,
    44,
    ids(gw, device)
);
