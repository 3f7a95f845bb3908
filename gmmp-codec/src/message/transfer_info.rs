//! FTP info (0x13/0x14) and remote access info (0x15/0x16): where a GW
//! fetches a file or opens a remote session, after a control asked it to.
//!
//! ```text
//! 0x13 req  domain_code(10) gw_id(16) device_id(16) ct(1)                          43
//! 0x14 rsp  … ct(1) rc(1) server_ip(16) server_port u16 user(16) password(16)
//!           file_path(64) file_name(32) file_hash(32) file_size u32                226
//! 0x15 req  domain_code(10) gw_id(16) device_id(16) ct(1)                          43
//! 0x16 rsp  … ct(1) rc(1) server_ip(16) server_port u16 user(16) password(16)
//!           start_time u32 end_time u32                                            102
//! ```

use deku::prelude::*;

use crate::codes::{ControlType, ResultCode};
use crate::fixed_str::{DeviceId, DomainCode, FixedStr, GwId};
use crate::message::body::fixed_body;

/// 0x13: the GW asks where to fetch a file for a control.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct FtpInfoRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// The control's type.
    pub control_type: ControlType,
}
fixed_body!(FtpInfoRequest, FtpInfoRequest, 43, ids(gw, device));

/// 0x14: the FTP server and file.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct FtpInfoResponse {
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
    /// File name.
    pub file_name: FixedStr<32>,
    /// File hash.
    pub file_hash: FixedStr<32>,
    /// File size in bytes.
    pub file_size: u32,
}
fixed_body!(FtpInfoResponse, FtpInfoResponse, 226, ids(gw, device));

/// 0x15: the GW asks where to open a remote access session.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct RemoteAccessInfoRequest {
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
    RemoteAccessInfoRequest,
    RemoteAccessInfoRequest,
    43,
    ids(gw, device)
);

/// 0x16: the remote access server and time window.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct RemoteAccessInfoResponse {
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
    /// Server address as text.
    pub server_ip: FixedStr<16>,
    /// Server port.
    pub server_port: u16,
    /// Login.
    pub user: FixedStr<16>,
    /// Password.
    pub password: FixedStr<16>,
    /// Window start, Unix seconds.
    pub start_time: u32,
    /// Window end, Unix seconds.
    pub end_time: u32,
}
fixed_body!(
    RemoteAccessInfoResponse,
    RemoteAccessInfoResponse,
    102,
    ids(gw, device)
);
