//! The bracketed response lines of the WIZ550S2E (`cmd_resp` in the
//! firmware's `cmdrun.c`) and its numeric error codes.
//!
//! ```text
//! [S]  [S,<id>,<a1>,…]   success (id empty for synchronous answers)
//! [F,<id>,<code>[,<n>]]  failure: an error code, then the bad argument's
//!                        index (AT+NSEND busy: the free buffer space)
//! [W,<sock>]             accepted; [S,<sock>] or [F,<sock>,<code>] follows
//! [V,<sock>,<event>]     socket event (2 = closed)
//! [D,<id>,<size>]        a dump of <size> bytes follows on the next line
//! [R,<sock>,<len>[,<ip>,<port>]]  <len> received bytes follow
//! ```
//!
//! [`classify`] reads one line; `[D…]` and `[R…]` headers are recognised
//! here too, but the bytes after them are the parser's business.

use std::fmt;
use std::net::Ipv4Addr;

/// A failure code of `[F,…]`, as the firmware numbers them (`common.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: undefined.
    Undefined,
    /// 1: unknown command (wrong operator).
    WrongOperator,
    /// 2: wrong sign (`=`, `?`, none).
    WrongSign,
    /// 3: wrong arguments.
    WrongArguments,
    /// 4: argument out of range.
    OutOfRange,
    /// 5: function disabled.
    Disabled,
    /// 6: not allowed.
    NotAllowed,
    /// 7: busy (AT+NSEND: the transmit buffer is short).
    Busy,
    /// 8: timeout (a connect that did not complete).
    Timeout,
    /// 10: no free socket.
    NoSocket,
    /// 11: the socket is closed.
    SocketClosed,
    /// 12: the port is in use.
    PortInUse,
    /// 13: not connected.
    NotConnected,
    /// 14: wrong address.
    WrongAddress,
    /// 15: no data.
    NoData,
    /// 20: out of memory.
    NoMemory,
    /// A code the firmware version read does not define.
    Other(u16),
}

impl ErrorCode {
    /// The code for a number.
    pub fn from_number(n: u16) -> ErrorCode {
        match n {
            0 => ErrorCode::Undefined,
            1 => ErrorCode::WrongOperator,
            2 => ErrorCode::WrongSign,
            3 => ErrorCode::WrongArguments,
            4 => ErrorCode::OutOfRange,
            5 => ErrorCode::Disabled,
            6 => ErrorCode::NotAllowed,
            7 => ErrorCode::Busy,
            8 => ErrorCode::Timeout,
            10 => ErrorCode::NoSocket,
            11 => ErrorCode::SocketClosed,
            12 => ErrorCode::PortInUse,
            13 => ErrorCode::NotConnected,
            14 => ErrorCode::WrongAddress,
            15 => ErrorCode::NoData,
            20 => ErrorCode::NoMemory,
            other => ErrorCode::Other(other),
        }
    }

    /// The number the module prints.
    pub fn number(self) -> u16 {
        match self {
            ErrorCode::Undefined => 0,
            ErrorCode::WrongOperator => 1,
            ErrorCode::WrongSign => 2,
            ErrorCode::WrongArguments => 3,
            ErrorCode::OutOfRange => 4,
            ErrorCode::Disabled => 5,
            ErrorCode::NotAllowed => 6,
            ErrorCode::Busy => 7,
            ErrorCode::Timeout => 8,
            ErrorCode::NoSocket => 10,
            ErrorCode::SocketClosed => 11,
            ErrorCode::PortInUse => 12,
            ErrorCode::NotConnected => 13,
            ErrorCode::WrongAddress => 14,
            ErrorCode::NoData => 15,
            ErrorCode::NoMemory => 20,
            ErrorCode::Other(n) => n,
        }
    }

    /// What the code means, in words.
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorCode::Undefined => "undefined error",
            ErrorCode::WrongOperator => "unknown command",
            ErrorCode::WrongSign => "wrong sign",
            ErrorCode::WrongArguments => "wrong arguments",
            ErrorCode::OutOfRange => "argument out of range",
            ErrorCode::Disabled => "disabled",
            ErrorCode::NotAllowed => "not allowed",
            ErrorCode::Busy => "busy",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NoSocket => "no free socket",
            ErrorCode::SocketClosed => "socket closed",
            ErrorCode::PortInUse => "port in use",
            ErrorCode::NotConnected => "not connected",
            ErrorCode::WrongAddress => "wrong address",
            ErrorCode::NoData => "no data",
            ErrorCode::NoMemory => "no memory",
            ErrorCode::Other(_) => "unknown error code",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.meaning())
    }
}

/// A socket event of `[V,<sock>,<event>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketEvent {
    /// 0: a server socket got a connection.
    Connected,
    /// 1: a server socket's peer left (back to listening).
    Disconnected,
    /// 2: the socket closed (peer close, broken connection).
    Closed,
    /// 3: data is waiting.
    Data,
    /// Another number.
    Other(u16),
}

impl SocketEvent {
    fn from_number(n: u16) -> SocketEvent {
        match n {
            0 => SocketEvent::Connected,
            1 => SocketEvent::Disconnected,
            2 => SocketEvent::Closed,
            3 => SocketEvent::Data,
            other => SocketEvent::Other(other),
        }
    }
}

/// The header of a received-data record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveHeader {
    /// The socket.
    pub sock: u8,
    /// Payload bytes that follow.
    pub len: usize,
    /// The sender (UDP only).
    pub from: Option<(Ipv4Addr, u16)>,
}

/// One line the module printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyLine {
    /// `[S]`, `[S,<id>,…]`.
    Success {
        /// The socket id (`None` when empty).
        id: Option<u8>,
        /// The arguments after the id, empty ones kept.
        args: Vec<String>,
    },
    /// `[F,<id>,<code>[,<n>]]`.
    Failure {
        /// The socket id (`None` when empty).
        id: Option<u8>,
        /// The error code.
        code: ErrorCode,
        /// The bad argument's index, or AT+NSEND's free buffer space.
        param: Option<u32>,
    },
    /// `[W,<sock>]`.
    Wait {
        /// The socket (`None` when empty).
        sock: Option<u8>,
    },
    /// `[V,<sock>,<event>]`.
    Event {
        /// The socket.
        sock: u8,
        /// What happened.
        event: SocketEvent,
    },
    /// `[D,<id>,<size>]` (the dump follows).
    DumpHeader {
        /// The id (`None` when empty).
        id: Option<u8>,
        /// Bytes announced.
        size: usize,
    },
    /// `[R,…]` (the payload follows).
    Receive(ReceiveHeader),
    /// Anything else (garbage, a line of a dump read as a line).
    Text(String),
}

fn optional_id(field: &str) -> Result<Option<u8>, ()> {
    if field.is_empty() {
        Ok(None)
    } else {
        field.parse().map(Some).map_err(|_| ())
    }
}

/// Reads one line (without its CR LF). Never fails: a line that does not
/// read as a response is [`ReplyLine::Text`].
pub fn classify(line: &str) -> ReplyLine {
    parse_bracketed(line).unwrap_or_else(|()| ReplyLine::Text(line.to_owned()))
}

fn parse_bracketed(line: &str) -> Result<ReplyLine, ()> {
    let inner = line
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .ok_or(())?;
    let mut fields = inner.split(',');
    let kind = fields.next().ok_or(())?;
    let rest: Vec<&str> = fields.collect();
    let field = |i: usize| rest.get(i).copied().unwrap_or("");
    let number = |s: &str| s.parse::<u16>().map_err(|_| ());
    match kind {
        "S" => Ok(ReplyLine::Success {
            id: optional_id(field(0))?,
            args: rest.iter().skip(1).map(|s| s.to_string()).collect(),
        }),
        "F" if (2..=3).contains(&rest.len()) => Ok(ReplyLine::Failure {
            id: optional_id(field(0))?,
            code: ErrorCode::from_number(number(field(1))?),
            param: match rest.get(2) {
                Some(p) if !p.is_empty() => Some(p.parse().map_err(|_| ())?),
                _ => None,
            },
        }),
        "W" if rest.len() == 1 => Ok(ReplyLine::Wait {
            sock: optional_id(field(0))?,
        }),
        "V" if rest.len() == 2 => Ok(ReplyLine::Event {
            sock: field(0).parse().map_err(|_| ())?,
            event: SocketEvent::from_number(number(field(1))?),
        }),
        "D" if rest.len() == 2 => Ok(ReplyLine::DumpHeader {
            id: optional_id(field(0))?,
            size: field(1).parse().map_err(|_| ())?,
        }),
        "R" if rest.len() == 2 || rest.len() == 4 => {
            let from = if rest.len() == 4 {
                let ip = field(2).parse::<Ipv4Addr>().map_err(|_| ())?;
                Some((ip, number(field(3))?))
            } else {
                None
            };
            Ok(ReplyLine::Receive(ReceiveHeader {
                sock: field(0).parse().map_err(|_| ())?,
                len: field(1).parse().map_err(|_| ())?,
                from,
            }))
        }
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_lines_keep_their_id_and_arguments() {
        assert_eq!(
            classify("[S]"),
            ReplyLine::Success {
                id: None,
                args: vec![]
            }
        );
        assert_eq!(
            classify("[S,,00:08:dc:1d:bb:8a]"),
            ReplyLine::Success {
                id: None,
                args: vec!["00:08:dc:1d:bb:8a".into()]
            }
        );
        assert_eq!(
            classify("[S,0]"),
            ReplyLine::Success {
                id: Some(0),
                args: vec![]
            }
        );
        assert_eq!(
            classify("[S,,,5]"),
            ReplyLine::Success {
                id: None,
                args: vec!["".into(), "5".into()]
            }
        );
    }

    #[test]
    fn every_error_code_reads_back_with_its_parameter() {
        for n in [0u16, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 20, 99] {
            let code = ErrorCode::from_number(n);
            assert_eq!(code.number(), n);
            assert_eq!(
                classify(&format!("[F,,{n}]")),
                ReplyLine::Failure {
                    id: None,
                    code,
                    param: None
                }
            );
        }
        assert_eq!(
            classify("[F,,3,2]"),
            ReplyLine::Failure {
                id: None,
                code: ErrorCode::WrongArguments,
                param: Some(2)
            }
        );
        assert_eq!(
            classify("[F,0,8]"),
            ReplyLine::Failure {
                id: Some(0),
                code: ErrorCode::Timeout,
                param: None
            }
        );
        assert_eq!(
            classify("[F,,7,100]"),
            ReplyLine::Failure {
                id: None,
                code: ErrorCode::Busy,
                param: Some(100)
            }
        );
        assert_eq!(ErrorCode::Other(99).to_string(), "99 (unknown error code)");
    }

    #[test]
    fn wait_event_dump_and_receive_headers() {
        assert_eq!(classify("[W,0]"), ReplyLine::Wait { sock: Some(0) });
        assert_eq!(
            classify("[V,0,2]"),
            ReplyLine::Event {
                sock: 0,
                event: SocketEvent::Closed
            }
        );
        assert_eq!(
            classify("[D,,25]"),
            ReplyLine::DumpHeader { id: None, size: 25 }
        );
        assert_eq!(
            classify("[R,0,5]"),
            ReplyLine::Receive(ReceiveHeader {
                sock: 0,
                len: 5,
                from: None
            })
        );
        assert_eq!(
            classify("[R,1,3,10.0.0.1,5000]"),
            ReplyLine::Receive(ReceiveHeader {
                sock: 1,
                len: 3,
                from: Some((Ipv4Addr::new(10, 0, 0, 1), 5000))
            })
        );
    }

    #[test]
    fn anything_else_is_text() {
        for line in [
            "",
            "DNS Timeout",
            "[X]",
            "[F]",
            "[F,,x]",
            "[R,0]",
            "[S",
            "\u{fffd}]0,S[",
        ] {
            assert_eq!(classify(line), ReplyLine::Text(line.into()), "{line:?}");
        }
    }
}
