//! Profile (0x05/0x06): the periods and identity the OMP holds for a GW or
//! device.
//!
//! ```text
//! 0x05 req  domain_code(10) gw_id(16) device_id(16)                                42
//! 0x06 rsp  domain_code(10) gw_id(16) device_id(16) rc(1)
//!           heartbeat_period u32 (min) report_period u32 (min)
//!           report_offset u32 (s) response_timeout u32 (s)
//!           model(32) firmware_version(16) software_version(16) hardware_version(16) 139
//! ```

use deku::prelude::*;

use crate::codes::ResultCode;
use crate::fixed_str::{DeviceId, DomainCode, FixedStr, GwId};
use crate::message::body::fixed_body;

/// 0x05: a GW asks for its profile (device ID empty) or a device's.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct ProfileRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
}
fixed_body!(ProfileRequest, ProfileRequest, 42, ids(gw, device));

/// 0x06: the profile.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct ProfileResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// Outcome.
    pub result_code: ResultCode,
    /// Heartbeat period in minutes; 0 = no heartbeats.
    pub heartbeat_period: u32,
    /// Report (delivery) period in minutes; 0 = no periodic reports.
    pub report_period: u32,
    /// Offset of reports within the period, seconds.
    pub report_offset: u32,
    /// How long the GW waits for a response, seconds.
    pub response_timeout: u32,
    /// Model name.
    pub model: FixedStr<32>,
    /// Firmware version.
    pub firmware_version: FixedStr<16>,
    /// Software version.
    pub software_version: FixedStr<16>,
    /// Hardware version.
    pub hardware_version: FixedStr<16>,
}
fixed_body!(ProfileResponse, ProfileResponse, 139, ids(gw, device));
