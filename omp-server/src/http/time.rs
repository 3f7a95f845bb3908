//! Timestamps in the API: RFC 3339 UTC out, RFC 3339 with any offset in.
//!
//! The store keeps Unix milliseconds (and Unix seconds for a delivery's
//! `origin_timestamp`). Parsing uses the `time` crate's RFC 3339 parser
//! rather than humantime's `parse_rfc3339_weak` because that one refuses
//! offsets (`+09:00`) and years before 1970, both valid RFC 3339 that a
//! client may send as a `from`/`to` filter.

use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// `2020-04-15T08:00:00.123Z`: always three fraction digits.
const UTC_MILLIS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
/// `2020-04-15T08:00:00Z`.
const UTC_SECONDS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Unix milliseconds as a UTC date-time: negative values, which the store
/// never holds, are the epoch; values past year 9999 its last instant.
fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms.max(0)) * 1_000_000)
        .unwrap_or(PrimitiveDateTime::MAX.assume_utc())
}

/// Formats with a description that holds only UTC date-time components,
/// which every [`OffsetDateTime`] has.
fn format(t: OffsetDateTime, description: &[BorrowedFormatItem<'_>]) -> String {
    t.format(description)
        .unwrap_or_else(|e| unreachable!("a UTC date-time always formats: {e}"))
}

/// Unix milliseconds → `2020-04-15T08:00:00.123Z` (negative values, which
/// the store never holds, print as the epoch).
pub fn format_millis(ms: i64) -> String {
    format(utc(ms), UTC_MILLIS)
}

/// Unix seconds → `2020-04-15T08:00:00Z`.
pub fn format_seconds(s: i64) -> String {
    format(utc(s.saturating_mul(1000)), UTC_SECONDS)
}

/// Unix milliseconds now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Parses an RFC 3339 `date-time` (`2020-04-15T17:00:00+09:00`,
/// `2020-04-15t08:00:00.5z`, `2020-04-15 08:00:00Z`) into Unix
/// milliseconds, fraction digits past the third cut off. A leap second
/// (`:60`) counts as the second before. `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let mut bytes = text.as_bytes().to_vec();
    // The parser takes any byte between date and time; RFC 3339 names
    // only `T` (either case) and, as a readable alternative, a space.
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    // The parser takes `:60` only where a leap second may fall and then
    // makes it the last nanosecond of `:59`; here any `:60` is `:59`.
    if bytes.get(16..19) == Some(b":60") {
        bytes[17] = b'5';
        bytes[18] = b'9';
    }
    let t = OffsetDateTime::parse(std::str::from_utf8(&bytes).ok()?, &Rfc3339).ok()?;
    // Floor division: a fraction always counts forward from its second,
    // also before 1970.
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(format_millis(1_586_937_600_123), "2020-04-15T08:00:00.123Z");
        assert_eq!(format_seconds(1_586_937_600), "2020-04-15T08:00:00Z");
        assert_eq!(format_millis(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
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
        assert_eq!(
            parse_rfc3339("2020-04-15T08:00:60.250+09:00"),
            parse_rfc3339("2020-04-15T08:00:59.250+09:00")
        );
        assert_eq!(
            parse_rfc3339("2020-04-15 08:00:00-00:30"),
            Some(1_586_939_400_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5005Z"), Some(-500));
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
            "2020-04-15X08:00:00Z",
            "2020-04-15T08:00:00+24:00",
            "2020-04-15T08:00:00+09:60",
            "2020-04-15T08:00:00+0900",
            "2020-04-15T08:00:00Z ",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
