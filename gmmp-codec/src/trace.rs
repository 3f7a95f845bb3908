//! A human-readable trace of a frame, printed the way the WizFi310 prints
//! GMMP on its serial console (docs/wizfi310.md §3), so a person can compare an
//! OMP log line by line with their module's output:
//!
//! ```text
//! <OMP><Marker:OPS> [GW->OMP]GMMP_SetDelivery Start
//! <OMP><Marker:REQ>
//! GMMP Trace :  AuthID =0008dc1e3222
//! GMMP Trace :  Auth Key =SP10033827key
//! GMMP Trace :  T-ID =129
//! GMMP Trace :  Domain Code =ThingPlug
//! GMMP Trace :  GW ID=SC10010254
//! GMMP Trace :  Device ID =
//! GMMP Trace :  ucReportType[0x1]
//! GMMP Trace :  ucMediaType[0x1]
//! GMMP Trace :  usMessageBody =WizFi310 test data !@#$%^&*(/)
//! ```
//!
//! Bytes that are not printable ASCII are shown as `\xNN`.

use std::fmt::{self, Display, Write};

use crate::frame::Frame;
use crate::message::{Message, MessageType};

/// Displays a [`Frame`] as a WizFi310-style trace; see [`Frame::trace`].
#[derive(Debug, Clone, Copy)]
pub struct Trace<'a>(&'a Frame);

impl Frame {
    /// The frame as the WizFi310 traces it (multi-line `Display`).
    pub fn trace(&self) -> Trace<'_> {
        Trace(self)
    }
}

/// `bytes` as text, non-printable bytes and `\` as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

/// The WizFi310's name for the function that sends a GW → OMP request.
fn gw_function_name(t: MessageType) -> &'static str {
    use MessageType::*;
    match t {
        // docs/wizfi310.md §3 shows "[GW->OMP]GW GMMP_SetReg Start"; the device and
        // deregistration forms follow the same pattern.
        GwRegistrationRequest => "GW GMMP_SetReg",
        GwDeregistrationRequest => "GW GMMP_SetDeReg",
        ProfileRequest => "GMMP_SetProfile",
        DeviceRegistrationRequest => "Device GMMP_SetReg",
        DeviceDeregistrationRequest => "Device GMMP_SetDeReg",
        DeliveryRequest => "GMMP_SetDelivery",
        ControlResponse => "GMMP_SetControlResp",
        HeartbeatRequest => "GMMP_SetHB",
        LongSentenceRequest => "GMMP_SetLSentence",
        FtpInfoRequest => "GMMP_SetFTPInfo",
        RemoteAccessInfoRequest => "GMMP_SetRemoteInfo",
        NotificationRequest => "GMMP_SetNotifi",
        EncryptionInfoRequest => "GMMP_SetEncryptionInfo",
        EncryptionKeyRequest => "GMMP_SetEncryptionKey",
        MultimediaUrlRequest => "GMMP_SetMultimediaURL",
        LobCloudRequest => "GMMP_SetLOBCloud",
        LobFtpRequest => "GMMP_SetLOBFTP",
        LobUploadNotificationRequest => "GMMP_SetLOBNotifi",
        other => other.operation_name(),
    }
}

/// True for frames that travel GW → OMP.
fn from_gw(t: MessageType) -> bool {
    match t {
        MessageType::ControlRequest => false,
        MessageType::ControlResponse => true,
        t => t.is_request(),
    }
}

struct Lines<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
}

impl Lines<'_, '_> {
    fn field(&mut self, name: &str, value: impl Display) -> fmt::Result {
        writeln!(self.f, "GMMP Trace :  {name}{value}")
    }
}

impl Display for Trace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frame = self.0;
        let h = &frame.header;
        let t = frame.message_type();
        if from_gw(t) {
            writeln!(
                f,
                "<OMP><Marker:OPS> [GW->OMP]{} Start",
                gw_function_name(t)
            )?;
            writeln!(f, "<OMP><Marker:REQ> ")?;
        } else {
            writeln!(
                f,
                "<OMP><Marker:RSP> [OMP->GW]{} Start ",
                t.operation_name()
            )?;
        }
        let mut l = Lines { f };
        l.field("AuthID =", h.auth_id)?;
        l.field("Auth Key =", h.auth_key)?;
        l.field("T-ID =", h.tid)?;
        if h.total_count > 1 {
            l.field("Total Count =", h.total_count)?;
            l.field("Current Count =", h.current_count)?;
        }
        if h.is_encrypted() {
            l.field("Encrypted =", "yes")?;
        }
        let m = &frame.message;
        l.field("Domain Code =", m.domain_code())?;
        if let Some(gw) = m.gw_id() {
            l.field("GW ID=", gw)?;
        }
        if let Some(dev) = m.device_id() {
            l.field("Device ID =", dev)?;
        }
        body_fields(&mut l, m)?;
        if !from_gw(t) {
            writeln!(l.f, "<OMP><Marker:OPE> ")?;
        }
        Ok(())
    }
}

fn result(l: &mut Lines<'_, '_>, rc: crate::codes::ResultCode) -> fmt::Result {
    l.field(&format!("Result Code[0x{:x}], ", rc.0), rc.name())
}

fn control(l: &mut Lines<'_, '_>, ct: crate::codes::ControlType) -> fmt::Result {
    l.field(&format!("Control Type[0x{:x}], ", ct.0), ct.title())
}

fn body_fields(l: &mut Lines<'_, '_>, m: &Message) -> fmt::Result {
    use Message::*;
    match m {
        GwRegistrationRequest(b) => l.field("Manufacture ID =", b.manufacture_id)?,
        DeviceRegistrationRequest(b) => l.field("Manufacture ID =", b.manufacture_id)?,
        ProfileResponse(b) => {
            result(l, b.result_code)?;
            l.field("Heartbeat Period =", b.heartbeat_period)?;
            l.field("Reporting Period =", b.report_period)?;
            l.field("Reporting Offset =", b.report_offset)?;
            l.field("Response Timeout =", b.response_timeout)?;
            l.field("Model =", b.model)?;
            l.field("Firmware Version =", b.firmware_version)?;
            l.field("Software Version =", b.software_version)?;
            l.field("Hardware Version =", b.hardware_version)?;
        }
        DeliveryRequest(b) => {
            l.field(&format!("ucReportType[0x{:x}]", b.report_type.0), "")?;
            l.field(&format!("ucMediaType[0x{:x}]", b.media_type), "")?;
            l.field("usMessageBody =", escape_bytes(&b.payload))?;
        }
        DeliveryResponse(b) => {
            result(l, b.result_code)?;
            l.field("unBackOffTime = ", b.backoff_time.unwrap_or(0))?;
        }
        ControlRequest(b) => {
            control(l, b.control_type)?;
            l.field("usMessageBody =", escape_bytes(&b.payload))?;
        }
        LongSentenceResponse(b) => {
            control(l, b.control_type)?;
            result(l, b.result_code)?;
            l.field("usMessageBody =", escape_bytes(&b.payload))?;
        }
        NotificationRequest(b) => {
            control(l, b.control_type)?;
            result(l, b.result_code)?;
            l.field("usMessageBody =", escape_bytes(&b.payload))?;
        }
        ControlResponse(b) => {
            control(l, b.control_type)?;
            result(l, b.result_code)?;
        }
        NotificationResponse(b) => {
            control(l, b.control_type)?;
            result(l, b.result_code)?;
        }
        LongSentenceRequest(b) => control(l, b.control_type)?,
        FtpInfoRequest(b) => control(l, b.control_type)?,
        RemoteAccessInfoRequest(b) => control(l, b.control_type)?,
        MultimediaUrlRequest(b) => control(l, b.control_type)?,
        FtpInfoResponse(b) => {
            control(l, b.control_type)?;
            result(l, b.result_code)?;
            l.field("Server IP =", b.server_ip)?;
            l.field("Server Port =", b.server_port)?;
            l.field("User =", b.user)?;
            l.field("File Path =", b.file_path)?;
            l.field("File Name =", b.file_name)?;
            l.field("File Hash =", b.file_hash)?;
            l.field("File Size =", b.file_size)?;
        }
        RemoteAccessInfoResponse(b) => {
            control(l, b.control_type)?;
            result(l, b.result_code)?;
            l.field("Server IP =", b.server_ip)?;
            l.field("Server Port =", b.server_port)?;
            l.field("User =", b.user)?;
            l.field("Start Time =", b.start_time)?;
            l.field("End Time =", b.end_time)?;
        }
        EncryptionInfoResponse(b) => {
            result(l, b.result_code)?;
            l.field(&format!("Encryption Flag[0x{:x}]", b.encryption_flag), "")?;
            l.field(&format!("Algorithm[0x{:x}]", b.algorithm), "")?;
        }
        EncryptionKeyRequest(b) => l.field("Encryption Key =", b.key)?,
        MultimediaUrlResponse(b) => {
            control(l, b.control_type)?;
            result(l, b.result_code)?;
            l.field("URL =", b.url)?;
            l.field("User =", b.user)?;
        }
        LobCloudResponse(b) => {
            result(l, b.result_code)?;
            l.field("Access Key =", b.access_key)?;
            l.field("Directory =", b.directory)?;
        }
        LobFtpResponse(b) => {
            result(l, b.result_code)?;
            l.field("Server IP =", b.server_ip)?;
            l.field("Server Port =", b.server_port)?;
            l.field("User =", b.user)?;
            l.field("File Path =", b.file_path)?;
        }
        LobUploadNotificationRequest(b) => {
            l.field(&format!("Storage Type[0x{:x}]", b.storage_type), "")?;
            l.field("LOB Path =", b.lob_path)?;
        }
        other => {
            if let Some(rc) = other.result_code() {
                result(l, rc)?;
            }
        }
    }
    Ok(())
}
