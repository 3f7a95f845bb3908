//! [`Error`]: why a WIZ550S2E driver call failed, keeping the command and
//! the module's own error code.

use std::time::Duration;

use super::reply::ErrorCode;

/// Why a driver call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The serial port could not be opened.
    #[error("cannot open serial port {path}: {source}")]
    Open {
        /// Path of the port.
        path: String,
        /// What the serial layer said.
        source: tokio_serial::Error,
    },
    /// Reading or writing the port failed.
    #[error("serial i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The port ended (the reader task stopped).
    #[error("the serial port closed")]
    Closed,
    /// The module answered `[F,<id>,<code>[,<param>]]`.
    #[error("`{command}` failed: [F] code {code}{}", param_text(*.param))]
    Module {
        /// The command as sent (without secrets).
        command: String,
        /// The module's error code.
        code: ErrorCode,
        /// The bad argument's index, or AT+NSEND's free buffer space.
        param: Option<u32>,
    },
    /// No answer in time, but the module answers a bare `AT` again: the
    /// command's effect is unknown.
    #[error("`{command}` got no answer within {after:?} (the module answers AT again)")]
    Timeout {
        /// The command.
        command: String,
        /// The time waited.
        after: Duration,
    },
    /// No answer, and no answer to the re-sync `AT`s (nor, at start-up,
    /// after the `+++` escape) either.
    #[error("the module does not answer (`{command}` and the re-sync AT went unanswered)")]
    Unresponsive {
        /// The command.
        command: String,
    },
    /// A success line that does not read as the command expects.
    #[error("`{command}`: cannot read {line:?}: {reason}")]
    Parse {
        /// The command.
        command: String,
        /// The line (or dump) read.
        line: String,
        /// What was expected.
        reason: &'static str,
    },
    /// An argument the module would refuse, caught before sending.
    #[error("{command}: {reason}")]
    InvalidArgument {
        /// The command.
        command: &'static str,
        /// Why.
        reason: String,
    },
}

fn param_text(param: Option<u32>) -> String {
    param
        .map(|p| format!(", parameter {p}"))
        .unwrap_or_default()
}

impl Error {
    /// The module's error code, when the module refused the command.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Module { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_error_names_the_command_code_and_parameter() {
        let e = Error::Module {
            command: "AT+NOPEN=C,,1.2.3.4,99999".into(),
            code: ErrorCode::OutOfRange,
            param: Some(4),
        };
        assert_eq!(
            e.to_string(),
            "`AT+NOPEN=C,,1.2.3.4,99999` failed: [F] code 4 (argument out of range), parameter 4"
        );
        assert_eq!(e.code(), Some(ErrorCode::OutOfRange));
        assert_eq!(Error::Closed.code(), None);
    }
}
