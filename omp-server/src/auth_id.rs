//! Auth IDs given by people, in the form a gateway registers with.
//!
//! A WizFi310 registers with its MAC as lower-case hex without separators
//! (`0008dc1e3222`), while the MAC printed on its label or shown by other
//! tools reads `00:08:DC:1E:32:22`. Auth IDs are compared byte for byte at
//! registration, so an approval in the label's form would never match.
//! [`normalise`] rewrites a value that is exactly a MAC — six hex octets
//! separated all by `:`, all by `-`, or not at all, in any case — to the
//! module's form; any other auth ID (a serial, an MSISDN) is kept as given.

use std::borrow::Cow;

/// A MAC address has six octets.
const OCTETS: usize = 6;

/// The auth ID to store or look up for `given`: its module form when
/// `given` is exactly a MAC, else `given` unchanged.
pub fn normalise(given: &str) -> Cow<'_, str> {
    match mac_hex(given) {
        Some(hex) if hex != given => Cow::Owned(hex),
        _ => Cow::Borrowed(given),
    }
}

/// `given` as a MAC in lower-case hex without separators, or `None` when
/// it is not exactly a MAC.
fn mac_hex(given: &str) -> Option<String> {
    let bytes = given.as_bytes();
    let octets: Vec<&[u8]> = match bytes.len() {
        12 => bytes.chunks(2).collect(),
        17 => {
            let separator = bytes[2];
            if separator != b':' && separator != b'-' {
                return None;
            }
            let parts: Vec<&[u8]> = bytes.split(|&b| b == separator).collect();
            if parts.len() != OCTETS || parts.iter().any(|p| p.len() != 2) {
                return None;
            }
            parts
        }
        _ => return None,
    };
    if !octets
        .iter()
        .flat_map(|o| o.iter())
        .all(u8::is_ascii_hexdigit)
    {
        return None;
    }
    Some(
        octets
            .iter()
            .flat_map(|o| o.iter())
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_form_of_a_mac_becomes_the_modules_form() {
        for given in [
            "00:08:DC:1E:32:22",
            "00-08-DC-1E-32-22",
            "0008DC1E3222",
            "00:08:dc:1e:32:22",
            "0008Dc1E3222",
        ] {
            assert_eq!(normalise(given), "0008dc1e3222", "{given}");
            assert!(matches!(normalise(given), Cow::Owned(_)), "{given}");
        }
    }

    #[test]
    fn the_modules_form_and_other_auth_ids_are_kept_as_given() {
        for given in [
            "0008dc1e3222",
            "01012345678",
            "gw-restricted",
            "SERIAL-ABCDEF12",
            // Mixed separators, a short octet or a non-hex digit: not a MAC.
            "00:08-DC:1E:32:22",
            "00:08:DC:1E:32:2",
            "00:08:DC:1E:32:2G",
            "0008DC1E322G",
            "00.08.DC.1E.32.22",
            "",
        ] {
            assert!(
                matches!(normalise(given), Cow::Borrowed(g) if g == given),
                "{given}"
            );
        }
    }

    #[test]
    fn multibyte_input_is_not_a_mac_and_does_not_panic() {
        let given = "00:08:DC:1E:32:ü";
        assert_eq!(normalise(given), given);
        let given = "ü0:08:DC:1E:32:22";
        assert_eq!(normalise(given), given);
    }
}
