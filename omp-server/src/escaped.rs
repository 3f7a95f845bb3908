//! [`Escaped`]: peer-supplied text (auth IDs, GW and device IDs, MQTT
//! client IDs, usernames and topics) as it may appear in a log line. A
//! peer choosing its ID must not be able to start a new log line, move the
//! terminal's cursor or clear the screen of whoever reads the log, so
//! everything but printable ASCII is written as a visible escape.

use std::fmt;

/// Bytes shown with printable ASCII as is and every other byte (control
/// characters, ESC, bytes of non-ASCII text) and `\` as `\xNN` — the
/// form the codec shows GMMP fields in, so one ID reads the same in every
/// line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a>(pub &'a [u8]);

/// `text` escaped for a log line.
pub fn text(text: &str) -> Escaped<'_> {
    Escaped(text.as_bytes())
}

/// `text` escaped, as a log field value (`field = option.map(shown)`).
pub fn shown(text: &str) -> tracing::field::DisplayValue<Escaped<'_>> {
    tracing::field::display(Escaped(text.as_bytes()))
}

/// True when `text` is printable ASCII only (shown in a log as it is).
pub fn is_printable_ascii(text: &[u8]) -> bool {
    text.iter().all(|b| (0x20..0x7f).contains(b))
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while !rest.is_empty() {
            // Runs of plain characters are written in one piece.
            let plain = rest
                .iter()
                .position(|b| !(0x20..0x7f).contains(b) || *b == b'\\')
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(plain);
            // Printable ASCII is UTF-8.
            f.write_str(std::str::from_utf8(run).unwrap_or_default())?;
            let Some((&b, tail)) = tail.split_first() else {
                break;
            };
            write!(f, "\\x{b:02x}")?;
            rest = tail;
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_escape_sequences_become_visible() {
        assert_eq!(text("0008dc1e3222").to_string(), "0008dc1e3222");
        assert_eq!(
            text("a\nINFO fake\x1b[2J\\é").to_string(),
            "a\\x0aINFO fake\\x1b[2J\\x5c\\xc3\\xa9"
        );
        assert_eq!(Escaped(b"\r\t\x00").to_string(), "\\x0d\\x09\\x00");
        assert_eq!(format!("{:?}", text("x\n")), "\"x\\x0a\"");
    }

    #[test]
    fn printable_ascii_is_told_apart() {
        assert!(is_printable_ascii(b"SC10010001 ~"));
        assert!(!is_printable_ascii(b"a\n"));
        assert!(!is_printable_ascii("é".as_bytes()));
    }
}
