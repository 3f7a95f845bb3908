//! The driver's one error type.
//!
//! Errors keep the words that explain them: the command line that was sent
//! (with secrets masked), the module's own `[ERROR…]` line, the reply line
//! that could not be parsed.

use std::time::Duration;

/// Why a driver call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The serial port could not be opened with the given settings.
    #[error("cannot open serial port {path}: {source}{}", open_hint(source))]
    Open {
        /// Path of the port.
        path: String,
        /// What the serial layer said.
        source: tokio_serial::Error,
    },
    /// Reading or writing the port failed.
    #[error("serial port I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The reader task ended (end of file or read error): the port is gone.
    #[error("the serial port is closed")]
    Closed,
    /// No final `[OK]`/`[ERROR…]` came in time. The driver re-synchronised
    /// with a bare `AT` before returning this.
    #[error("`{command}` got no final reply within {after:?}")]
    Timeout {
        /// The command line (secrets masked).
        command: String,
        /// The time waited.
        after: Duration,
    },
    /// A command timed out and the bare-`AT` re-sync got no `[OK]` either.
    #[error(
        "`{command}` got no reply and the module did not answer a bare AT afterwards; \
         check that the module is powered, the wiring (its TX to the host's RX, RX to TX, \
         a common ground) and the line rate (--baud or serial.baud: 115200 unless the \
         module was set otherwise)"
    )]
    Unresponsive {
        /// The command that timed out first.
        command: String,
    },
    /// The module answered `[ERROR]` or `[ERROR: …]`.
    #[error("`{command}` failed: {words}")]
    Module {
        /// The command line (secrets masked).
        command: String,
        /// The module's line, verbatim, e.g. `[ERROR: INVALID SCID]`.
        words: String,
    },
    /// The module answered `[OK]` but a reply line did not read as expected.
    #[error("`{command}`: cannot read reply line {line:?}: {reason}")]
    Parse {
        /// The command line (secrets masked).
        command: String,
        /// The offending line (empty when a line was missing).
        line: String,
        /// What was expected.
        reason: &'static str,
    },
    /// An argument cannot be written into an AT command (e.g. it holds CR,
    /// or a comma where the module reads fields).
    #[error("invalid argument for {command}: {reason}")]
    InvalidArgument {
        /// The command name, e.g. `AT+WSET`.
        command: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The call needs the other serial mode (AT commands cannot be sent in
    /// data mode; raw bytes cannot be sent in command mode).
    #[error("not possible in {0} mode")]
    WrongMode(&'static str),
    /// The module's AT+SFORM receive header is not one the parser reads.
    #[error("unsupported AT+SFORM receive header form {0:?}")]
    UnsupportedDataForm(String),
}

/// The kinds of `[ERROR…]` the AT reference lists, for callers that react
/// to one of them (e.g. re-join on `WiFi Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleErrorKind {
    /// `[ERROR]`: command request failed.
    Failed,
    /// `[ERROR: INVALID INPUT]`: wrong command or parameter.
    InvalidInput,
    /// `[ERROR: INVALID SCID]`: wrong socket id.
    InvalidScid,
    /// `[ERROR: WiFi Status]`: needs the Wi-Fi joined state.
    WifiStatus,
    /// `[ERROR: Mode Status]`: not allowed in data mode.
    ModeStatus,
    /// Any other `[ERROR: …]` text.
    Other,
}

impl ModuleErrorKind {
    /// Reads the kind from the module's line.
    pub fn from_words(words: &str) -> Self {
        let inner = words
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim();
        let detail = inner
            .strip_prefix("ERROR")
            .map(|rest| rest.trim_start_matches(':').trim().to_ascii_lowercase());
        match detail.as_deref() {
            Some("") => Self::Failed,
            Some("invalid input") => Self::InvalidInput,
            Some("invalid scid") => Self::InvalidScid,
            Some("wifi status") => Self::WifiStatus,
            Some("mode status") => Self::ModeStatus,
            _ => Self::Other,
        }
    }
}

impl Error {
    /// The kind of module error, when this is one.
    pub fn module_error_kind(&self) -> Option<ModuleErrorKind> {
        match self {
            Error::Module { words, .. } => Some(ModuleErrorKind::from_words(words)),
            _ => None,
        }
    }
}

/// What to do about a port that would not open, by the cause the serial
/// layer gave.
fn open_hint(source: &tokio_serial::Error) -> &'static str {
    use std::io::ErrorKind as Io;
    use tokio_serial::ErrorKind as Serial;
    match source.kind {
        Serial::Io(Io::NotFound) => {
            "; no such device: check --serial (serial.path in the TOML, GW_AGENT_SERIAL); \
             `ls /dev/ttyUSB* /dev/ttyACM* /dev/serial/by-id/` lists the ports \
             (the agent keeps trying, in case the port appears)"
        }
        Serial::Io(Io::PermissionDenied) => {
            "; this user may not open it: add it to the port's group \
             (`ls -l` shows it; on Debian `sudo usermod -aG dialout $USER`, then log in again)"
        }
        Serial::NoDevice => {
            "; the port is held by another program (a second gw-agent, a terminal \
             program, ModemManager): `fuser -v <port>` shows which"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_error_kinds_come_from_the_words() {
        use ModuleErrorKind::*;
        assert_eq!(ModuleErrorKind::from_words("[ERROR]"), Failed);
        assert_eq!(
            ModuleErrorKind::from_words("[ERROR: INVALID INPUT]"),
            InvalidInput
        );
        assert_eq!(
            ModuleErrorKind::from_words("[ERROR: INVALID SCID]"),
            InvalidScid
        );
        assert_eq!(
            ModuleErrorKind::from_words("[ERROR: WiFi Status]"),
            WifiStatus
        );
        assert_eq!(
            ModuleErrorKind::from_words("[ERROR: Mode Status]"),
            ModeStatus
        );
        assert_eq!(ModuleErrorKind::from_words("[ERROR: Busy]"), Other);
    }

    fn open_error(kind: tokio_serial::ErrorKind) -> String {
        Error::Open {
            path: "/dev/ttyUSB0".into(),
            source: tokio_serial::Error::new(kind, "from the serial layer"),
        }
        .to_string()
    }

    #[test]
    fn a_port_that_will_not_open_says_what_to_check() {
        use std::io::ErrorKind as Io;
        let missing = open_error(tokio_serial::ErrorKind::Io(Io::NotFound));
        assert!(
            missing.contains("/dev/ttyUSB0") && missing.contains("--serial"),
            "{missing}"
        );
        let denied = open_error(tokio_serial::ErrorKind::Io(Io::PermissionDenied));
        assert!(denied.contains("dialout"), "{denied}");
        let busy = open_error(tokio_serial::ErrorKind::NoDevice);
        assert!(busy.contains("another program"), "{busy}");
    }

    #[test]
    fn a_silent_module_names_power_wiring_and_line_rate() {
        let text = Error::Unresponsive {
            command: "AT".into(),
        }
        .to_string();
        assert!(text.contains("wiring") && text.contains("--baud"), "{text}");
    }
}
