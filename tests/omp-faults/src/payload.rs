//! Self-describing delivery payloads.
//!
//! Each payload names its sender and sequence number in an ASCII prefix,
//! `omp-faults g=00007 s=000000123;`, followed by 8‥=600 bytes derived from
//! that pair alone (SplitMix64 seeded with it, so every byte value occurs,
//! NUL included). The checker can therefore recompute the exact bytes of
//! any row it finds and tell a stored delivery from a corrupted, truncated
//! or foreign one without keeping copies of what was sent.
//!
//! A [`Size::Split`] payload says so with `p=` in place of `s=` and has
//! 2100‥=6000 bytes after the prefix: a delivery of 2 or 3 parts of 2048
//! bytes, so a row holding only some of its parts is caught as corrupt.

use bytes::Bytes;

use fastrand::Rng;

const MAGIC: &[u8] = b"omp-faults g=";
const SEQ_TAG: &[u8] = b" s=";
const SPLIT_SEQ_TAG: &[u8] = b" p=";
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
const MIN_SPLIT_BODY: u64 = 2100;
const MAX_SPLIT_BODY: u64 = 6000;

/// How big a delivery's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Size {
    /// One frame (8‥=600 bytes after the prefix).
    #[default]
    Single,
    /// A split delivery of 2 or 3 parts (2100‥=6000 bytes after the prefix).
    Split,
}

impl Size {
    fn tag(self) -> &'static [u8] {
        match self {
            Size::Single => SEQ_TAG,
            Size::Split => SPLIT_SEQ_TAG,
        }
    }

    fn body_range(self) -> (u64, u64) {
        match self {
            Size::Single => (MIN_BODY, MAX_BODY),
            Size::Split => (MIN_SPLIT_BODY, MAX_SPLIT_BODY),
        }
    }
}

/// Which delivery a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadId {
    /// Index of the sending gateway.
    pub gateway: u32,
    /// The gateway's sequence number of the delivery.
    pub seq: u64,
}

/// The payload of delivery `id` in `size` (both parts of `id` at most
/// [`MAX_GATEWAY`] / [`MAX_SEQ`]; larger values are reduced modulo
/// 10^digits).
pub fn build(id: PayloadId, size: Size) -> Bytes {
    let mut rng = Rng::with_seed((u64::from(id.gateway) << 40) ^ id.seq ^ 0x6f6d_702d_6661_756c);
    let (min, max) = size.body_range();
    let body_len = rng.u64(min..=max.max(min)) as usize;
    let mut out = Vec::with_capacity(PREFIX_LEN + body_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(format!("{:05}", id.gateway % (MAX_GATEWAY + 1)).as_bytes());
    out.extend_from_slice(size.tag());
    out.extend_from_slice(format!("{:09}", id.seq % (MAX_SEQ + 1)).as_bytes());
    out.push(b';');
    let mut body = vec![0u8; body_len];
    rng.fill(&mut body);
    out.extend_from_slice(&body);
    Bytes::from(out)
}

/// The delivery a payload claims to be and its size, read from its prefix
/// only (the caller compares the whole payload with [`build`]).
pub fn parse(payload: &[u8]) -> Option<(PayloadId, Size)> {
    let rest = payload.strip_prefix(MAGIC)?;
    let (gateway, rest) = rest.split_at_checked(GATEWAY_DIGITS)?;
    let (size, rest) = [Size::Single, Size::Split]
        .into_iter()
        .find_map(|size| Some((size, rest.strip_prefix(size.tag())?)))?;
    let (seq, rest) = rest.split_at_checked(SEQ_DIGITS)?;
    rest.strip_prefix(b";")?;
    let id = PayloadId {
        gateway: digits(gateway)? as u32,
        seq: digits(seq)?,
    };
    Some((id, size))
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
    fn build_then_parse_names_the_delivery_and_its_size() {
        for (gateway, seq) in [(0, 0), (7, 123), (MAX_GATEWAY, MAX_SEQ)] {
            let id = PayloadId { gateway, seq };
            let p = build(id, Size::Single);
            assert_eq!(parse(&p), Some((id, Size::Single)));
            assert!(p.len() >= PREFIX_LEN + MIN_BODY as usize);
            assert!(p.len() <= PREFIX_LEN + MAX_BODY as usize);
            let p = build(id, Size::Split);
            assert_eq!(parse(&p), Some((id, Size::Split)));
            let parts = p.len().div_ceil(gmmp_codec::MAX_PAYLOAD_LEN);
            assert!((2..=3).contains(&parts), "{} bytes", p.len());
        }
    }

    #[test]
    fn payloads_differ_and_are_reproducible() {
        let a = build(PayloadId { gateway: 1, seq: 2 }, Size::Single);
        let b = build(PayloadId { gateway: 2, seq: 1 }, Size::Single);
        assert_ne!(a, b);
        assert_eq!(a, build(PayloadId { gateway: 1, seq: 2 }, Size::Single));
    }

    #[test]
    fn foreign_or_truncated_payloads_are_not_parsed() {
        assert_eq!(parse(b"WizFi310 test data"), None);
        let p = build(PayloadId { gateway: 3, seq: 4 }, Size::Single);
        assert_eq!(parse(&p[..PREFIX_LEN - 1]), None);
        let mut bad = p.to_vec();
        bad[MAGIC.len()] = b'x';
        assert_eq!(parse(&bad), None);
    }
}
