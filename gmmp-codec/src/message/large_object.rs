//! Multimedia URL (0x1D/0x1E) and large-object (LOB) storage
//! (0x1F..0x24): where a GW sends media and big files.
//!
//! ```text
//! 0x1D req  domain_code(10) gw_id(16) device_id(16) ct(1)                        43
//! 0x1E rsp  … ct(1) rc(1) url(256) user(16) password(16)                         332
//! 0x1F req  domain_code(10) gw_id(16) device_id(16)                              42
//! 0x20 rsp  … rc(1) access_key(20) secret_key(16) directory(16)                  95
//! 0x21 req  domain_code(10) gw_id(16) device_id(16)                              42
//! 0x22 rsp  … rc(1) server_ip(16) server_port u16 user(16) password(16)
//!           file_path(64)                                                        157
//! 0x23 req  domain_code(10) gw_id(16) device_id(16) storage_type(1) lob_path(64) 107
//! 0x24 rsp  … rc(1)                                                              43
//! ```

use deku::prelude::*;

use crate::codes::{ControlType, ResultCode};
use crate::fixed_str::{DeviceId, DomainCode, FixedStr, GwId};
use crate::message::body::fixed_body;

/// 0x1D: the GW asks where to stream multimedia.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct MultimediaUrlRequest {
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
    MultimediaUrlRequest,
    MultimediaUrlRequest,
    43,
    ids(gw, device)
);

/// 0x1E: the multimedia URL and credentials.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct MultimediaUrlResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// The control's type.
    pub control_type: ControlType,
    /// Outcome.
    pub result_code: ResultCode,
    /// Where to stream.
    pub url: FixedStr<256>,
    /// Login.
    pub user: FixedStr<16>,
    /// Password.
    pub password: FixedStr<16>,
}
fixed_body!(
    MultimediaUrlResponse,
    MultimediaUrlResponse,
    332,
    ids(gw, device)
);

/// 0x1F: the GW asks for cloud storage credentials.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct LobCloudRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
}
fixed_body!(LobCloudRequest, LobCloudRequest, 42, ids(gw, device));

/// 0x20: cloud storage credentials.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct LobCloudResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// Outcome.
    pub result_code: ResultCode,
    /// Access key.
    pub access_key: FixedStr<20>,
    /// Secret key.
    pub secret_key: FixedStr<16>,
    /// Directory.
    pub directory: FixedStr<16>,
}
fixed_body!(LobCloudResponse, LobCloudResponse, 95, ids(gw, device));

/// 0x21: the GW asks for an FTP server for a large object.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct LobFtpRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
}
fixed_body!(LobFtpRequest, LobFtpRequest, 42, ids(gw, device));

/// 0x22: the FTP server for large objects.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct LobFtpResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// Outcome.
    pub result_code: ResultCode,
    /// Server address as text.
    pub server_ip: FixedStr<16>,
    /// Server port.
    pub server_port: u16,
    /// Login.
    pub user: FixedStr<16>,
    /// Password.
    pub password: FixedStr<16>,
    /// Directory.
    pub file_path: FixedStr<64>,
}
fixed_body!(LobFtpResponse, LobFtpResponse, 157, ids(gw, device));

/// 0x23: the GW reports a large object it uploaded.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct LobUploadNotificationRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// 0x01 cloud, 0x02 FTP.
    pub storage_type: u8,
    /// Where it was stored.
    pub lob_path: FixedStr<64>,
}
fixed_body!(
    LobUploadNotificationRequest,
    LobUploadNotificationRequest,
    107,
    ids(gw, device)
);

/// 0x24: upload noted.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct LobUploadNotificationResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// Outcome.
    pub result_code: ResultCode,
}
fixed_body!(
    LobUploadNotificationResponse,
    LobUploadNotificationResponse,
    43,
    ids(gw, device)
);
