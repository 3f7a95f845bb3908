//! Delivery (0x0B/0x0C): periodic and event reports from a GW or device.
//!
//! ```text
//! 0x0B req  domain_code(10) gw_id(16) device_id(16) report_type(1) media_type(1)
//!           payload (0..2048, to the end of the frame)                    44 + n
//! 0x0C rsp  domain_code(10) gw_id(16) device_id(16) rc(1)                 43
//!           [backoff_time u32 seconds]                                    or 47
//! ```
//!
//! The sandbox answered with 43 bytes; the 47-byte form asks the GW to wait
//! `backoff_time` seconds before its next delivery. Both decode; a response
//! is encoded with 43 bytes when `backoff_time` is `None`.

use bytes::Bytes;
use deku::prelude::*;

use crate::codes::{ReportType, ResultCode};
use crate::error::CodecError;
use crate::fixed_str::{DeviceId, DomainCode, GwId};
use crate::message::MessageType;
use crate::message::body::{Body, check_body_len, deku_err, payload_body};

/// 0x0B: data from a GW (device ID all zero) or one of its devices.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct DeliveryRequest {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// Collect data, alarm, event, alarm clear.
    pub report_type: ReportType,
    /// The payload's content type, opaque to the protocol (0x01 text from
    /// the WizFi310).
    pub media_type: u8,
    /// The data, 0..=2048 bytes (or part of it, in a split delivery).
    #[deku(skip, default = "Bytes::new()")]
    pub payload: Bytes,
}
payload_body!(DeliveryRequest, DeliveryRequest, 44, ids(gw, device));

/// 0x0C: the OMP's answer to a delivery.
#[derive(Debug, Clone, PartialEq, Eq, DekuRead, DekuWrite)]
#[deku(endian = "big")]
pub struct DeliveryResponse {
    /// Service domain.
    pub domain_code: DomainCode,
    /// The GW.
    pub gw_id: GwId,
    /// The device, or all zero for the GW itself.
    pub device_id: DeviceId,
    /// Outcome.
    pub result_code: ResultCode,
    /// Seconds the GW should wait before its next delivery (47-byte form).
    #[deku(skip, default = "None")]
    pub backoff_time: Option<u32>,
}

const RESPONSE_LEN: usize = 43;
const RESPONSE_WITH_BACKOFF_LEN: usize = 47;

impl Body for DeliveryResponse {
    const MESSAGE_TYPE: MessageType = MessageType::DeliveryResponse;
    const FIXED_LEN: usize = RESPONSE_LEN;

    fn decode_body(body: &Bytes) -> Result<Self, CodecError> {
        let len = body.len();
        check_body_len(
            Self::MESSAGE_TYPE,
            len,
            RESPONSE_LEN,
            RESPONSE_WITH_BACKOFF_LEN,
        )?;
        if len != RESPONSE_LEN && len != RESPONSE_WITH_BACKOFF_LEN {
            // 44..=46: a back-off field was started but not finished.
            return Err(CodecError::BodyTooShort {
                message_type: Self::MESSAGE_TYPE as u8,
                len,
                min: RESPONSE_WITH_BACKOFF_LEN,
            });
        }
        let mut v = match Self::from_bytes((&body[..RESPONSE_LEN], 0)) {
            Ok((([], 0), v)) => v,
            _ => return Err(deku_err(Self::MESSAGE_TYPE, len, RESPONSE_LEN)),
        };
        if len == RESPONSE_WITH_BACKOFF_LEN {
            let b = &body[RESPONSE_LEN..];
            v.backoff_time = Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        }
        Ok(v)
    }

    fn body_len(&self) -> usize {
        match self.backoff_time {
            Some(_) => RESPONSE_WITH_BACKOFF_LEN,
            None => RESPONSE_LEN,
        }
    }

    fn encode_body(&self, dst: &mut [u8]) -> Result<(), CodecError> {
        let (fixed, rest) = dst.split_at_mut(RESPONSE_LEN);
        match self.to_slice(fixed) {
            Ok(RESPONSE_LEN) => {}
            _ => return Err(deku_err(Self::MESSAGE_TYPE, RESPONSE_LEN, RESPONSE_LEN)),
        }
        if let Some(backoff) = self.backoff_time {
            rest.copy_from_slice(&backoff.to_be_bytes());
        }
        Ok(())
    }

    fn domain_code(&self) -> &DomainCode {
        &self.domain_code
    }

    fn gw_id(&self) -> Option<&GwId> {
        Some(&self.gw_id)
    }

    fn device_id(&self) -> Option<&DeviceId> {
        Some(&self.device_id)
    }
}
