//! Every GMMP v2.1 message body, and the [`Message`] enum that gathers
//! them by [`MessageType`].
//!
//! One file per message family, each with its byte layout at the top:
//! [`registration`] (GW and device registration/deregistration),
//! [`profile`], [`delivery`], [`control`] (control, long sentence,
//! notification), [`heartbeat`], [`encryption`], [`transfer_info`] (FTP and
//! remote access), [`large_object`] (multimedia URL and LOB). [`body`] holds
//! the [`Body`] trait they all implement; [`reply`] the result-code-only
//! response to any request.

use bytes::Bytes;

use crate::error::CodecError;
use crate::fixed_str::{DeviceId, DomainCode, GwId};

pub mod body;
pub mod control;
pub mod delivery;
pub mod encryption;
pub mod heartbeat;
pub mod large_object;
pub mod profile;
pub mod registration;
pub mod reply;
pub mod transfer_info;

pub use body::Body;
pub use control::*;
pub use delivery::*;
pub use encryption::*;
pub use heartbeat::*;
pub use large_object::*;
pub use profile::*;
pub use registration::*;
pub use transfer_info::*;

/// Generates [`MessageType`] and [`Message`] from one table, so the two can
/// never disagree. Bodies much larger than a delivery request (profile
/// response, the FTP/remote/multimedia/LOB info, encryption key) are boxed:
/// they are rare, and unboxed they would make every `Message` ~350 bytes,
/// which showed up as memcpy in the decode profile of deliveries.
macro_rules! messages {
    ($( $code:literal => $name:ident: $vty:ty, $op:literal, $desc:literal; )*) => {
        /// The `message_type` byte of the header (docs/gmmp.md §3). Requests are
        /// odd; each response is the next even number.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum MessageType {
            $( #[doc = $desc] $name = $code, )*
        }

        impl MessageType {
            /// Every message type, in type-byte order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$name),*];

            /// The type for a type byte, if GMMP v2.1 defines it.
            pub fn from_u8(byte: u8) -> Option<Self> {
                match byte {
                    $( $code => Some(MessageType::$name), )*
                    _ => None,
                }
            }

            /// What the message is, in words (`delivery request`).
            pub fn description(self) -> &'static str {
                match self {
                    $( MessageType::$name => $desc, )*
                }
            }

            /// The operation name SKT's client library and the WizFi310
            /// trace use (`OPERATION_DELIVERY_RSP`).
            pub fn operation_name(self) -> &'static str {
                match self {
                    $( MessageType::$name => $op, )*
                }
            }

            /// Fixed part of the body in bytes.
            pub fn fixed_body_len(self) -> usize {
                match self {
                    $( MessageType::$name => <$name as Body>::FIXED_LEN, )*
                }
            }

            /// Whether a 0..=2048-byte payload follows the fixed part.
            pub fn has_payload(self) -> bool {
                match self {
                    $( MessageType::$name => <$name as Body>::HAS_PAYLOAD, )*
                }
            }
        }

        /// A decoded GMMP message body, keyed by its type.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $( #[doc = $desc] $name($vty), )*
        }

        impl Message {
            /// The type byte this message travels under.
            pub fn message_type(&self) -> MessageType {
                match self {
                    $( Message::$name(_) => MessageType::$name, )*
                }
            }

            /// Decodes the body of a frame of type `message_type`.
            pub fn decode(message_type: MessageType, body: &Bytes) -> Result<Self, CodecError> {
                Ok(match message_type {
                    $( MessageType::$name => Message::$name(<$name as Body>::decode_body(body)?.into()), )*
                })
            }

            /// Length of the encoded body.
            pub fn body_len(&self) -> usize {
                match self {
                    $( Message::$name(m) => m.body_len(), )*
                }
            }

            /// Writes the body into `dst`, exactly [`body_len`](Self::body_len) long.
            pub fn encode_body(&self, dst: &mut [u8]) -> Result<(), CodecError> {
                match self {
                    $( Message::$name(m) => m.encode_body(dst), )*
                }
            }

            /// The domain code every body starts with.
            pub fn domain_code(&self) -> &DomainCode {
                match self {
                    $( Message::$name(m) => m.domain_code(), )*
                }
            }

            /// The GW ID the body refers to (all but GW registration request).
            pub fn gw_id(&self) -> Option<&GwId> {
                match self {
                    $( Message::$name(m) => m.gw_id(), )*
                }
            }

            /// The device ID the body refers to, when it has one.
            pub fn device_id(&self) -> Option<&DeviceId> {
                match self {
                    $( Message::$name(m) => m.device_id(), )*
                }
            }
        }

        $(
            impl From<$name> for Message {
                fn from(m: $name) -> Self {
                    Message::$name(m.into())
                }
            }
        )*
    };
}

messages! {
    0x01 => GwRegistrationRequest: GwRegistrationRequest, "OPERATION_GW_REG_REQ", "GW registration request";
    0x02 => GwRegistrationResponse: GwRegistrationResponse, "OPERATION_GW_REG_RSP", "GW registration response";
    0x03 => GwDeregistrationRequest: GwDeregistrationRequest, "OPERATION_GW_DEREG_REQ", "GW deregistration request";
    0x04 => GwDeregistrationResponse: GwDeregistrationResponse, "OPERATION_GW_DEREG_RSP", "GW deregistration response";
    0x05 => ProfileRequest: ProfileRequest, "OPERATION_PROFILE_REQ", "profile request";
    0x06 => ProfileResponse: Box<ProfileResponse>, "OPERATION_PROFILE_RSP", "profile response";
    0x07 => DeviceRegistrationRequest: DeviceRegistrationRequest, "OPERATION_DEVICE_REG_REQ", "device registration request";
    0x08 => DeviceRegistrationResponse: DeviceRegistrationResponse, "OPERATION_DEVICE_REG_RSP", "device registration response";
    0x09 => DeviceDeregistrationRequest: DeviceDeregistrationRequest, "OPERATION_DEVICE_DEREG_REQ", "device deregistration request";
    0x0A => DeviceDeregistrationResponse: DeviceDeregistrationResponse, "OPERATION_DEVICE_DEREG_RSP", "device deregistration response";
    0x0B => DeliveryRequest: DeliveryRequest, "OPERATION_DELIVERY_REQ", "delivery request";
    0x0C => DeliveryResponse: DeliveryResponse, "OPERATION_DELIVERY_RSP", "delivery response";
    0x0D => ControlRequest: ControlRequest, "OPERATION_CONTROL_REQ", "control request";
    0x0E => ControlResponse: ControlResponse, "OPERATION_CONTROL_RSP", "control response";
    0x0F => HeartbeatRequest: HeartbeatRequest, "OPERATION_HEARTBEAT_REQ", "heartbeat request";
    0x10 => HeartbeatResponse: HeartbeatResponse, "OPERATION_HEARTBEAT_RSP", "heartbeat response";
    0x11 => LongSentenceRequest: LongSentenceRequest, "OPERATION_LSENTENCE_REQ", "long sentence request";
    0x12 => LongSentenceResponse: LongSentenceResponse, "OPERATION_LSENTENCE_RSP", "long sentence response";
    0x13 => FtpInfoRequest: FtpInfoRequest, "OPERATION_FTP_INFO_REQ", "FTP info request";
    0x14 => FtpInfoResponse: Box<FtpInfoResponse>, "OPERATION_FTP_INFO_RSP", "FTP info response";
    0x15 => RemoteAccessInfoRequest: RemoteAccessInfoRequest, "OPERATION_REMOTE_INFO_REQ", "remote access info request";
    0x16 => RemoteAccessInfoResponse: Box<RemoteAccessInfoResponse>, "OPERATION_REMOTE_INFO_RSP", "remote access info response";
    0x17 => NotificationRequest: NotificationRequest, "OPERATION_NOTIFICATION_REQ", "notification request";
    0x18 => NotificationResponse: NotificationResponse, "OPERATION_NOTIFICATION_RSP", "notification response";
    0x19 => EncryptionInfoRequest: EncryptionInfoRequest, "OPERATION_ENC_INFO_REQ", "encryption info request";
    0x1A => EncryptionInfoResponse: EncryptionInfoResponse, "OPERATION_ENC_INFO_RSP", "encryption info response";
    0x1B => EncryptionKeyRequest: Box<EncryptionKeyRequest>, "OPERATION_ENC_KEY_REQ", "encryption key request";
    0x1C => EncryptionKeyResponse: EncryptionKeyResponse, "OPERATION_ENC_KEY_RSP", "encryption key response";
    0x1D => MultimediaUrlRequest: MultimediaUrlRequest, "OPERATION_MULTIMEDIA_URL_REQ", "multimedia URL request";
    0x1E => MultimediaUrlResponse: Box<MultimediaUrlResponse>, "OPERATION_MULTIMEDIA_URL_RSP", "multimedia URL response";
    0x1F => LobCloudRequest: LobCloudRequest, "OPERATION_LOB_CLOUD_REQ", "LOB cloud info request";
    0x20 => LobCloudResponse: Box<LobCloudResponse>, "OPERATION_LOB_CLOUD_RSP", "LOB cloud info response";
    0x21 => LobFtpRequest: LobFtpRequest, "OPERATION_LOB_FTP_REQ", "LOB FTP info request";
    0x22 => LobFtpResponse: Box<LobFtpResponse>, "OPERATION_LOB_FTP_RSP", "LOB FTP info response";
    0x23 => LobUploadNotificationRequest: Box<LobUploadNotificationRequest>, "OPERATION_LOB_NOTIFICATION_REQ", "LOB upload notification request";
    0x24 => LobUploadNotificationResponse: LobUploadNotificationResponse, "OPERATION_LOB_NOTIFICATION_RSP", "LOB upload notification response";
}

impl MessageType {
    /// True for requests (odd type bytes).
    pub fn is_request(self) -> bool {
        (self as u8) % 2 == 1
    }

    /// The response type of a request, the request type of a response.
    pub fn counterpart(self) -> MessageType {
        let byte = self as u8;
        let other = if self.is_request() {
            byte + 1
        } else {
            byte - 1
        };
        // Types come in complete pairs 0x01..=0x24, so the counterpart exists.
        MessageType::from_u8(other).unwrap_or(self)
    }

    /// Largest body this type allows.
    pub fn max_body_len(self) -> usize {
        match self {
            MessageType::DeliveryResponse => self.fixed_body_len() + 4,
            t if t.has_payload() => t.fixed_body_len() + crate::header::MAX_PAYLOAD_LEN,
            t => t.fixed_body_len(),
        }
    }
}

impl Message {
    /// The payload of a variable body (delivery, control, long sentence,
    /// notification).
    pub fn payload(&self) -> Option<&Bytes> {
        match self {
            Message::DeliveryRequest(m) => Some(&m.payload),
            Message::ControlRequest(m) => Some(&m.payload),
            Message::LongSentenceResponse(m) => Some(&m.payload),
            Message::NotificationRequest(m) => Some(&m.payload),
            _ => None,
        }
    }

    /// Replaces the payload of a variable body; `false` (and no change) for
    /// a fixed one.
    pub fn set_payload(&mut self, payload: Bytes) -> bool {
        match self {
            Message::DeliveryRequest(m) => m.payload = payload,
            Message::ControlRequest(m) => m.payload = payload,
            Message::LongSentenceResponse(m) => m.payload = payload,
            Message::NotificationRequest(m) => m.payload = payload,
            _ => return false,
        }
        true
    }

    /// The result code of a response or notification, when the body has one.
    pub fn result_code(&self) -> Option<crate::codes::ResultCode> {
        use Message::*;
        Some(match self {
            GwRegistrationResponse(m) => m.result_code,
            GwDeregistrationResponse(m) => m.result_code,
            ProfileResponse(m) => m.result_code,
            DeviceRegistrationResponse(m) => m.result_code,
            DeviceDeregistrationResponse(m) => m.result_code,
            DeliveryResponse(m) => m.result_code,
            ControlResponse(m) => m.result_code,
            LongSentenceResponse(m) => m.result_code,
            FtpInfoResponse(m) => m.result_code,
            RemoteAccessInfoResponse(m) => m.result_code,
            NotificationRequest(m) => m.result_code,
            NotificationResponse(m) => m.result_code,
            EncryptionInfoResponse(m) => m.result_code,
            EncryptionKeyResponse(m) => m.result_code,
            MultimediaUrlResponse(m) => m.result_code,
            LobCloudResponse(m) => m.result_code,
            LobFtpResponse(m) => m.result_code,
            LobUploadNotificationResponse(m) => m.result_code,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_paired() {
        assert_eq!(MessageType::ALL.len(), 36);
        for (i, t) in MessageType::ALL.iter().enumerate() {
            assert_eq!(*t as u8, i as u8 + 1);
            assert_eq!(t.counterpart().counterpart(), *t);
        }
        assert_eq!(MessageType::from_u8(0x25), None);
        assert_eq!(MessageType::from_u8(0x00), None);
    }

    #[test]
    fn fixed_lengths_match_the_reference() {
        let expected: [usize; 36] = [
            26, 27, 26, 27, 42, 139, 42, 43, 42, 43, 44, 43, 43, 44, 26, 26, 43, 44, 43, 226, 43,
            102, 44, 44, 42, 45, 74, 43, 43, 332, 42, 95, 42, 157, 107, 43,
        ];
        for t in MessageType::ALL {
            assert_eq!(t.fixed_body_len(), expected[*t as usize - 1], "{t:?}");
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Large, rare bodies are boxed so that moving a `Message` stays cheap.
    #[test]
    fn message_stays_small() {
        assert!(
            std::mem::size_of::<Message>() <= 96,
            "{}",
            std::mem::size_of::<Message>()
        );
    }
}
