//! [`DpTime`]: the times of `$dp` payloads, from the 6-byte binary form or
//! from `YYYY-MM-DD hh:mm:ss` text.

use std::fmt;

use super::error::DpError;

/// A calendar time as the payload states it, without a time zone
/// conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DpTime {
    /// Year, e.g. 2016.
    pub year: u16,
    /// Month 1..=12.
    pub month: u8,
    /// Day 1..=31.
    pub day: u8,
    /// Hour 0..=23.
    pub hour: u8,
    /// Minute 0..=59.
    pub minute: u8,
    /// Second 0..=59.
    pub second: u8,
    /// `true` for the 6-byte time of types 6/7 (UTC); `false` for a time
    /// written in JSON or text, which is the sender's local clock.
    pub utc: bool,
}

impl DpTime {
    fn checked(self, text: impl FnOnce() -> String) -> Result<Self, DpError> {
        let ok = (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60;
        if ok {
            Ok(self)
        } else {
            Err(DpError::InvalidTime { text: text() })
        }
    }

    /// The 6-byte form `YY-2000 MM DD hh mm ss`, UTC.
    pub(crate) fn from_bytes(b: &[u8]) -> Result<Self, DpError> {
        let hex = || b.iter().map(|x| format!("{x:02x}")).collect();
        let [yy, month, day, hour, minute, second] = b else {
            return Err(DpError::InvalidTime { text: hex() });
        };
        if *yy > 99 {
            return Err(DpError::InvalidTime { text: hex() });
        }
        DpTime {
            year: 2000 + u16::from(*yy),
            month: *month,
            day: *day,
            hour: *hour,
            minute: *minute,
            second: *second,
            utc: true,
        }
        .checked(hex)
    }

    /// `YYYY-MM-DD hh:mm:ss` (or with `T` between date and time), the
    /// sender's local time.
    pub fn parse(text: &str) -> Result<Self, DpError> {
        let bad = || DpError::InvalidTime {
            text: text.to_owned(),
        };
        let b = text.as_bytes();
        // ASCII first: the slices below are by byte.
        if !text.is_ascii()
            || b.len() != 19
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b' ' | b'T')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(bad());
        }
        let num = |from: usize, to: usize| -> Result<u16, DpError> {
            let s = &text[from..to];
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        };
        let small = |from, to| num(from, to).map(|v| v as u8);
        DpTime {
            year: num(0, 4)?,
            month: small(5, 7)?,
            day: small(8, 10)?,
            hour: small(11, 13)?,
            minute: small(14, 16)?,
            second: small(17, 19)?,
            utc: false,
        }
        .checked(|| text.to_owned())
    }
}

impl fmt::Display for DpTime {
    /// `2016-11-22 14:31:12`, with a `Z` when the time is UTC.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            if self.utc { "Z" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let t = DpTime::from_bytes(&[0x10, 0x0b, 0x16, 0x0e, 0x1f, 0x0c]).unwrap();
        assert_eq!(t.to_string(), "2016-11-22 14:31:12Z");
        let t = DpTime::parse("2015-03-22 22:31:12").unwrap();
        assert_eq!(t.to_string(), "2015-03-22 22:31:12");
        assert_eq!(DpTime::parse("2015-03-22T22:31:12").unwrap(), t);
    }

    #[test]
    fn refusals() {
        for bad in [
            "2015-13-22 22:31:12",
            "2015-03-22 24:00:00",
            "2015-3-22 22:31:12",
            "",
            "+015-03-22 22:31:12",
        ] {
            assert!(DpTime::parse(bad).is_err(), "{bad}");
        }
        assert!(DpTime::from_bytes(&[0x10, 0x00, 0x16, 0x0e, 0x1f, 0x0c]).is_err());
        assert!(DpTime::from_bytes(&[0x64, 0x01, 0x01, 0, 0, 0]).is_err());
    }
}
