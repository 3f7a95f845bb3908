//! Fixed-width string fields.
//!
//! GMMP strings are ASCII, padded with 0x00 to the right, in fields of a
//! fixed width (`domain_code` 10 bytes, `gw_id` 16, `model` 32, …):
//!
//! ```text
//! 54 68 69 6e 67 50 6c 75 67 00     domain_code "ThingPlug" in 10 bytes
//! ```
//!
//! [`FixedStr`] keeps the raw bytes, so a field re-encodes byte-exact and a
//! non-ASCII ID sent by a real device is shown (escaped) and stored rather
//! than rejected. Reading trims the trailing 0x00 bytes; building one from a
//! value that does not fit is an error naming the field, never a silent
//! truncation.

use std::borrow::Cow;
use std::fmt;

use deku::ctx::{Endian, Order};
use deku::no_std_io;
use deku::prelude::*;

use crate::error::CodecError;

/// A string field of exactly `N` bytes on the wire, padded with 0x00.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FixedStr<const N: usize> {
    raw: [u8; N],
}

// Hand-written rather than derived: deku reads a `[u8; N]` field one element
// at a time (16 reader calls for a GW ID), which made up most of the decode
// time of a frame. One `read_bytes_const` of N bytes is a single memcpy.
impl<'a, const N: usize> DekuReader<'a, Endian> for FixedStr<N> {
    fn from_reader_with_ctx<R: no_std_io::Read + no_std_io::Seek>(
        reader: &mut Reader<R>,
        _endian: Endian,
    ) -> Result<Self, DekuError> {
        let mut raw = [0u8; N];
        reader.read_bytes_const(&mut raw, Order::Msb0)?;
        Ok(FixedStr { raw })
    }
}

impl<const N: usize> DekuWriter<Endian> for FixedStr<N> {
    fn to_writer<W: no_std_io::Write + no_std_io::Seek>(
        &self,
        writer: &mut Writer<W>,
        _endian: Endian,
    ) -> Result<(), DekuError> {
        writer.write_bytes(&self.raw)
    }
}

/// Domain code (service name), 10 bytes: `ThingPlug`.
pub type DomainCode = FixedStr<10>;
/// GW ID assigned by the OMP, 16 bytes: `SC10010254`.
pub type GwId = FixedStr<16>;
/// Device ID assigned by the OMP, 16 bytes: `AD10014858`; all zero = the GW itself.
pub type DeviceId = FixedStr<16>;
/// Manufacture ID chosen by the maker, 16 bytes: `WIZnet`.
pub type ManufactureId = FixedStr<16>;
/// Auth ID of a GW (serial, MAC or MSISDN), 16 bytes: `0008dc1e3222`.
pub type AuthId = FixedStr<16>;
/// Auth key assigned by the OMP at registration, 16 bytes: `SP10033827key`.
///
/// The wire field is 16 bytes, but an OMP should issue keys of at most
/// [`MAX_CLIENT_AUTH_KEY_LEN`] characters: SK Telecom's client library (and
/// the WizFi250/WizFi310 firmware built on it) keeps the key in a 16-byte
/// C array, copies it with `strlen` and refuses a key whose `strlen`
/// exceeds 16. A 16-character key leaves no room for the terminating NUL,
/// so `strlen` runs into the next variable and every request after
/// registration fails inside the library without being sent.
pub type AuthKey = FixedStr<16>;

/// The longest auth key the real clients can hold: 15 characters and the
/// NUL in their 16-byte buffer (see [`AuthKey`]).
pub const MAX_CLIENT_AUTH_KEY_LEN: usize = 15;

impl<const N: usize> FixedStr<N> {
    /// The field's width on the wire.
    pub const WIDTH: usize = N;

    /// The all-zero ("absent") value.
    pub const EMPTY: Self = FixedStr { raw: [0; N] };

    /// Builds a field from `value`, padding with 0x00.
    ///
    /// `field` names the field in the error when `value` is longer than
    /// `N` bytes.
    pub fn new(field: &'static str, value: impl AsRef<[u8]>) -> Result<Self, CodecError> {
        let value = value.as_ref();
        if value.len() > N {
            return Err(CodecError::FieldTooLong {
                field,
                len: value.len(),
                limit: N,
            });
        }
        let mut raw = [0; N];
        raw[..value.len()].copy_from_slice(value);
        Ok(FixedStr { raw })
    }

    /// Wraps the exact bytes of a field as received.
    pub const fn from_raw(raw: [u8; N]) -> Self {
        FixedStr { raw }
    }

    /// The field's bytes as they are on the wire, padding included.
    pub const fn raw(&self) -> &[u8; N] {
        &self.raw
    }

    /// The value: the field with its trailing 0x00 bytes removed.
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        &self.raw[..end]
    }

    /// True when the field is all zero (GMMP's "absent").
    pub fn is_empty(&self) -> bool {
        self.raw.iter().all(|&b| b == 0)
    }

    /// The value as text when it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }

    /// The value as text, with any byte that is not printable ASCII shown as
    /// `\xNN` — what logs, traces and the HTTP API show.
    pub fn to_display_string(&self) -> Cow<'_, str> {
        let bytes = self.as_bytes();
        if bytes
            .iter()
            .all(|b| (0x20..0x7f).contains(b) && *b != b'\\')
        {
            // Printable ASCII is valid UTF-8.
            Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default())
        } else {
            let mut s = String::with_capacity(bytes.len() * 2);
            for &b in bytes {
                if (0x20..0x7f).contains(&b) && b != b'\\' {
                    s.push(b as char);
                } else {
                    s.push_str(&format!("\\x{b:02x}"));
                }
            }
            Cow::Owned(s)
        }
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_display_string())
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_display_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_trims() {
        let d = DomainCode::new("domain_code", "ThingPlug").unwrap();
        assert_eq!(d.raw(), b"ThingPlug\0");
        assert_eq!(d.as_bytes(), b"ThingPlug");
        assert_eq!(d.to_string(), "ThingPlug");
    }

    #[test]
    fn too_long_names_the_field_and_limit() {
        let err = DomainCode::new("domain_code", "ThingPlug12").unwrap_err();
        assert_eq!(
            err.to_string(),
            "field domain_code is 11 bytes, longer than its 10-byte width"
        );
    }

    #[test]
    fn exact_width_fits_without_padding() {
        let g = GwId::new("gw_id", "0123456789abcdef").unwrap();
        assert_eq!(g.as_bytes().len(), 16);
    }

    #[test]
    fn non_ascii_is_kept_and_escaped_for_display() {
        let raw = *b"ab\xffc\0\0\0\0\0\0\0\0\0\0\0\0";
        let a = AuthId::from_raw(raw);
        assert_eq!(a.as_bytes(), b"ab\xffc");
        assert_eq!(a.to_string(), "ab\\xffc");
        assert_eq!(a.raw(), &raw);
    }

    #[test]
    fn inner_zero_bytes_survive() {
        let a = AuthId::from_raw(*b"a\0b\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(a.as_bytes(), b"a\0b");
        assert!(!a.is_empty());
        assert!(AuthId::EMPTY.is_empty());
    }
}
