//! Data received on a socket in command mode, and the header that frames it.
//!
//! With the factory AT+SFORM (`111111111,7B,2C,7D,0D,0A`) the module prints
//!
//! ```text
//! {0,192.168.0.216,59834,5}hello\r\n
//! ```
//!
//! socket id, peer address, peer port, length, then exactly `length` bytes
//! of payload (any bytes, `\r\n`, `{`, `[` included) and the two data-end
//! bytes. The payload is taken by its length, never by lines.

use bytes::Bytes;
use std::net::IpAddr;

/// The receive header characters of AT+SFORM. The parser needs every
/// header field (socket id, address, port, length), so only the
/// characters and the data-end bytes vary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataForm {
    /// Header start (`{`).
    pub start: u8,
    /// Field delimiter (`,`).
    pub delim: u8,
    /// Header end (`}`).
    pub end: u8,
    /// Bytes after the payload (`\r\n`; empty when disabled).
    pub trailer: Vec<u8>,
}

impl Default for DataForm {
    /// The factory default `111111111,7B,2C,7D,0D,0A`.
    fn default() -> Self {
        DataForm {
            start: b'{',
            delim: b',',
            end: b'}',
            trailer: b"\r\n".to_vec(),
        }
    }
}

/// What AT+SFORM=? answers: `<Format>,<Start>,<Delim>,<End>,<Cls1>,<Cls2>`,
/// e.g. `111111111,7B,2C,7D,0D,0A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SformSetting {
    /// The nine 0/1 switches: header start, socket id, delimiter, remote IP,
    /// remote port, length, header end, data end 1, data end 2.
    pub format: [bool; 9],
    /// Header start character.
    pub start: u8,
    /// Delimiter character.
    pub delim: u8,
    /// Header end character.
    pub end: u8,
    /// Data end characters.
    pub cls: [u8; 2],
}

impl SformSetting {
    /// Reads the AT+SFORM=? line; `None` when it is not in that form.
    pub fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.trim().split(',').map(str::trim).collect();
        let [format, start, delim, end, cls1, cls2] = fields.as_slice() else {
            return None;
        };
        if format.len() != 9 {
            return None;
        }
        let mut bits = [false; 9];
        for (bit, c) in bits.iter_mut().zip(format.chars()) {
            *bit = match c {
                '0' => false,
                '1' => true,
                _ => return None,
            };
        }
        let hex = |s: &str| u8::from_str_radix(s, 16).ok();
        Some(SformSetting {
            format: bits,
            start: hex(start)?,
            delim: hex(delim)?,
            end: hex(end)?,
            cls: [hex(cls1)?, hex(cls2)?],
        })
    }

    /// The form the parser can read, or `None` when a header field the
    /// parser needs (start, id, delimiter, IP, port, length, end) is off.
    pub fn data_form(&self) -> Option<DataForm> {
        if !self.format[..7].iter().all(|&on| on) {
            return None;
        }
        let trailer = self
            .cls
            .iter()
            .zip(&self.format[7..])
            .filter(|(_, on)| **on)
            .map(|(c, _)| *c)
            .collect();
        Some(DataForm {
            start: self.start,
            delim: self.delim,
            end: self.end,
            trailer,
        })
    }
}

/// Bytes received on a socket, with where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketData {
    /// Socket id (0..=7).
    pub sid: u8,
    /// Peer address.
    pub remote_ip: IpAddr,
    /// Peer port.
    pub remote_port: u16,
    /// The payload, exactly as received.
    pub payload: Bytes,
}

/// A parsed receive header: everything but the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DataHeader {
    pub(crate) sid: u8,
    pub(crate) remote_ip: IpAddr,
    pub(crate) remote_port: u16,
    pub(crate) len: usize,
}

/// Reads the inside of a header (between start and end characters), e.g.
/// `0,192.168.0.216,59834,5`. `None` when it is not a header.
pub(crate) fn parse_header(inner: &[u8], form: &DataForm) -> Option<DataHeader> {
    let text = std::str::from_utf8(inner).ok()?;
    let mut fields = text.split(form.delim as char);
    let sid: u8 = fields.next()?.parse().ok()?;
    let remote_ip: IpAddr = fields.next()?.parse().ok()?;
    let remote_port: u16 = fields.next()?.parse().ok()?;
    let len_text = fields.next()?;
    if fields.next().is_some() || sid > 7 || !len_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: usize = len_text.parse().ok()?;
    Some(DataHeader {
        sid,
        remote_ip,
        remote_port,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_sform_reads_as_the_default_form() {
        let setting = SformSetting::parse("111111111,7B,2C,7D,0D,0A").unwrap();
        assert_eq!(setting.data_form(), Some(DataForm::default()));
    }

    #[test]
    fn sform_without_ip_is_not_readable() {
        let setting = SformSetting::parse("101100110,5B,2F,5D,0D,00").unwrap();
        assert_eq!(setting.data_form(), None);
        assert_eq!(SformSetting::parse("11111111,7B,2C,7D,0D,0A"), None);
        assert_eq!(SformSetting::parse("111111111,7B,2C,7D,0D"), None);
    }

    #[test]
    fn header_fields_are_read() {
        let header = parse_header(b"3,192.168.0.216,59834,5", &DataForm::default()).unwrap();
        assert_eq!(header.sid, 3);
        assert_eq!(header.remote_ip.to_string(), "192.168.0.216");
        assert_eq!(header.remote_port, 59834);
        assert_eq!(header.len, 5);
        assert_eq!(parse_header(b"9,1.2.3.4,1,1", &DataForm::default()), None);
        assert_eq!(parse_header(b"0,1.2.3.4,1,+1", &DataForm::default()), None);
        assert_eq!(parse_header(b"0,1.2.3.4,1", &DataForm::default()), None);
    }
}
