//! Timestamps in the API: RFC 3339 UTC out, RFC 3339 with any offset in.
//!
//! The store keeps Unix milliseconds (and Unix seconds for a delivery's
//! `origin_timestamp`). Parsing is done here rather than with humantime's
//! `parse_rfc3339_weak` because that one refuses offsets (`+09:00`) and
//! years before 1970, both valid RFC 3339 that a client may send as a
//! `from`/`to` filter.

use std::time::{Duration, UNIX_EPOCH};

/// Unix milliseconds → `2020-04-15T08:00:00.123Z` (negative values, which
/// the store never holds, print as the epoch).
pub fn format_millis(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// Unix seconds → `2020-04-15T08:00:00Z`.
pub fn format_seconds(s: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(s).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Unix milliseconds now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parses an RFC 3339 `date-time` (`2020-04-15T17:00:00+09:00`,
/// `2020-04-15t08:00:00.5z`) into Unix milliseconds. A leap second (`:60`)
/// counts as the second before. `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut ms = frac[..n.min(3)].to_vec();
        ms.resize(3, b'0');
        millis = digits(&ms)?;
        rest = &frac[n..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let v = h * 60 + m;
            if *sign == b'-' { -v } else { v }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(format_millis(1_586_937_600_123), "2020-04-15T08:00:00.123Z");
        assert_eq!(format_seconds(1_586_937_600), "2020-04-15T08:00:00Z");
        assert_eq!(format_millis(-5), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_offsets_fractions_and_old_years() {
        assert_eq!(
            parse_rfc3339("2020-04-15T08:00:00Z"),
            Some(1_586_937_600_000)
        );
        assert_eq!(
            parse_rfc3339("2020-04-15T17:00:00+09:00"),
            Some(1_586_937_600_000)
        );
        assert_eq!(
            parse_rfc3339("2020-04-15t08:00:00.12345z"),
            Some(1_586_937_600_123)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(
            parse_rfc3339("0000-01-01T00:00:00Z"),
            Some(-62_167_219_200_000)
        );
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2016-12-31T23:59:59Z")
        );
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for bad in [
            "",
            "yesterday",
            "2020-04-15",
            "2020-02-30T00:00:00Z",
            "2020-04-15T08:00:00",
            "2020-04-15T24:00:00Z",
            "2020-04-15T08:00:00.Z",
            "2020-04-15T08:00:00+9:00",
            "２020-04-15T08:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
