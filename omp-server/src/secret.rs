//! Comparing secrets: every place that checks a presented secret against
//! the expected one (the GMMP auth key, the HTTP API key, a stored MQTT
//! login digest) goes through [`same`], so none of them answers a wrong
//! guess faster the more of its leading bytes are wrong.
//!
//! A plain `==` on byte slices stops at the first differing byte, which
//! lets an attacker who can time refusals recover a key byte by byte.
//! `subtle`'s `ConstantTimeEq` looks at every byte whatever they hold;
//! only the lengths can be learned, which does not help guess random keys.

use subtle::ConstantTimeEq;

/// True when `presented` is exactly `expected`, in time that depends on
/// the lengths only.
pub fn same(expected: &[u8], presented: &[u8]) -> bool {
    expected.ct_eq(presented).into()
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn only_the_whole_secret_is_the_same() {
        assert!(same(b"SPabcdefghijklmn", b"SPabcdefghijklmn"));
        assert!(!same(b"SPabcdefghijklmn", b"SPabcdefghijklmo"));
        assert!(!same(b"SPabcdefghijklmn", b"SPabcdefghijklm"));
        assert!(!same(b"SPabcdefghijklmn", b"SPabcdefghijklmnn"));
        assert!(!same(b"SPabcdefghijklmn", b""));
        assert!(same(b"", b""));
    }
}
