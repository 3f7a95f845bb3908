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
    #[error("cannot open serial port {path}: {source}")]
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
    #[error("`{command}` got no reply and the module did not answer a bare AT afterwards")]
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
}
