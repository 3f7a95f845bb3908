//! The `X-OMP-Signature` of a webhook POST: `sha256=` and the lowercase
//! hex HMAC-SHA256 of the raw body under the webhook's secret. A receiver
//! recomputes it over the bytes it read and compares in constant time.

use ring::hmac;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-omp-signature";
/// The header carrying the event id.
pub const EVENT_ID_HEADER: &str = "x-omp-event-id";
/// The header carrying the send time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-omp-timestamp";

/// `sha256=<hex>` of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn another_secret_gives_another_signature() {
        assert_ne!(sign(b"a", b"{}"), sign(b"b", b"{}"));
    }
}
