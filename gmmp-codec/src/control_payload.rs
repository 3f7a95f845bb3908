//! The payloads of controls and notifications whose layout the reference
//! gives (docs/gmmp.md §5), as typed values: [`ControlPayload`] decodes a
//! payload of its control type and encodes one, so both ends of a control
//! read and write the same bytes.
//!
//! - time sync (0x05): the time as a u32 of Unix seconds;
//! - signal power check (0x08): a u32;
//! - status check (0x0C): two bytes, on_off (0x01 ON: the GW reports) then
//!   run_pause (0x01 RUN: it operates); any other byte reads as OFF /
//!   PAUSE;
//! - firmware version check (0xA3): the version text, up to the first NUL.
//!
//! Payloads of other types, and of these types at another length, have no
//! typed form: they stay bytes.

use bytes::Bytes;

use crate::codes::ControlType;

/// A control or notification payload of a type with a defined layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlPayload {
    /// 0x05: a clock, in Unix seconds.
    TimeSync {
        /// Seconds since 1970-01-01 UTC.
        unix_seconds: u32,
    },
    /// 0x08: the signal power, as the GW measures it.
    SignalPower(u32),
    /// 0x0C: whether the GW reports, and whether it operates.
    StatusCheck {
        /// on_off: 0x01 ON, reporting.
        reporting: bool,
        /// run_pause: 0x01 RUN, operating.
        running: bool,
    },
    /// 0xA3: the firmware version text (invalid UTF-8 replaced).
    FirmwareVersion(String),
}

impl ControlPayload {
    /// The control type this payload belongs to.
    pub fn control_type(&self) -> ControlType {
        match self {
            ControlPayload::TimeSync { .. } => ControlType::TIME_SYNC,
            ControlPayload::SignalPower(_) => ControlType::SIGNAL_POWER_CHECK,
            ControlPayload::StatusCheck { .. } => ControlType::STATUS_CHECK,
            ControlPayload::FirmwareVersion(_) => ControlType::FIRMWARE_VERSION_CHECK,
        }
    }

    /// The payload `data` of a control or notification of type
    /// `control_type`; `None` for a type without a defined layout or data
    /// of another length.
    pub fn decode(control_type: ControlType, data: &[u8]) -> Option<ControlPayload> {
        Some(match (control_type, data) {
            (ControlType::TIME_SYNC, [a, b, c, d]) => ControlPayload::TimeSync {
                unix_seconds: u32::from_be_bytes([*a, *b, *c, *d]),
            },
            (ControlType::SIGNAL_POWER_CHECK, [a, b, c, d]) => {
                ControlPayload::SignalPower(u32::from_be_bytes([*a, *b, *c, *d]))
            }
            (ControlType::STATUS_CHECK, [on_off, run_pause]) => ControlPayload::StatusCheck {
                reporting: *on_off == 0x01,
                running: *run_pause == 0x01,
            },
            (ControlType::FIRMWARE_VERSION_CHECK, text) => {
                let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
                ControlPayload::FirmwareVersion(String::from_utf8_lossy(&text[..end]).into_owned())
            }
            _ => return None,
        })
    }

    /// The payload's bytes.
    pub fn encode(&self) -> Bytes {
        match self {
            ControlPayload::TimeSync { unix_seconds } => {
                Bytes::copy_from_slice(&unix_seconds.to_be_bytes())
            }
            ControlPayload::SignalPower(power) => Bytes::copy_from_slice(&power.to_be_bytes()),
            ControlPayload::StatusCheck { reporting, running } => {
                Bytes::copy_from_slice(&[u8::from(*reporting), u8::from(*running)])
            }
            ControlPayload::FirmwareVersion(text) => Bytes::copy_from_slice(text.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_decodes_back_from_its_encoding() {
        for payload in [
            ControlPayload::TimeSync {
                unix_seconds: 1_586_937_600,
            },
            ControlPayload::SignalPower(61),
            ControlPayload::StatusCheck {
                reporting: true,
                running: false,
            },
            ControlPayload::StatusCheck {
                reporting: false,
                running: true,
            },
            ControlPayload::FirmwareVersion("1.0.0.6".into()),
        ] {
            let bytes = payload.encode();
            assert_eq!(
                ControlPayload::decode(payload.control_type(), &bytes),
                Some(payload)
            );
        }
    }

    #[test]
    fn the_bytes_are_the_references() {
        assert_eq!(
            ControlPayload::TimeSync {
                unix_seconds: 0x0102_0304
            }
            .encode()[..],
            [1, 2, 3, 4]
        );
        assert_eq!(
            ControlPayload::StatusCheck {
                reporting: true,
                running: false
            }
            .encode()[..],
            [0x01, 0x00]
        );
        assert_eq!(
            ControlPayload::decode(ControlType::FIRMWARE_VERSION_CHECK, b"1.0.0.6\0\0"),
            Some(ControlPayload::FirmwareVersion("1.0.0.6".into()))
        );
    }

    #[test]
    fn other_lengths_and_other_types_have_no_typed_form() {
        assert_eq!(
            ControlPayload::decode(ControlType::TIME_SYNC, &[1, 2, 3]),
            None
        );
        assert_eq!(
            ControlPayload::decode(ControlType::STATUS_CHECK, &[1]),
            None
        );
        assert_eq!(
            ControlPayload::decode(ControlType::SIGNAL_POWER_CHECK, &[0; 5]),
            None
        );
        assert_eq!(ControlPayload::decode(ControlType::RESET, &[1, 2]), None);
    }
}
