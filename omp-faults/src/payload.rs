//! Self-describing delivery payloads.
//!
//! Each payload names its sender and sequence number in an ASCII prefix,
//! `omp-faults g=00007 s=000000123;`, followed by 8‥=600 bytes derived from
//! that pair alone (SplitMix64 seeded with it, so every byte value occurs,
//! NUL included). The checker can therefore recompute the exact bytes of
//! any row it finds and tell a stored delivery from a corrupted, truncated
//! or foreign one without keeping copies of what was sent.

use bytes::Bytes;

use crate::rng::Rng;

const MAGIC: &[u8] = b"omp-faults g=";
const SEQ_TAG: &[u8] = b" s=";
const GATEWAY_DIGITS: usize = 5;
const SEQ_DIGITS: usize = 9;
/// Length of the ASCII prefix.
pub const PREFIX_LEN: usize = MAGIC.len() + GATEWAY_DIGITS + SEQ_TAG.len() + SEQ_DIGITS + 1;
/// Highest gateway index a payload can name.
pub const MAX_GATEWAY: u32 = 99_999;
/// Highest sequence number a payload can name.
pub const MAX_SEQ: u64 = 999_999_999;
const MIN_BODY: u64 = 8;
const MAX_BODY: u64 = 600;

/// Which delivery a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadId {
    /// Index of the sending gateway.
    pub gateway: u32,
    /// The gateway's sequence number of the delivery.
    pub seq: u64,
}

/// The payload of delivery `id` (both parts at most [`MAX_GATEWAY`] /
/// [`MAX_SEQ`]; larger values are reduced modulo 10^digits).
pub fn build(id: PayloadId) -> Bytes {
    let mut rng = Rng::new((u64::from(id.gateway) << 40) ^ id.seq ^ 0x6f6d_702d_6661_756c);
    let body_len = rng.range(MIN_BODY, MAX_BODY) as usize;
    let mut out = Vec::with_capacity(PREFIX_LEN + body_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(format!("{:05}", id.gateway % (MAX_GATEWAY + 1)).as_bytes());
    out.extend_from_slice(SEQ_TAG);
    out.extend_from_slice(format!("{:09}", id.seq % (MAX_SEQ + 1)).as_bytes());
    out.push(b';');
    let mut body = vec![0u8; body_len];
    rng.fill(&mut body);
    out.extend_from_slice(&body);
    Bytes::from(out)
}

/// The delivery a payload claims to be, read from its prefix only (the
/// caller compares the whole payload with [`build`]).
pub fn parse(payload: &[u8]) -> Option<PayloadId> {
    let rest = payload.strip_prefix(MAGIC)?;
    let (gateway, rest) = rest.split_at_checked(GATEWAY_DIGITS)?;
    let rest = rest.strip_prefix(SEQ_TAG)?;
    let (seq, rest) = rest.split_at_checked(SEQ_DIGITS)?;
    rest.strip_prefix(b";")?;
    Some(PayloadId {
        gateway: digits(gateway)? as u32,
        seq: digits(seq)?,
    })
}

fn digits(text: &[u8]) -> Option<u64> {
    text.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_parse_names_the_delivery() {
        for (gateway, seq) in [(0, 0), (7, 123), (MAX_GATEWAY, MAX_SEQ)] {
            let id = PayloadId { gateway, seq };
            let p = build(id);
            assert_eq!(parse(&p), Some(id));
            assert!(p.len() >= PREFIX_LEN + MIN_BODY as usize);
            assert!(p.len() <= PREFIX_LEN + MAX_BODY as usize);
        }
    }

    #[test]
    fn payloads_differ_and_are_reproducible() {
        let a = build(PayloadId { gateway: 1, seq: 2 });
        let b = build(PayloadId { gateway: 2, seq: 1 });
        assert_ne!(a, b);
        assert_eq!(a, build(PayloadId { gateway: 1, seq: 2 }));
    }

    #[test]
    fn foreign_or_truncated_payloads_are_not_parsed() {
        assert_eq!(parse(b"WizFi310 test data"), None);
        let p = build(PayloadId { gateway: 3, seq: 4 });
        assert_eq!(parse(&p[..PREFIX_LEN - 1]), None);
        let mut bad = p.to_vec();
        bad[MAGIC.len()] = b'x';
        assert_eq!(parse(&bad), None);
    }
}
