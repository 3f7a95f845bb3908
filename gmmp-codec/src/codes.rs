//! Named codes of docs/gmmp.md §5: result codes, report types, control types.
//!
//! Each is a transparent `u8` newtype so that a value the reference does not
//! name (a user-defined code, a future one) is carried, stored and echoed as
//! received; `name()` gives the reference's name where there is one.

use std::fmt;

use deku::prelude::*;

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, DekuRead, DekuWrite)]
        #[deku(ctx = "_endian: deku::ctx::Endian")]
        pub struct $name(pub u8);

        impl From<u8> for $name {
            fn from(v: u8) -> Self {
                $name(v)
            }
        }

        impl From<$name> for u8 {
            fn from(v: $name) -> u8 {
                v.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(0x{:02x} {})", stringify!($name), self.0, self.name())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.name())
            }
        }
    };
}

code_type!(
    /// `result_code` (rc): the outcome of a request.
    ResultCode
);

impl ResultCode {
    /// 0x00: success.
    pub const OK: Self = ResultCode(0x00);
    /// 0x01
    pub const CREATED: Self = ResultCode(0x01);
    /// 0x02
    pub const ACCEPTED: Self = ResultCode(0x02);
    /// 0x03
    pub const BAD_REQUEST: Self = ResultCode(0x03);
    /// 0x04: wrong auth key, unknown auth_id, another GW's ID.
    pub const PERMISSION_DENIED: Self = ResultCode(0x04);
    /// 0x05
    pub const FORBIDDEN: Self = ResultCode(0x05);
    /// 0x06
    pub const NOT_FOUND: Self = ResultCode(0x06);
    /// 0x07
    pub const METHOD_NOT_ALLOWED: Self = ResultCode(0x07);
    /// 0x08
    pub const NOT_ACCEPTABLE: Self = ResultCode(0x08);
    /// 0x09
    pub const REQUEST_TIMEOUT: Self = ResultCode(0x09);
    /// 0x0A
    pub const CONFLICT: Self = ResultCode(0x0A);
    /// 0x0B
    pub const UNSUPPORTED_MEDIA_TYPE: Self = ResultCode(0x0B);
    /// 0x0C
    pub const INTERNAL_SERVER_ERROR: Self = ResultCode(0x0C);
    /// 0x0D: the OMP does not serve this request type.
    pub const NOT_IMPLEMENTED: Self = ResultCode(0x0D);
    /// 0x0E
    pub const BAD_GATEWAY: Self = ResultCode(0x0E);
    /// 0x0F: overloaded; a delivery response then carries a back-off time.
    pub const SERVICE_UNAVAILABLE: Self = ResultCode(0x0F);
    /// 0x10
    pub const GATEWAY_TIMEOUT: Self = ResultCode(0x10);
    /// 0x11
    pub const DELETED: Self = ResultCode(0x11);
    /// 0x12
    pub const EXPIRED: Self = ResultCode(0x12);
    /// 0x13
    pub const SMS_SEND_FAIL: Self = ResultCode(0x13);
    /// 0x81 (user defined)
    pub const DB_TIMEOUT: Self = ResultCode(0x81);
    /// 0x82 (user defined)
    pub const MSP_TCP_DISCONNECTED: Self = ResultCode(0x82);
    /// 0x83 (user defined)
    pub const GMMP_TCP_PORT_CLOSED: Self = ResultCode(0x83);
    /// 0x84 (user defined)
    pub const ALWAYS_ON_CONTROL_SEND_FAIL: Self = ResultCode(0x84);

    /// True for 0x00.
    pub fn is_ok(self) -> bool {
        self == Self::OK
    }

    /// The name as the WizFi310 trace prints it (`STATUS_OK`).
    pub fn name(self) -> &'static str {
        match self.0 {
            0x00 => "STATUS_OK",
            0x01 => "STATUS_CREATED",
            0x02 => "STATUS_ACCEPTED",
            0x03 => "STATUS_BAD_REQUEST",
            0x04 => "STATUS_PERMISSION_DENIED",
            0x05 => "STATUS_FORBIDDEN",
            0x06 => "STATUS_NOT_FOUND",
            0x07 => "STATUS_METHOD_NOT_ALLOWED",
            0x08 => "STATUS_NOT_ACCEPTABLE",
            0x09 => "STATUS_REQUEST_TIMEOUT",
            0x0A => "STATUS_CONFLICT",
            0x0B => "STATUS_UNSUPPORTED_MEDIA_TYPE",
            0x0C => "STATUS_INTERNAL_SERVER_ERROR",
            0x0D => "STATUS_NOT_IMPLEMENTED",
            0x0E => "STATUS_BAD_GATEWAY",
            0x0F => "STATUS_SERVICE_UNAVAILABLE",
            0x10 => "STATUS_GATEWAY_TIMEOUT",
            0x11 => "STATUS_DELETED",
            0x12 => "STATUS_EXPIRED",
            0x13 => "STATUS_SMS_SEND_FAIL",
            0x81 => "STATUS_DB_TIMEOUT",
            0x82 => "STATUS_MSP_TCP_DISCONNECTED",
            0x83 => "STATUS_GMMP_TCP_PORT_CLOSED",
            0x84 => "STATUS_ALWAYS_ON_CONTROL_SEND_FAIL",
            0x80..=0xFF => "STATUS_USER_DEFINED",
            _ => "STATUS_RESERVED",
        }
    }
}

code_type!(
    /// `report_type` of a delivery.
    ReportType
);

impl ReportType {
    /// 0x01: periodic collected data.
    pub const COLLECT_DATA: Self = ReportType(0x01);
    /// 0x02
    pub const ALARM: Self = ReportType(0x02);
    /// 0x03
    pub const EVENT: Self = ReportType(0x03);
    /// 0x04
    pub const ALARM_CLEAR: Self = ReportType(0x04);

    /// The reference's name, `unknown` for other values.
    pub fn name(self) -> &'static str {
        match self.0 {
            0x01 => "collect_data",
            0x02 => "alarm",
            0x03 => "event",
            0x04 => "alarm_clear",
            _ => "unknown",
        }
    }

    /// Parses a name as [`name`](Self::name) prints it.
    pub fn from_name(name: &str) -> Option<Self> {
        (1..=4).map(ReportType).find(|r| r.name() == name)
    }
}

code_type!(
    /// `control_type` (ct) of a control, long sentence or notification.
    ControlType
);

impl ControlType {
    /// 0x01
    pub const RESET: Self = ControlType(0x01);
    /// 0x02
    pub const TURN_OFF: Self = ControlType(0x02);
    /// 0x03
    pub const REPORT_ON: Self = ControlType(0x03);
    /// 0x04
    pub const REPORT_OFF: Self = ControlType(0x04);
    /// 0x05: body u32 Unix seconds.
    pub const TIME_SYNC: Self = ControlType(0x05);
    /// 0x06
    pub const PAUSE: Self = ControlType(0x06);
    /// 0x07
    pub const RESTART: Self = ControlType(0x07);
    /// 0x08: notification body u32.
    pub const SIGNAL_POWER_CHECK: Self = ControlType(0x08);
    /// 0x09: notification body one status byte.
    pub const DIAGNOSTIC: Self = ControlType(0x09);
    /// 0x0B
    pub const PROFILE_RESET: Self = ControlType(0x0B);
    /// 0x0C: notification body on_off (report state), run_pause (operation state).
    pub const STATUS_CHECK: Self = ControlType(0x0C);
    /// 0x0D
    pub const FW_DOWNLOAD: Self = ControlType(0x0D);
    /// 0x0E
    pub const FW_UPDATE: Self = ControlType(0x0E);
    /// 0x0F
    pub const APP_DOWNLOAD: Self = ControlType(0x0F);
    /// 0x10
    pub const APP_UPDATE: Self = ControlType(0x10);
    /// 0x11
    pub const REMOTE_ACCESS: Self = ControlType(0x11);
    /// 0xA3: notification body the firmware version text.
    pub const FIRMWARE_VERSION_CHECK: Self = ControlType(0xA3);

    /// The name in snake case (`status_check`); ranges get a range name
    /// (`user_defined`, `industry_reserved`, `reserved`).
    pub fn name(self) -> &'static str {
        match self.0 {
            0x01 => "reset",
            0x02 => "turn_off",
            0x03 => "report_on",
            0x04 => "report_off",
            0x05 => "time_sync",
            0x06 => "pause",
            0x07 => "restart",
            0x08 => "signal_power_check",
            0x09 => "diagnostic",
            0x0B => "profile_reset",
            0x0C => "status_check",
            0x0D => "fw_download",
            0x0E => "fw_update",
            0x0F => "app_download",
            0x10 => "app_update",
            0x11 => "remote_access",
            0x12 => "multimedia_start",
            0x13 => "multimedia_pause",
            0x14 => "multimedia_stop",
            0x15 => "multimedia_restart",
            0x20..=0x7F => "industry_reserved",
            0x80..=0x9F => "user_defined",
            0xA0 => "frequency_band_change",
            0xA1 => "mode_change",
            0xA2 => "communication_status_check",
            0xA3 => "firmware_version_check",
            _ => "reserved",
        }
    }

    /// The name as a person reads it in a trace (`Status Check`).
    pub fn title(self) -> String {
        self.name()
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(f) if w == "fw" => format!("{}W", f.to_ascii_uppercase()),
                    Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Parses a unique name (`status_check`, case-insensitive, `-` or space
    /// accepted for `_`). Range names (`user_defined`, …) and `reserved` do
    /// not name one code and are refused.
    pub fn from_name(name: &str) -> Option<Self> {
        let wanted = name.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Self::named().find(|c| c.name() == wanted)
    }

    /// Every type with a name of its own, in code order: what
    /// [`ControlType::from_name`] accepts (for an error that lists them).
    pub fn named() -> impl Iterator<Item = ControlType> {
        (0..=0xFFu8)
            .map(ControlType)
            .filter(|c| !matches!(c.name(), "industry_reserved" | "user_defined" | "reserved"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_code_names() {
        assert_eq!(ResultCode::OK.name(), "STATUS_OK");
        assert_eq!(ResultCode(0x0F).name(), "STATUS_SERVICE_UNAVAILABLE");
        assert_eq!(ResultCode(0x90).name(), "STATUS_USER_DEFINED");
        assert_eq!(ResultCode(0x50).name(), "STATUS_RESERVED");
    }

    #[test]
    fn every_named_type_is_found_by_its_name() {
        let named: Vec<_> = ControlType::named().collect();
        assert!(named.contains(&ControlType::STATUS_CHECK));
        assert!(!named.iter().any(|c| c.name() == "user_defined"));
        for c in named {
            assert_eq!(ControlType::from_name(c.name()), Some(c), "{}", c.name());
        }
    }

    #[test]
    fn control_type_names_round_trip() {
        assert_eq!(ControlType::STATUS_CHECK.title(), "Status Check");
        assert_eq!(ControlType::FW_UPDATE.title(), "FW Update");
        assert_eq!(
            ControlType::from_name("Status Check"),
            Some(ControlType(0x0C))
        );
        assert_eq!(
            ControlType::from_name("FIRMWARE-VERSION-CHECK"),
            Some(ControlType(0xA3))
        );
        assert_eq!(ControlType::from_name("user_defined"), None);
        assert_eq!(ControlType::from_name("nonsense"), None);
        for v in 0..=0xFFu8 {
            let c = ControlType(v);
            if let Some(back) = ControlType::from_name(c.name()) {
                assert_eq!(back, c);
            }
        }
    }

    #[test]
    fn report_type_names() {
        assert_eq!(ReportType::from_name("alarm_clear"), Some(ReportType(4)));
        assert_eq!(ReportType(9).name(), "unknown");
    }
}
