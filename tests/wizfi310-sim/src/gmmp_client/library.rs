//! What the module's GMMP library (SK Telecom's C client library, as
//! WIZnet built it into the firmware) keeps between calls, and how each
//! call uses it. The session asks it for the T-ID, the key and the GW ID
//! of every request, so the module sends what the library would.
//!
//! One T-ID (`g_nTID`), set to 0 when the client starts (`Initializaion`
//! on AT+GMMPSET=1) and kept across reconnects:
//!
//! | request | what the call does to the T-ID |
//! |---|---|
//! | GW / device registration (`GO_Reg`) | +1 before sending |
//! | profile (`GO_Profile`, which WIZnet calls with `g_nTID`) | nothing: it carries the GW registration's T-ID |
//! | delivery (`GO_Delivery`) | +1 before sending, once per call |
//! | heartbeat (WIZnet's send thread, before `GMMP_SetHB`) | +1 before sending |
//! | control response (`GO_Control`) | set to the control's T-ID |
//! | notification (`GO_Notifi`) | nothing: it carries the control's T-ID |
//!
//! The auth key and the GW ID from the GW registration response live in
//! 16-byte C string buffers (`g_szAuthKey`, `g_szGWID`). `SetAuthKey` and
//! `SetGWID` copy `strlen(value)` bytes over whatever the buffer held,
//! without clearing it; only `Initializaion` zeroes them. Every call that
//! sends the key checks `strlen(key) > 16` (and `strlen(gw_id) > 16` where
//! it sends the library's GW ID) and fails with LIB_PARAM_ERROR (10012)
//! before building anything. A buffer holding 16 characters has no NUL, so
//! `strlen` runs on into the next global (in declaration order the domain
//! code follows the key and the manufacture ID the GW ID, neither empty on
//! a started module) and every such call fails: a 16-character key silences the
//! module after GW registration. A key shorter than the one before it
//! leaves the earlier key's tail in place.

use gmmp_codec::{AuthKey, FixedStr, GwId, MessageType};

/// The library's "bad parameter" error code.
pub(super) const LIB_PARAM_ERROR: u32 = 10012;

/// Width of the library's key and GW ID buffers (`LEN_AUTH_KEY`,
/// `LEN_GW_ID`).
const BUFFER_LEN: usize = 16;

/// A `char[16]` global of the library holding a C string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct CBuffer([u8; BUFFER_LEN]);

impl CBuffer {
    /// `memcpy(buffer, value, strlen(value))`, `value` being a 16-byte
    /// field of the GW registration response. `strlen` stops at the
    /// field's first NUL, or after all 16 bytes: the byte after either
    /// field (the T-ID's high byte after the key, the result code after
    /// the GW ID) is 0x00 in every response the module accepts.
    pub(super) fn copy_in(&mut self, field: &[u8; BUFFER_LEN]) {
        let len = field.iter().position(|&b| b == 0).unwrap_or(BUFFER_LEN);
        self.0[..len].copy_from_slice(&field[..len]);
    }

    /// The C string the library passes on, or `None` when the buffer has
    /// no NUL (the library then refuses the call).
    pub(super) fn c_str(&self) -> Option<FixedStr<BUFFER_LEN>> {
        let len = self.0.iter().position(|&b| b == 0)?;
        let mut raw = [0; BUFFER_LEN];
        raw[..len].copy_from_slice(&self.0[..len]);
        Some(FixedStr::from_raw(raw))
    }

    /// True while nothing was copied in since the client started.
    pub(super) fn is_empty(&self) -> bool {
        self.0[0] == 0
    }

    /// The bytes held, for log lines.
    fn contents(&self) -> FixedStr<BUFFER_LEN> {
        FixedStr::from_raw(self.0)
    }
}

/// Why the library refuses a call with LIB_PARAM_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The key buffer holds 16 characters and no NUL.
    AuthKey,
    /// The GW ID buffer holds 16 characters and no NUL.
    GwId,
}

/// The library's state between calls (see the module docs).
#[derive(Debug, Clone, Default)]
pub(super) struct Library {
    /// `g_nTID`.
    pub(super) tid: u32,
    /// `g_szAuthKey`.
    pub(super) auth_key: CBuffer,
    /// `g_szGWID`.
    pub(super) gw_id: CBuffer,
}

impl Library {
    /// `Initializaion`: T-ID 0, buffers zeroed.
    pub(super) fn initialise(&mut self) {
        *self = Library::default();
    }

    /// Moves the T-ID as the call that sends a `t` does (a control
    /// response sets it instead: the session writes the control's T-ID).
    pub(super) fn before_sending(&mut self, t: MessageType) {
        use MessageType::*;
        if matches!(
            t,
            GwRegistrationRequest | DeviceRegistrationRequest | DeliveryRequest | HeartbeatRequest
        ) {
            self.tid = self.tid.wrapping_add(1);
        }
    }

    /// The key a call sends, or why the library refuses the call;
    /// `own_gw_id` when the call also sends the library's GW ID (control
    /// responses and notifications send the control's).
    pub(super) fn key_for_call(&self, own_gw_id: bool) -> Result<AuthKey, Refusal> {
        let key = self.auth_key.c_str().ok_or(Refusal::AuthKey)?;
        if own_gw_id && self.gw_id.c_str().is_none() {
            return Err(Refusal::GwId);
        }
        Ok(key)
    }

    /// The GW ID a call puts in its body (an unterminated one makes the
    /// call fail before it is used).
    pub(super) fn gw_id(&self) -> GwId {
        self.gw_id.c_str().unwrap_or(GwId::EMPTY)
    }

    /// The log line explaining `refusal`.
    pub(super) fn explain(&self, refusal: Refusal) -> String {
        let (what, buffer, global) = match refusal {
            Refusal::AuthKey => ("auth key", self.auth_key, "g_szAuthKey"),
            Refusal::GwId => ("GW ID", self.gw_id, "g_szGWID"),
        };
        format!(
            "{what} of 16 characters has no room for the NUL in the library's 16-byte buffer \
             ({global} holds {:?}): every call after registration fails with LIB_PARAM_ERROR \
             {LIB_PARAM_ERROR} and nothing is sent until AT+GMMPSET=1 starts the client again",
            buffer.contents().to_display_string()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: &str) -> [u8; 16] {
        *FixedStr::<16>::new("test", text).unwrap().raw()
    }

    #[test]
    fn a_key_of_15_characters_is_passed_on() {
        let mut lib = Library::default();
        lib.auth_key.copy_in(&field("SP0123456789abc"));
        assert_eq!(
            lib.key_for_call(true).unwrap().as_bytes(),
            b"SP0123456789abc"
        );
    }

    #[test]
    fn a_key_of_16_characters_makes_every_keyed_call_fail() {
        let mut lib = Library::default();
        lib.auth_key.copy_in(&field("SP0123456789abcd"));
        assert_eq!(lib.key_for_call(true), Err(Refusal::AuthKey));
        assert_eq!(lib.key_for_call(false), Err(Refusal::AuthKey));
        assert!(lib.explain(Refusal::AuthKey).contains("SP0123456789abcd"));
    }

    #[test]
    fn a_shorter_key_is_copied_over_the_longer_one() {
        let mut lib = Library::default();
        lib.auth_key.copy_in(&field("SPabcdefgh"));
        lib.auth_key.copy_in(&field("SPxyz"));
        assert_eq!(lib.key_for_call(true).unwrap().as_bytes(), b"SPxyzdefgh");
        lib.auth_key.copy_in(&field("SP0123456789abcd"));
        lib.auth_key.copy_in(&field("SP0123456789xyz"));
        assert_eq!(
            lib.key_for_call(true),
            Err(Refusal::AuthKey),
            "the 16th character stays"
        );
        lib.initialise();
        lib.auth_key.copy_in(&field("SP0123456789xyz"));
        assert!(lib.key_for_call(true).is_ok());
    }

    #[test]
    fn a_gw_id_of_16_characters_fails_the_calls_that_send_it() {
        let mut lib = Library::default();
        lib.auth_key.copy_in(&field("SPkey"));
        lib.gw_id.copy_in(&field("SC01234567890123"));
        assert_eq!(lib.key_for_call(true), Err(Refusal::GwId));
        assert!(lib.key_for_call(false).is_ok(), "a control's own GW ID");
    }

    #[test]
    fn the_tid_moves_per_call_as_the_library_moves_it() {
        use MessageType::*;
        let mut lib = Library::default();
        let mut after = |t| {
            lib.before_sending(t);
            lib.tid
        };
        assert_eq!(after(GwRegistrationRequest), 1);
        assert_eq!(after(ProfileRequest), 1);
        assert_eq!(after(DeviceRegistrationRequest), 2);
        assert_eq!(after(DeliveryRequest), 3);
        assert_eq!(after(DeliveryRequest), 4);
        assert_eq!(after(HeartbeatRequest), 5);
        assert_eq!(after(NotificationRequest), 5);
    }
}
