//! Login secrets at rest: `sha256$<salt hex>$<digest hex>`, the digest of
//! a random 16-byte salt followed by the secret.
//!
//! Why salted SHA-256 and not a memory-hard hash (argon2): the secrets
//! are machine-made device credentials (OneNET auth info, API keys,
//! generated passwords), and a login is checked on the unauthenticated
//! path, where a reconnect storm of thousands of modules — or an attacker
//! — would otherwise buy milliseconds of CPU and megabytes of memory per
//! CONNECT. The salt keeps equal secrets apart and precomputed tables
//! useless; the comparison runs in constant time ([`crate::secret::same`]).

use sha2::{Digest, Sha256};

const SCHEME: &str = "sha256";
const SALT_LEN: usize = 16;

fn digest(salt: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret);
    h.finalize().into()
}

/// The stored form of `secret`, with a fresh random salt.
pub fn hash(secret: &[u8]) -> Result<String, getrandom::Error> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt)?;
    Ok(format!(
        "{SCHEME}${}${}",
        hex::encode(salt),
        hex::encode(digest(&salt, secret))
    ))
}

/// True when `secret` is the one `stored` was made from; false for a
/// wrong secret and for a stored value of another form.
pub fn verify(stored: &str, secret: &[u8]) -> bool {
    let mut parts = stored.split('$');
    let (Some(SCHEME), Some(salt), Some(want), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(salt), Ok(want)) = (hex::decode(salt), hex::decode(want)) else {
        return false;
    };
    crate::secret::same(&want, &digest(&salt, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_only() {
        let stored = hash(b"APIKEY").unwrap();
        assert!(stored.starts_with("sha256$"));
        assert!(verify(&stored, b"APIKEY"));
        assert!(!verify(&stored, b"APIKEZ"));
        assert!(!verify(&stored, b""));
        // Salted: the same secret hashes differently each time.
        assert_ne!(stored, hash(b"APIKEY").unwrap());
    }

    #[test]
    fn malformed_stored_values_verify_nothing() {
        for stored in [
            "",
            "sha256$zz$00",
            "md5$00$00",
            "sha256$00",
            "sha256$00$00$00",
        ] {
            assert!(!verify(stored, b""), "{stored}");
        }
    }
}
