//! Splitting an AT command line into its name and parameters, and the
//! parameter checks every command shares.

use std::net::Ipv4Addr;

use super::output::AtError;

/// One command line, split: `AT+SCON=O,TCN,…` → name `SCON`, params text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandLine {
    /// Upper-cased name after `AT+` (empty for plain `AT`).
    pub(crate) name: String,
    /// Everything after the first `=`, if there was one, as text (bytes
    /// that are not UTF-8 shown as U+FFFD).
    pub(crate) params: Option<String>,
    /// The same bytes as typed, for commands that carry data rather than
    /// settings (AT+GMMPDATA).
    raw_params: Option<Vec<u8>>,
}

impl CommandLine {
    /// Parses a line (without its CR); any line not starting with `AT`
    /// (either case) is invalid input, as is `AT` followed by anything but `+`.
    ///
    /// The firmware hands its command buffer to C string functions, so a
    /// line ends at its first NUL byte: `AT+GMMPDATA=1,ab\0cd` is
    /// `AT+GMMPDATA=1,ab`.
    pub(crate) fn parse(line: impl AsRef<[u8]>) -> Result<CommandLine, AtError> {
        let line = line.as_ref();
        let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
        let head = line.get(..2).ok_or(AtError::InvalidInput)?;
        if !head.eq_ignore_ascii_case(b"AT") {
            return Err(AtError::InvalidInput);
        }
        let rest = &line[2..];
        if rest.is_empty() {
            return Ok(CommandLine {
                name: String::new(),
                params: None,
                raw_params: None,
            });
        }
        let rest = rest.strip_prefix(b"+").ok_or(AtError::InvalidInput)?;
        let (name, raw_params) = match rest.iter().position(|&b| b == b'=') {
            Some(at) => (&rest[..at], Some(rest[at + 1..].to_vec())),
            None => (rest, None),
        };
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric()) {
            return Err(AtError::InvalidInput);
        }
        Ok(CommandLine {
            // Checked ASCII alphanumeric just above.
            name: String::from_utf8_lossy(name).to_ascii_uppercase(),
            params: raw_params
                .as_deref()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            raw_params,
        })
    }

    /// The parameters as typed (see [`CommandLine::params`]).
    pub(crate) fn raw_params(&self) -> Option<&[u8]> {
        self.raw_params.as_deref()
    }

    /// True for the `=?` query form.
    pub(crate) fn is_query(&self) -> bool {
        self.params.as_deref() == Some("?")
    }

    /// The comma-separated parameters (empty ones kept), or invalid input
    /// when the command had no `=`.
    pub(crate) fn fields(&self) -> Result<Vec<&str>, AtError> {
        let params = self.params.as_deref().ok_or(AtError::InvalidInput)?;
        Ok(params.split(',').collect())
    }
}

/// The i-th field, or "" when it was left out entirely.
pub(crate) fn field<'a>(fields: &[&'a str], i: usize) -> &'a str {
    fields.get(i).copied().unwrap_or("")
}

/// Fails with invalid input when more than `max` fields were given.
pub(crate) fn at_most(fields: &[&str], max: usize) -> Result<(), AtError> {
    if fields.len() > max {
        Err(AtError::InvalidInput)
    } else {
        Ok(())
    }
}

/// A decimal number within `range`.
pub(crate) fn number<T>(text: &str, range: std::ops::RangeInclusive<T>) -> Result<T, AtError>
where
    T: std::str::FromStr + PartialOrd,
{
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AtError::InvalidInput);
    }
    let value: T = text.parse().map_err(|_| AtError::InvalidInput)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(AtError::InvalidInput)
    }
}

/// A 0/1 flag.
pub(crate) fn flag(text: &str) -> Result<bool, AtError> {
    match text {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(AtError::InvalidInput),
    }
}

/// A dotted IPv4 address.
pub(crate) fn ipv4(text: &str) -> Result<Ipv4Addr, AtError> {
    text.parse().map_err(|_| AtError::InvalidInput)
}

/// A MAC address as `xx:xx:xx:xx:xx:xx` or 12 bare hex digits.
pub(crate) fn mac(text: &str) -> Result<[u8; 6], AtError> {
    let digits: String = if text.len() == 17 {
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
            return Err(AtError::InvalidInput);
        }
        parts.concat()
    } else {
        text.to_string()
    };
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AtError::InvalidInput);
    }
    let mut out = [0u8; 6];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = digits.get(2 * i..2 * i + 2).ok_or(AtError::InvalidInput)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| AtError::InvalidInput)?;
    }
    Ok(out)
}

/// `00:08:DC:1E:32:22`, the way AT+MMAC=? prints it.
pub(crate) fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_at_and_named_commands_split() {
        assert_eq!(CommandLine::parse("AT").unwrap().name, "");
        let c = CommandLine::parse("at+scon=O,TCN,1.2.3.4,5,,0").unwrap();
        assert_eq!(c.name, "SCON");
        assert_eq!(
            c.fields().unwrap(),
            vec!["O", "TCN", "1.2.3.4", "5", "", "0"]
        );
        assert!(CommandLine::parse("AT+MMAC=?").unwrap().is_query());
    }

    #[test]
    fn a_line_ends_at_its_first_nul_and_keeps_its_bytes() {
        let c = CommandLine::parse(b"AT+GMMPDATA=1,ab\0cd").unwrap();
        assert_eq!(c.params.as_deref(), Some("1,ab"));
        let c = CommandLine::parse(b"AT+GMMPDATA=1,\xe9t\xe9").unwrap();
        assert_eq!(c.raw_params(), Some(&b"1,\xe9t\xe9"[..]));
        assert_eq!(CommandLine::parse(b"\0AT"), Err(AtError::InvalidInput));
    }

    #[test]
    fn lines_not_starting_with_at_are_invalid() {
        assert_eq!(CommandLine::parse("XT"), Err(AtError::InvalidInput));
        assert_eq!(CommandLine::parse("A"), Err(AtError::InvalidInput));
        assert_eq!(CommandLine::parse("ATZ"), Err(AtError::InvalidInput));
        assert_eq!(CommandLine::parse("AT+"), Err(AtError::InvalidInput));
    }

    #[test]
    fn macs_parse_both_ways() {
        let m = mac("0008dc1e3222").unwrap();
        assert_eq!(format_mac(&m), "00:08:DC:1E:32:22");
        assert_eq!(mac("00:08:DC:1E:32:22").unwrap(), m);
        assert!(mac("00:08:DC:1E:32").is_err());
        assert!(mac("zz08dc1e3222").is_err());
        assert!(mac("+1+2+3+4+5+6").is_err());
    }

    #[test]
    fn numbers_are_checked_against_their_range() {
        assert_eq!(number::<u16>("80", 1..=65535), Ok(80));
        assert!(number::<u16>("0", 1..=65535).is_err());
        assert!(number::<u16>("-1", 0..=65535).is_err());
        assert!(number::<u16>("", 0..=65535).is_err());
    }
}
