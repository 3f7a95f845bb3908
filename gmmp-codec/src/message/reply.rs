//! The response to any request carrying only a result code — for a
//! refusal, an unserved type or a failure — built by
//! [`Message::response_with_result_code`].
//!
//! The IDs of the request are echoed; the other fields of the response are
//! left empty (zero). A heartbeat response has no result code, so a
//! heartbeat has no such response.

use crate::codes::ResultCode;
use crate::fixed_str::{DeviceId, FixedStr};
use crate::message::*;

impl Message {
    /// The response to this request with result code `rc`; `None` when this
    /// is not a request or its response has no result code.
    pub fn response_with_result_code(&self, rc: ResultCode) -> Option<Message> {
        let d = *self.domain_code();
        let g = self.gw_id().copied().unwrap_or_default();
        let v = self.device_id().copied().unwrap_or(DeviceId::EMPTY);
        let e = FixedStr::EMPTY;
        Some(match self {
            Message::GwRegistrationRequest(_) => GwRegistrationResponse {
                domain_code: d,
                gw_id: g,
                result_code: rc,
            }
            .into(),
            Message::GwDeregistrationRequest(_) => GwDeregistrationResponse {
                domain_code: d,
                gw_id: g,
                result_code: rc,
            }
            .into(),
            Message::ProfileRequest(_) => ProfileResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                result_code: rc,
                heartbeat_period: 0,
                report_period: 0,
                report_offset: 0,
                response_timeout: 0,
                model: FixedStr::EMPTY,
                firmware_version: e,
                software_version: e,
                hardware_version: e,
            }
            .into(),
            Message::DeviceRegistrationRequest(_) => DeviceRegistrationResponse {
                domain_code: d,
                gw_id: g,
                device_id: DeviceId::EMPTY,
                result_code: rc,
            }
            .into(),
            Message::DeviceDeregistrationRequest(_) => DeviceDeregistrationResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                result_code: rc,
            }
            .into(),
            Message::DeliveryRequest(_) => DeliveryResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                result_code: rc,
                backoff_time: None,
            }
            .into(),
            Message::ControlRequest(m) => ControlResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                control_type: m.control_type,
                result_code: rc,
            }
            .into(),
            Message::LongSentenceRequest(m) => LongSentenceResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                control_type: m.control_type,
                result_code: rc,
                payload: bytes::Bytes::new(),
            }
            .into(),
            Message::FtpInfoRequest(m) => FtpInfoResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                control_type: m.control_type,
                result_code: rc,
                server_ip: e,
                server_port: 0,
                user: e,
                password: e,
                file_path: FixedStr::EMPTY,
                file_name: FixedStr::EMPTY,
                file_hash: FixedStr::EMPTY,
                file_size: 0,
            }
            .into(),
            Message::RemoteAccessInfoRequest(m) => RemoteAccessInfoResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                control_type: m.control_type,
                result_code: rc,
                server_ip: e,
                server_port: 0,
                user: e,
                password: e,
                start_time: 0,
                end_time: 0,
            }
            .into(),
            Message::NotificationRequest(m) => NotificationResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                control_type: m.control_type,
                result_code: rc,
            }
            .into(),
            Message::EncryptionInfoRequest(_) => EncryptionInfoResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                result_code: rc,
                encryption_flag: 0,
                algorithm: 0,
            }
            .into(),
            Message::EncryptionKeyRequest(_) => EncryptionKeyResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                result_code: rc,
            }
            .into(),
            Message::MultimediaUrlRequest(m) => MultimediaUrlResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                control_type: m.control_type,
                result_code: rc,
                url: FixedStr::EMPTY,
                user: e,
                password: e,
            }
            .into(),
            Message::LobCloudRequest(_) => LobCloudResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                result_code: rc,
                access_key: FixedStr::EMPTY,
                secret_key: e,
                directory: e,
            }
            .into(),
            Message::LobFtpRequest(_) => LobFtpResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                result_code: rc,
                server_ip: e,
                server_port: 0,
                user: e,
                password: e,
                file_path: FixedStr::EMPTY,
            }
            .into(),
            Message::LobUploadNotificationRequest(_) => LobUploadNotificationResponse {
                domain_code: d,
                gw_id: g,
                device_id: v,
                result_code: rc,
            }
            .into(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_but_heartbeat_has_a_result_code_response() {
        for t in MessageType::ALL.iter().filter(|t| t.is_request()) {
            let body = vec![0u8; t.fixed_body_len()];
            let request = Message::decode(*t, &bytes::Bytes::from(body)).unwrap();
            let response = request.response_with_result_code(ResultCode::NOT_IMPLEMENTED);
            if *t == MessageType::HeartbeatRequest {
                assert!(response.is_none());
            } else {
                let response = response.unwrap();
                assert_eq!(response.message_type(), t.counterpart(), "{t:?}");
                assert_eq!(response.result_code(), Some(ResultCode::NOT_IMPLEMENTED));
            }
        }
    }

    #[test]
    fn a_response_has_no_result_code_response() {
        let body = vec![0u8; MessageType::DeliveryResponse.fixed_body_len()];
        let response = Message::decode(MessageType::DeliveryResponse, &bytes::Bytes::from(body));
        assert_eq!(
            response.unwrap().response_with_result_code(ResultCode::OK),
            None
        );
    }
}
