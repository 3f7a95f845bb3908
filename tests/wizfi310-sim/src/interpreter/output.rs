//! What the module writes on the UART, sorted by kind so that the message
//! level (AT+MMSG) and the response faults apply to the right bytes.
//!
//! - echo: the host's own input, when AT+MECHO=1;
//! - response: value lines and the final `[OK]` / `[ERROR…]` of a command;
//! - event: `\r\n[CONNECT 0]\r\n` and the like, unsolicited;
//! - data: received socket bytes (never filtered);
//! - debug: GMMP trace lines, only at AT+MMSG=3.
//!
//! AT+MMSG=1 hides status lines and events (values and data still print).
//! A garbled line keeps its CR LF; its content is reversed and its first
//! byte replaced by 0xFF, so it matches nothing a driver expects.

use bytes::Bytes;

use module_sim::faults::{CommandFault, garble};

use super::{Action, Interpreter};

/// The module's error responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AtError {
    /// `[ERROR]`: the command was understood but failed.
    #[error("[ERROR]")]
    Failed,
    /// `[ERROR: INVALID INPUT]`: wrong command or parameter.
    #[error("[ERROR: INVALID INPUT]")]
    InvalidInput,
    /// `[ERROR: INVALID SCID]`: no such (open) socket.
    #[error("[ERROR: INVALID SCID]")]
    InvalidScid,
    /// `[ERROR: WiFi Status]`: the command needs a joined Wi-Fi link.
    #[error("[ERROR: WiFi Status]")]
    WifiStatus,
    /// `[ERROR: Mode Status]`: not allowed in data mode.
    #[error("[ERROR: Mode Status]")]
    ModeStatus,
}

impl Interpreter {
    pub(crate) fn write(&mut self, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        if !bytes.is_empty() {
            self.actions.push(Action::Write(bytes));
        }
    }

    /// A line that is a candidate for garbling (response or event).
    fn write_line(&mut self, text: &[u8], leading_crlf: bool) {
        let mut out = Vec::with_capacity(text.len() + 4);
        if leading_crlf {
            out.extend_from_slice(b"\r\n");
        }
        if self.faults.take_garble() {
            out.extend_from_slice(&garble(text));
        } else {
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        self.write(out);
    }

    /// Applies the current command's drop / delay; false when dropped.
    fn pass_response_fault(&mut self) -> bool {
        match self.faults.current() {
            CommandFault::Drop => false,
            CommandFault::Delay(d) => {
                self.actions.push(Action::Pause(d));
                self.faults.delay_applied();
                true
            }
            CommandFault::None => true,
        }
    }

    pub(crate) fn echo(&mut self, bytes: &[u8]) {
        if self.echo {
            self.write(bytes.to_vec());
        }
    }

    /// A value line of a response (`00:08:DC:1E:32:22`).
    pub(crate) fn line(&mut self, text: &str) {
        if self.pass_response_fault() {
            self.write_line(text.as_bytes(), false);
        }
    }

    fn status(&mut self, text: &str) {
        if self.msg_level >= 2 && self.pass_response_fault() {
            self.write_line(text.as_bytes(), false);
        }
        self.faults.end_command();
    }

    /// `[OK]`, ending the command.
    pub(crate) fn ok(&mut self) {
        self.status("[OK]");
    }

    /// The error line, ending the command.
    pub(crate) fn error(&mut self, error: AtError) {
        self.status(&error.to_string());
    }

    /// An unsolicited event, `\r\n[text]\r\n`, plus indented detail lines.
    pub(crate) fn event(&mut self, text: &str, details: &[String]) {
        if self.msg_level < 2 {
            return;
        }
        self.write_line(text.as_bytes(), true);
        for detail in details {
            self.write(format!("{detail}\r\n"));
        }
    }

    /// A debug line (GMMP traces), shown only at message level 3.
    pub(crate) fn debug(&mut self, text: &str) {
        if self.msg_level >= 3 {
            self.write(format!("{text}\r\n"));
        }
    }

    /// Arms the response faults for a command that is starting.
    pub(crate) fn start_command(&mut self) {
        self.faults.start_command();
    }
}
