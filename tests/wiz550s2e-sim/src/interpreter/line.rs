//! The firmware's command line: how a line is split into sign, operator
//! and arguments (`cmd_divide`), how responses are printed (`cmd_resp`),
//! and the argument checks every command shares (`ip_check`,
//! `port_check`, `mac_check`).

use std::net::Ipv4Addr;

/// Bytes of a command line the firmware keeps (a 100-byte buffer with its
/// NUL); further printable bytes are dropped.
pub(crate) const LINE_BUFFER: usize = 99;

/// Longest operator after `AT+` (`OP_SIZE`).
const OP_SIZE: usize = 8;

/// Longest argument, by position (`ARG_n_SIZE` minus the NUL).
const ARG_LIMITS: [usize; 6] = [35, 35, 35, 19, 19, 19];

/// The sign after the operator; the firmware picks it by the first of
/// `=`, `?`, `-` found anywhere in the line, in that order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    None,
    Query,
    Individual,
    Equal,
}

/// The module's failure codes, as printed in `[F,<id>,<code>…]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AtError {
    /// 0: undefined.
    #[error("undefined error")]
    Undefined = 0,
    /// 1: unknown command.
    #[error("wrong operator")]
    WrongOperator = 1,
    /// 2: the sign is not allowed for the command.
    #[error("wrong command sign")]
    WrongSign = 2,
    /// 3: a malformed argument.
    #[error("wrong arguments")]
    WrongArguments = 3,
    /// 4: an argument out of range.
    #[error("argument out of range")]
    OutOfRange = 4,
    /// 5: the function is disabled.
    #[error("function disabled")]
    Disabled = 5,
    /// 6: not allowed.
    #[error("not allowed")]
    NotAllowed = 6,
    /// 7: busy (with the free buffer space for AT+NSEND).
    #[error("busy")]
    Busy = 7,
    /// 8: timed out.
    #[error("timeout")]
    Timeout = 8,
    /// 10: no socket available.
    #[error("no socket available")]
    NoSocket = 10,
    /// 11: the socket is closed.
    #[error("socket closed")]
    SocketClosed = 11,
    /// 12: the source port is in use.
    #[error("port in use")]
    PortInUse = 12,
    /// 13: the socket is not connected.
    #[error("not connected")]
    NotConnected = 13,
    /// 14: a wrong address.
    #[error("wrong address")]
    WrongAddress = 14,
    /// 15: no data.
    #[error("no data")]
    NoData = 15,
    /// 20: no free memory.
    #[error("no free memory")]
    NoFreeMemory = 20,
}

/// A failed command: the code and, for argument errors, the index of the
/// argument (or another number, as AT+NSEND's free space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: AtError,
    pub(crate) detail: Option<u32>,
}

impl From<AtError> for Failure {
    fn from(code: AtError) -> Self {
        Failure { code, detail: None }
    }
}

impl AtError {
    /// This error with the index of the argument (`RESP_CDR`).
    pub(crate) fn at(self, detail: u32) -> Failure {
        Failure {
            code: self,
            detail: Some(detail),
        }
    }
}

/// One split command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Plain `AT` with its sign.
    At(Sign),
    /// `AT+<op>` (upper-cased) or an unknown operator.
    Command {
        op: String,
        sign: Sign,
        args: Vec<String>,
    },
}

/// Splits a line the firmware's way.
pub(crate) fn parse(line: &str) -> Result<Parsed, Failure> {
    let sign = if line.contains('=') {
        Sign::Equal
    } else if line.contains('?') {
        Sign::Query
    } else if line.contains('-') {
        Sign::Individual
    } else {
        Sign::None
    };
    let (head, rest) = match line.find(['=', '-', '?']) {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let head = head.to_ascii_uppercase();
    let op = match head.strip_prefix("AT+") {
        Some(op) if head.len() <= OP_SIZE + 2 => op.to_string(),
        _ if head == "AT" => return Ok(Parsed::At(sign)),
        // An operator that is too long or lacks `AT+` is kept whole, so it
        // matches no command.
        _ => head,
    };
    let mut args = Vec::new();
    if let Some(rest) = rest {
        let mut pieces = rest.split(',');
        for (index, limit) in ARG_LIMITS.iter().enumerate() {
            let Some(piece) = pieces.next() else { break };
            if piece.len() > *limit {
                return Err(AtError::WrongArguments.at(index as u32 + 1));
            }
            args.push(piece.to_string());
        }
        if pieces.next().is_some() {
            return Err(AtError::WrongArguments.into());
        }
    }
    args.resize(ARG_LIMITS.len(), String::new());
    Ok(Parsed::Command { op, sign, args })
}

/// A response line as `cmd_resp` prints it (without CR LF): empty
/// arguments keep their commas only while a later one is set.
pub(crate) fn response(kind: char, id: Option<u8>, code: Option<AtError>, args: &[&str]) -> String {
    let mut out = format!("[{kind}");
    let mut left = args.iter().filter(|a| !a.is_empty()).count();
    match code {
        None => {
            if let Some(id) = id {
                out.push_str(&format!(",{id}"));
            } else if left > 0 {
                out.push(',');
            }
        }
        Some(code) => {
            out.push(',');
            if let Some(id) = id {
                out.push_str(&id.to_string());
            }
            out.push_str(&format!(",{}", code as u8));
        }
    }
    for arg in args {
        if !arg.is_empty() {
            out.push(',');
            out.push_str(arg);
            left -= 1;
        } else if left > 0 {
            out.push(',');
        }
    }
    out.push(']');
    out
}

/// A failure line, `[F,<id>,<code>[,<detail>]]`.
pub(crate) fn failure(id: Option<u8>, failure: Failure) -> String {
    let detail = failure.detail.map(|d| d.to_string()).unwrap_or_default();
    response('F', id, Some(failure.code), &[&detail])
}

/// `ip_check`: a dotted quad of 7 to 15 characters, not all zero.
pub(crate) fn ipv4(text: &str) -> Option<Ipv4Addr> {
    if !(7..=15).contains(&text.len()) {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut count = 0;
    for part in text.split('.').filter(|p| !p.is_empty()) {
        if count == 4 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        octets[count] = part.parse().ok()?;
        count += 1;
    }
    (count == 4 && octets != [0; 4]).then(|| Ipv4Addr::from(octets))
}

/// `port_check`: 1..=65535 in decimal, nothing after it.
pub(crate) fn port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&p| p != 0)
}

/// `mac_check`: six colon-separated hex pairs, 17 characters.
pub fn mac(text: &str) -> Option<[u8; 6]> {
    if text.len() != 17 {
        return None;
    }
    let mut mac = [0u8; 6];
    let mut count = 0;
    for part in text.split(':') {
        if count == 6 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        mac[count] = u8::from_str_radix(part, 16).ok()?;
        count += 1;
    }
    (count == 6).then_some(mac)
}

/// The MAC as AT+NMAC prints it, `00:08:dc:1d:bb:8a`.
pub(crate) fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A decimal argument in `min..=max`: `[F,,3,n]` when not digits,
/// `[F,,4,n]` when out of range.
pub(crate) fn number(text: &str, min: u32, max: u32, index: u32) -> Result<u32, Failure> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AtError::WrongArguments.at(index));
    }
    match text.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(AtError::OutOfRange.at(index)),
    }
}

/// One letter out of `allowed`, case-insensitive.
pub(crate) fn letter(text: &str, allowed: &str, index: u32) -> Result<char, Failure> {
    let upper = text.to_ascii_uppercase();
    let mut chars = upper.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if allowed.contains(c) => Ok(c),
        _ => Err(AtError::WrongArguments.at(index)),
    }
}

/// `[F,,3,n]` unless argument `n` is empty.
pub(crate) fn must_be_empty(text: &str, index: u32) -> Result<(), Failure> {
    if text.is_empty() {
        Ok(())
    } else {
        Err(AtError::WrongArguments.at(index))
    }
}
