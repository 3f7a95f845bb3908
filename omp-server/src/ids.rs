//! New auth keys.
//!
//! ThingPlug's observed key `SP10033827key` is derived from a counter and
//! so guessable; ours is `SP` + 13 random base62 characters from the OS
//! RNG (about 77 bits). The wire field holds 16 bytes, but SK Telecom's
//! client library keeps the key in a 16-byte C buffer and measures it with
//! `strlen`: a key must leave room for the terminating NUL, so at most
//! [`MAX_AUTH_KEY_LEN`] characters (see `gmmp_codec::AuthKey`).

use getrandom::Error;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_CHARS: usize = 13;

/// The longest key real clients can hold (15 characters and a NUL in 16
/// bytes). A stored key longer than this is replaced at the gateway's next
/// registration.
pub const MAX_AUTH_KEY_LEN: usize = 2 + RANDOM_CHARS;
const _: () = assert!(MAX_AUTH_KEY_LEN <= gmmp_codec::MAX_CLIENT_AUTH_KEY_LEN);

/// A fresh auth key, `SP` + 13 base62 characters.
pub fn new_auth_key() -> Result<String, Error> {
    let mut key = String::with_capacity(2 + RANDOM_CHARS);
    key.push_str("SP");
    let mut buf = [0u8; 32];
    while key.len() < 2 + RANDOM_CHARS {
        getrandom::fill(&mut buf)?;
        // Rejection sampling: 248 = 4 × 62, so bytes below it map evenly.
        for b in buf.iter().filter(|&&b| b < 248) {
            if key.len() == 2 + RANDOM_CHARS {
                break;
            }
            key.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_the_field_and_differ() {
        let a = new_auth_key().unwrap();
        let b = new_auth_key().unwrap();
        assert_eq!(a.len(), 15);
        assert_eq!(a.len(), MAX_AUTH_KEY_LEN);
        assert!(a.starts_with("SP"));
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
