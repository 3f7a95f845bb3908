//! The receive header form of AT+SFORM: how data from a socket is framed on
//! the UART in command mode.
//!
//! ```text
//! {0,192.168.0.216,59834,5}hello\r\n      factory default 111111111,7B,2C,7D,0D,0A
//! ```
//! The enabled fields among socket id, IP, port and length are joined with
//! the delimiter when the delimiter flag is on (concatenated otherwise) —
//! the reference does not say how a disabled field affects delimiters.

use std::net::SocketAddrV4;

use super::output::AtError;

/// The nine format flags and five characters of AT+SFORM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReceiveForm {
    flags: [bool; 9],
    start: u8,
    delim: u8,
    end: u8,
    cls1: u8,
    cls2: u8,
}

impl Default for ReceiveForm {
    fn default() -> Self {
        ReceiveForm {
            flags: [true; 9],
            start: b'{',
            delim: b',',
            end: b'}',
            cls1: b'\r',
            cls2: b'\n',
        }
    }
}

impl ReceiveForm {
    /// Parses the six AT+SFORM fields.
    pub(crate) fn parse(fields: &[&str]) -> Result<ReceiveForm, AtError> {
        if fields.len() != 6 {
            return Err(AtError::InvalidInput);
        }
        let format = fields[0].as_bytes();
        if format.len() != 9 || !format.iter().all(|b| matches!(b, b'0' | b'1')) {
            return Err(AtError::InvalidInput);
        }
        let mut flags = [false; 9];
        for (flag, b) in flags.iter_mut().zip(format) {
            *flag = *b == b'1';
        }
        let hex = |s: &str| {
            if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AtError::InvalidInput);
            }
            u8::from_str_radix(s, 16).map_err(|_| AtError::InvalidInput)
        };
        Ok(ReceiveForm {
            flags,
            start: hex(fields[1])?,
            delim: hex(fields[2])?,
            end: hex(fields[3])?,
            cls1: hex(fields[4])?,
            cls2: hex(fields[5])?,
        })
    }

    /// The AT+SFORM=? line, e.g. `111111111,7B,2C,7D,0D,0A`.
    pub(crate) fn query(&self) -> String {
        let flags: String = self
            .flags
            .iter()
            .map(|&f| if f { '1' } else { '0' })
            .collect();
        format!(
            "{flags},{:02X},{:02X},{:02X},{:02X},{:02X}",
            self.start, self.delim, self.end, self.cls1, self.cls2
        )
    }

    /// One received record: header, the bytes as they came, trailer.
    pub(crate) fn record(&self, sid: u8, peer: SocketAddrV4, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 40);
        if self.flags[0] {
            out.push(self.start);
        }
        let items = [
            (self.flags[1], sid.to_string()),
            (self.flags[3], peer.ip().to_string()),
            (self.flags[4], peer.port().to_string()),
            (self.flags[5], data.len().to_string()),
        ];
        let mut first = true;
        for (_, text) in items.iter().filter(|(on, _)| *on) {
            if !first && self.flags[2] {
                out.push(self.delim);
            }
            out.extend_from_slice(text.as_bytes());
            first = false;
        }
        if self.flags[6] {
            out.push(self.end);
        }
        out.extend_from_slice(data);
        if self.flags[7] {
            out.push(self.cls1);
        }
        if self.flags[8] {
            out.push(self.cls2);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddrV4 {
        "192.168.0.216:59834".parse().unwrap()
    }

    #[test]
    fn default_form_matches_the_reference_example() {
        let form = ReceiveForm::default();
        assert_eq!(form.query(), "111111111,7B,2C,7D,0D,0A");
        assert_eq!(
            form.record(0, peer(), b"hello"),
            b"{0,192.168.0.216,59834,5}hello\r\n"
        );
    }

    #[test]
    fn custom_form_drops_disabled_fields() {
        let form = ReceiveForm::parse(&["101100110", "5B", "2F", "5D", "0D", "00"]).unwrap();
        assert_eq!(form.query(), "101100110,5B,2F,5D,0D,00");
        assert_eq!(form.record(3, peer(), b"hi"), b"[192.168.0.216]hi\r");
    }

    #[test]
    fn malformed_forms_are_rejected() {
        assert!(ReceiveForm::parse(&["11111111", "7B", "2C", "7D", "0D", "0A"]).is_err());
        assert!(ReceiveForm::parse(&["111111112", "7B", "2C", "7D", "0D", "0A"]).is_err());
        assert!(ReceiveForm::parse(&["111111111", "7G", "2C", "7D", "0D", "0A"]).is_err());
        assert!(ReceiveForm::parse(&["111111111", "7B", "2C", "7D", "0D"]).is_err());
    }
}
