//! Encryption info and key (0x19..0x1C).
//!
//! ```text
//! 0x19 req  domain_code(10) gw_id(16) device_id(16)                                  42
//! 0x1A rsp  domain_code(10) gw_id(16) device_id(16) rc(1) encryption_flag(1) algorithm(1) 45
//! 0x1B req  domain_code(10) gw_id(16) device_id(16) key(32)                           74
//! 0x1C rsp  domain_code(10) gw_id(16) device_id(16) rc(1)                             43
//! ```
//! Algorithms: 0x01 AES-128, 0x02 AES-192, 0x03 AES-256, 0x04 SEED-128,
//! 0x05 SEED-256.

use deku::prelude::*;

use crate::codes::ResultCode;
use crate::fixed_str::{DeviceId, DomainCode, FixedStr, GwId};
use crate::message::body::fixed_body;

/// 0x19: does the OMP expect encrypted payloads from this GW/device?
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct EncryptionInfoRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
}
fixed_body!(
    EncryptionInfoRequest,
    EncryptionInfoRequest,
    42,
    ids(gw, device)
);

/// 0x1A: the encryption setting.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct EncryptionInfoResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// Outcome.
    pub result_code: ResultCode,
    /// 0x01 = encryption on.
    pub encryption_flag: u8,
    /// Algorithm code (0x01 AES-128 … 0x05 SEED-256).
    pub algorithm: u8,
}
fixed_body!(
    EncryptionInfoResponse,
    EncryptionInfoResponse,
    45,
    ids(gw, device)
);

/// 0x1B: the GW sets its encryption key.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct EncryptionKeyRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// The key bytes.
    pub key: FixedStr<32>,
}
fixed_body!(
    EncryptionKeyRequest,
    EncryptionKeyRequest,
    74,
    ids(gw, device)
);

/// 0x1C: key stored or not.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct EncryptionKeyResponse {
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
    EncryptionKeyResponse,
    EncryptionKeyResponse,
    43,
    ids(gw, device)
);
