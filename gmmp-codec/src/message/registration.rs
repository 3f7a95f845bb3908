//! GW and device registration and deregistration (0x01..0x04, 0x07..0x0A).
//!
//! ```text
//! 0x01 GW reg req        domain_code(10) manufacture_id(16)                     26
//! 0x02 GW reg rsp        domain_code(10) gw_id(16) rc(1)                         27
//!                        (the assigned auth key travels in the response HEADER)
//! 0x03 GW dereg req      domain_code(10) gw_id(16)                               26
//! 0x04 GW dereg rsp      domain_code(10) gw_id(16) rc(1)                         27
//! 0x07 device reg req    domain_code(10) gw_id(16) manufacture_id(16)            42
//! 0x08 device reg rsp    domain_code(10) gw_id(16) device_id(16) rc(1)           43
//! 0x09 device dereg req  domain_code(10) gw_id(16) device_id(16)                 42
//! 0x0A device dereg rsp  domain_code(10) gw_id(16) device_id(16) rc(1)           43
//! ```

use deku::prelude::*;

use crate::codes::ResultCode;
use crate::fixed_str::{DeviceId, DomainCode, GwId, ManufactureId};
use crate::message::body::fixed_body;

/// 0x01: a GW asks to be registered (auth key all zero in the header).
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct GwRegistrationRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW maker's ID.
    pub manufacture_id: ManufactureId,
}
fixed_body!(GwRegistrationRequest, GwRegistrationRequest, 26, ids());

/// 0x02: the OMP's answer: the GW ID here, the auth key in the header.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct GwRegistrationResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW ID assigned.
    pub gw_id: GwId,
    /// Outcome.
    pub result_code: ResultCode,
}
fixed_body!(GwRegistrationResponse, GwRegistrationResponse, 27, ids(gw));

/// 0x03: a GW ends its registration.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct GwDeregistrationRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
}
fixed_body!(
    GwDeregistrationRequest,
    GwDeregistrationRequest,
    26,
    ids(gw)
);

/// 0x04: answer to a GW deregistration.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct GwDeregistrationResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// Outcome.
    pub result_code: ResultCode,
}
fixed_body!(
    GwDeregistrationResponse,
    GwDeregistrationResponse,
    27,
    ids(gw)
);

/// 0x07: a GW registers a device under it.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct DeviceRegistrationRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// Identifies the device (the WizFi310 sends its MAC).
    pub manufacture_id: ManufactureId,
}
fixed_body!(
    DeviceRegistrationRequest,
    DeviceRegistrationRequest,
    42,
    ids(gw)
);

/// 0x08: the OMP assigns the device ID.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct DeviceRegistrationResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device ID assigned.
    pub device_id: DeviceId,
    /// Outcome.
    pub result_code: ResultCode,
}
fixed_body!(
    DeviceRegistrationResponse,
    DeviceRegistrationResponse,
    43,
    ids(gw, device)
);

/// 0x09: a GW deregisters one of its devices.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct DeviceDeregistrationRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device.
    pub device_id: DeviceId,
}
fixed_body!(
    DeviceDeregistrationRequest,
    DeviceDeregistrationRequest,
    42,
    ids(gw, device)
);

/// 0x0A: answer to a device deregistration.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct DeviceDeregistrationResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device.
    pub device_id: DeviceId,
    /// Outcome.
    pub result_code: ResultCode,
}
fixed_body!(
    DeviceDeregistrationResponse,
    DeviceDeregistrationResponse,
    43,
    ids(gw, device)
);
