//! New auth keys.
//!
//! ThingPlug's observed key `SP10033827key` is derived from a counter and
//! so guessable; ours is `SP` + 14 random base62 characters from the OS
//! RNG (about 83 bits), which fits the 16-byte field.

use getrandom::Error;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_CHARS: usize = 14;

/// A fresh auth key, `SP` + 14 base62 characters.
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
        assert_eq!(a.len(), 16);
        assert!(a.starts_with("SP"));
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
