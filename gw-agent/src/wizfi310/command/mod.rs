//! Typed AT commands: each one knows its line, its timeout and how to read
//! its reply into a typed result.
//!
//! - [`basic`]: AT, AT+MMAC=?, AT+MINFO, AT+MECHO, AT+MMSG, AT+MRESET.
//! - [`wifi`]: AT+WSET, AT+WSEC, AT+WNET, AT+WJOIN, AT+WLEAVE, AT+WSTAT.
//! - [`socket`]: AT+SCON, AT+SMGMT, AT+SFORM=? (AT+SSEND lives in the driver:
//!   it writes a payload in the middle of its exchange).
//! - [`function`]: AT+FGETADC=?, AT+FGPIO.
//! - [`gmmp`]: AT+GMMPSET, AT+GMMPDATA, AT+GMMPOPT.

pub mod basic;
pub mod function;
pub mod gmmp;
pub mod socket;
pub mod wifi;

use std::time::Duration;

use super::config::Timeouts;
use super::error::Error;
use super::events::Event;

/// What came back for a command up to its `[OK]`: the text lines (echo and
/// events removed) and a copy of the events seen meanwhile (they also go to
/// the event channel).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Text lines, in order.
    pub lines: Vec<String>,
    /// Events that arrived during the exchange, in order.
    pub events: Vec<Event>,
}

impl Reply {
    /// A reply of these text lines and no events.
    pub fn of_lines(lines: &[&str]) -> Reply {
        Reply {
            lines: lines.iter().map(|l| l.to_string()).collect(),
            events: Vec::new(),
        }
    }
}

/// A reply line that did not read as the command expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFail {
    /// The offending line (empty when missing).
    pub line: String,
    /// What was expected.
    pub reason: &'static str,
}

impl ParseFail {
    pub(crate) fn new(line: &str, reason: &'static str) -> Self {
        ParseFail {
            line: line.to_owned(),
            reason,
        }
    }
}

/// One AT command with a typed result.
pub trait Command {
    /// What a successful reply reads as.
    type Output;
    /// The command line, without the CR.
    fn line(&self) -> Result<String, Error>;
    /// The line as it may appear in logs and errors (secrets masked).
    fn shown(&self) -> String {
        self.line().unwrap_or_else(|e| e.to_string())
    }
    /// How long to wait for the final `[OK]`/`[ERROR]`.
    fn timeout(&self, timeouts: &Timeouts) -> Duration {
        timeouts.command
    }
    /// Reads the reply of a command that ended in `[OK]`.
    fn parse(&self, reply: &Reply) -> Result<Self::Output, ParseFail>;
}

/// Checks a parameter before it goes into a command line: no CR/LF (it
/// would end the command), and no comma where the module splits fields.
pub(crate) fn field<'a>(
    command: &'static str,
    name: &str,
    value: &'a str,
    comma_allowed: bool,
) -> Result<&'a str, Error> {
    if value.contains(['\r', '\n']) {
        return Err(Error::InvalidArgument {
            command,
            reason: format!("{name} contains CR or LF"),
        });
    }
    if !comma_allowed && value.contains(',') {
        return Err(Error::InvalidArgument {
            command,
            reason: format!("{name} {value:?} contains a comma"),
        });
    }
    Ok(value)
}

/// The one text line of replies such as `1697` / `[OK]`.
pub(crate) fn single_line<'a>(reply: &'a Reply, what: &'static str) -> Result<&'a str, ParseFail> {
    reply
        .lines
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())
        .ok_or_else(|| ParseFail::new("", what))
}
